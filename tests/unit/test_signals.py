"""Signal names and exit descriptions, one spelling for logs, RPC, config and exporters."""

from __future__ import annotations

import signal

import pytest

from supervisor_core.signals import describe_returncode, parse_signal, signal_name


@pytest.mark.parametrize(
    ("number", "expected"),
    [(9, "SIGKILL"), (15, "SIGTERM"), (99, "signal 99"), (0, "signal 0")],
)
def test_signal_name(number: int, expected: str) -> None:
    """A signal number prints as its name, or ``signal N`` without one (supervisord's signame)."""
    assert signal_name(number) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TERM", signal.SIGTERM),
        ("SIGTERM", signal.SIGTERM),
        ("sigterm", signal.SIGTERM),
        (" hup ", signal.SIGHUP),
        ("15", signal.SIGTERM),
        (9, signal.SIGKILL),
        ("IOT", signal.SIGABRT),
    ],
)
def test_parse_signal(value: str | int, expected: signal.Signals) -> None:
    """Names in any case, with or without SIG (aliases included), and numbers are accepted."""
    assert parse_signal(value) is expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NOPE", "not a signal name"),
        ("", "not a signal name"),
        ("SIG_DFL", "not a signal name"),
        ("0", "not a signal number"),
        (0, "not a signal number"),
        ("999", "not a signal number"),
        (-1, "not a signal number"),
    ],
)
def test_parse_signal_refuses(value: str | int, reason: str) -> None:
    """Anything that is not a real signal is refused with a reason the caller can show."""
    with pytest.raises(ValueError, match=reason):
        parse_signal(value)


@pytest.mark.parametrize(
    ("returncode", "core_dumped", "expected"),
    [
        (0, False, "exit status 0"),
        (3, False, "exit status 3"),
        (-9, False, "terminated by SIGKILL"),
        (-11, True, "terminated by SIGSEGV (core dumped)"),
        (-99, False, "terminated by signal 99"),
    ],
)
def test_describe_returncode(returncode: int, core_dumped: bool, expected: str) -> None:
    """Exits read as supervisord logs them: ``exit status N`` or ``terminated by SIGX``."""
    assert describe_returncode(returncode, core_dumped=core_dumped) == expected
