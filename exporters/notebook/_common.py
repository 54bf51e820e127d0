"""Small helpers the post-mortem modules share: times, names, rows, clock text."""

from __future__ import annotations

from typing import Any

import pandas as pd

from exporters.journal import JournalRecord


def _time(wall: float) -> pd.Timestamp:
    return pd.Timestamp(wall, unit="s", tz="UTC")


def _process(record: JournalRecord) -> str:
    return f"{record.groupname}:{record.processname}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (pandas' row tuples are untyped)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _clock(value: object) -> str:
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "(still going)"
