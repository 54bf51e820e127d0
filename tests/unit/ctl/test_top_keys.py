"""``superctl top`` key decoding: every key of one terminal read counts."""

from __future__ import annotations

import pytest

from supervisor_core.ctl.top import split_keys


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        ("x", ["x"]),
        ("\x1b[B", ["down"]),
        ("\x1b[A", ["up"]),
        ("\x1b[Bx", ["down", "x"]),
        ("jjx", ["j", "j", "x"]),
        ("\x1b[A\x1b[Bq", ["up", "down", "q"]),
        ("\x1b[C\x1b[15~s", ["s"]),
        ("\x1b[1;5Ar", ["r"]),
        ("", []),
    ],
)
def test_every_key_of_one_read_is_returned_in_order(data: str, keys: list[str]) -> None:
    """Keys arriving together (fast typing, tmux send-keys) are all kept; arrows become
    up/down, other escape sequences are skipped whole instead of leaking ``[`` etc."""
    assert split_keys(data) == keys


def test_a_truncated_escape_sequence_is_dropped_not_misread() -> None:
    """An escape sequence cut by the read's end yields no stray key."""
    assert split_keys("x\x1b[") == ["x"]
