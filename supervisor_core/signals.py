"""Signal names and exit descriptions, spelled one way everywhere.

The one home of these rules: config converters, the RPC interface, log lines, the
journal, OpenTelemetry spans, the storm detector and notebooks import them from here.
A number without a name (a real-time signal such as 40) is ``signal 40``, as
supervisord's ``signame`` spells it.
"""

from __future__ import annotations

import signal

__all__ = ["describe_returncode", "parse_signal", "signal_name"]


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number without a name (supervisord's signame).

    Example::

        >>> signal_name(9), signal_name(99)
        ('SIGKILL', 'signal 99')
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def parse_signal(value: str | int) -> signal.Signals:
    """A signal by name (``TERM``, ``SIGTERM``, ``sigterm``) or by number (``15``, ``"15"``).

    Raises:
        ValueError: ``not a signal name`` or ``not a signal number`` (0 included: it
            sends nothing, so callers that accept it as a probe check it themselves).
    """
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            name = value.strip().upper()
            member = signal.Signals.__members__.get(
                name if name.startswith("SIG") else f"SIG{name}"
            )
            if member is None:
                raise ValueError("not a signal name") from None
            return member
    else:
        number = value
    try:
        return signal.Signals(number)
    except ValueError:
        raise ValueError("not a signal number") from None


def describe_returncode(returncode: int, *, core_dumped: bool = False) -> str:
    """supervisord's wording of a ``Popen`` returncode, for log lines and spawn errors.

    Example::

        >>> describe_returncode(3), describe_returncode(-9)
        ('exit status 3', 'terminated by SIGKILL')
        >>> describe_returncode(-11, core_dumped=True)
        'terminated by SIGSEGV (core dumped)'
    """
    if returncode >= 0:
        return f"exit status {returncode}"
    text = f"terminated by {signal_name(-returncode)}"
    return f"{text} (core dumped)" if core_dumped else text
