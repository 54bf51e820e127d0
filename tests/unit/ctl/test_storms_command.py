"""superctl storms: argument parsing, the table it prints, and its errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from supervisor_core.ctl.storms import (
    StormsUsageError,
    format_storms,
    parse_args,
    parse_since,
    run_storms,
)

ANSWER: dict[str, Any] = {
    "now": 1700000100.0,
    "current": [
        {
            "scope": "process",
            "group": "web",
            "name": "web",
            "start": 1700000000.0,
            "end": None,
            "duration": None,
            "restarts": 7,
            "exit_codes": [1],
            "signals": ["SIGKILL"],
            "median_run_duration": 0.21,
            "members": ["web:web"],
            "reason": None,
        }
    ],
    "ended": [
        {
            "scope": "process",
            "group": "api",
            "name": "api_0",
            "start": 1699990000.0,
            "end": 1699990060.0,
            "duration": 60.0,
            "restarts": 5,
            "exit_codes": [],
            "signals": [],
            "median_run_duration": None,
            "members": ["api:api_0"],
            "reason": "recovered",
        },
        {
            "scope": "host",
            "group": "",
            "name": "",
            "start": 1699990000.0,
            "end": 1699990030.0,
            "duration": 30.0,
            "restarts": 12,
            "exit_codes": [2],
            "signals": [],
            "median_run_duration": 1.0,
            "members": ["api:api_0", "web:web"],
            "reason": "subsided",
        },
    ],
}


def test_since_accepts_durations_and_unix_times() -> None:
    """--since 2h is two hours before now; a number is a unix time; junk is a usage error."""
    assert parse_since("2h", 10_000.0) == 2800.0
    assert parse_since("30s", 100.0) == 70.0
    assert parse_since("1700000000", 0.0) == 1700000000.0
    with pytest.raises(StormsUsageError):
        parse_since("yesterday", 0.0)
    assert parse_args("--since 1d --json web", now=100_000.0).since == 13_600.0
    with pytest.raises(StormsUsageError):
        parse_args("--bogus")


def test_table_lists_current_storms_first() -> None:
    """One aligned row per storm: scope, who, start, end (or under way), restarts, exits."""
    lines = format_storms(ANSWER)
    assert lines[0].split() == [
        "SCOPE", "NAME", "START", "END", "LASTED", "RESTARTS", "EXITS", "MEDIAN", "RUN", "WHY",
    ]  # fmt: skip
    assert "under way" in lines[1]
    assert "web" in lines[1]
    assert "exit 1,SIGKILL" in lines[1]
    assert "0.210s" in lines[1]
    assert "api:api_0" in lines[2]
    assert "recovered" in lines[2]
    assert "(host)" in lines[3]
    assert len({line.index("START") if "START" in line else None for line in lines[:1]}) == 1


def test_names_filter_and_empty_answer() -> None:
    """NAME arguments keep matching storms only; nothing left says so."""
    assert len(format_storms(ANSWER, ["api:*"])) == 2
    assert len(format_storms(ANSWER, ["web"])) == 2
    assert format_storms(ANSWER, ["nope"]) == ["No restart storms."]
    assert format_storms({"current": [], "ended": []}) == ["No restart storms."]


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self) -> bytes:
        return self._body


class _Connection:
    def __init__(self, status: int, body: bytes) -> None:
        self.response = _Response(status, body)
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.requests.append((method, path, headers))

    def getresponse(self) -> _Response:
        return self.response

    def close(self) -> None:
        pass


def test_run_prints_the_table_or_json_and_reports_errors() -> None:
    """run_storms GETs /storms (with since and auth) and maps failures to exit status 1."""
    connection = _Connection(200, json.dumps(ANSWER).encode())
    out = io.StringIO()
    status = run_storms(
        "--since 1700000000 --json",
        serverurl="http://127.0.0.1:9001",
        username="u",
        password="p",
        stdout=out,
        connect=lambda url: connection,  # type: ignore[arg-type,return-value]
    )
    assert status == 0
    assert json.loads(out.getvalue()) == ANSWER
    method, path, headers = connection.requests[0]
    assert (method, path) == ("GET", "/storms?since=1700000000.0")
    assert headers["Authorization"].startswith("Basic ")
    missing = io.StringIO()
    assert (
        run_storms(
            "",
            serverurl="http://x",
            username=None,
            password=None,
            stdout=missing,
            connect=lambda url: _Connection(404, b"nope"),  # type: ignore[arg-type,return-value]
        )
        == 1
    )
    assert "no /storms here" in missing.getvalue()
    usage = io.StringIO()
    assert (
        run_storms("--since never", serverurl="x", username=None, password=None, stdout=usage) == 2
    )
    assert "storms [--since WHEN]" in usage.getvalue()
