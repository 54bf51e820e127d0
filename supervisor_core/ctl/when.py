"""Times as people type and read them: ``10m`` ago, ``2026-12-03T08:00``, ``3m12s``.

Shared by ``superctl events``, ``storms`` and ``top`` so that every superd command
takes and prints times the same way. Pure functions; ``now`` is passed in.
"""

from __future__ import annotations

import datetime
import re

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)\Z")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

WHEN_HELP = "a duration ago (30s, 15m, 2h, 7d), a local time (2026-12-03T08:00) or a unix time"


class WhenError(ValueError):
    """Text that is neither a duration, a date/time nor a unix time."""


def parse_when(text: str, now: float) -> float:
    """A unix time from ``2h`` (``now - 7200``), an ISO date/time or a unix time.

    ISO times without a zone are local time (what ``date`` prints on this host).

    Raises:
        WhenError: naming the text and the accepted forms.
    """
    text = text.strip()
    match = _DURATION.match(text)
    if match is not None:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value < 0:
            raise WhenError(f"must be >= 0, not {text!r}")
        return value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise WhenError(f"not {WHEN_HELP}: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive means local, as date(1) shows it
    return moment.timestamp()


def local_time(wall: object, *, millis: bool = False) -> str:
    """``2026-12-03 08:00:05`` (local) for a unix time; ``-`` for anything else."""
    if not isinstance(wall, int | float) or isinstance(wall, bool):
        return "-"
    moment = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC).astimezone()
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + f".{moment.microsecond // 1000:03d}" if millis else text


def human_duration(seconds: object) -> str:
    """``0.512s``, ``42.0s``, ``3m12s``, ``5h03m``, ``2d04h``; ``-`` for non-numbers."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


__all__ = ["WHEN_HELP", "WhenError", "human_duration", "local_time", "parse_when"]
