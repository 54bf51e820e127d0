"""The namespec rule (``name``, ``group:name``, ``group:*``) that every part imports."""

from __future__ import annotations

import pytest

from supervisor_core.names import make_namespec, split_namespec


@pytest.mark.parametrize(
    ("namespec", "expected"),
    [
        ("web", ("web", "web")),
        ("web:web_01", ("web", "web_01")),
        ("web:*", ("web", None)),
        ("web:", ("web", None)),
        ("g:a:b", ("g", "a:b")),
    ],
)
def test_split_namespec(namespec: str, expected: tuple[str, str | None]) -> None:
    """Namespecs split like supervisord's split_namespec (``name`` means ``name:name``)."""
    assert split_namespec(namespec) == expected


@pytest.mark.parametrize(
    ("group", "process", "expected"),
    [("web", "web", "web"), ("pool", "pool_01", "pool:pool_01")],
)
def test_make_namespec(group: str, process: str, expected: str) -> None:
    """The short form is used when group and process share a name, as supervisorctl prints."""
    assert make_namespec(group, process) == expected


@pytest.mark.parametrize("namespec", ["web", "pool:pool_01"])
def test_split_and_make_round_trip(namespec: str) -> None:
    """Splitting a single-process namespec and joining it again gives the same text."""
    group, process = split_namespec(namespec)
    assert process is not None
    assert make_namespec(group, process) == namespec
