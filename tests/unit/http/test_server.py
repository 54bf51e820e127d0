"""Listener address rules."""

from __future__ import annotations

import pytest

from supervisor_core.http.server import bind_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [("", None), ("*", None), ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost")],
)
def test_bind_host(host: str, expected: str | None) -> None:
    """'*:port' and ':port' bind every interface; a named host binds just that one."""
    assert bind_host(host) == expected
