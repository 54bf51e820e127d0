"""Small helpers the post-mortem modules share: times, names, rows, clock text."""

from __future__ import annotations

from typing import Any

import pandas as pd

from exporters.journal import JournalRecord
from supervisor_core.names import make_namespec


def _time(wall: float) -> pd.Timestamp:
    """A wall time as a tz-aware UTC Timestamp, to the microsecond.

    A float of seconds carries no more than microseconds of truth; converting it
    as it is shows binary noise in the nanoseconds (``...20.123456789+00:00``).
    """
    return pd.Timestamp(round(wall * 1_000_000), unit="us", tz="UTC")


def _process(record: JournalRecord) -> str:
    """The name supervisorctl prints: ``web`` (group and name agree) or ``grp:web``."""
    return make_namespec(record.groupname or "", record.processname or "")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (pandas' row tuples are untyped)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _clock(value: object) -> str:
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "(still going)"


INTEGER_COLUMNS = ("serial", "pid", "exit_status", "signal", "run", "episode")


def typed(frame: pd.DataFrame, *, categories: tuple[str, ...] = ()) -> pd.DataFrame:
    """``frame`` with its integer columns as nullable ``Int64`` (``346``, not ``346.0``,
    and ``<NA>`` where there is none) and ``categories`` as categoricals."""
    for column in INTEGER_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    for column in categories:
        if column in frame.columns:
            frame[column] = frame[column].astype("category")
    return frame
