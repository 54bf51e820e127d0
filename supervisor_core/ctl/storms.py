"""``superctl storms [--since WHEN] [--json] [NAME...]``: past and current restart storms.

Reads the storm extension's ``/storms`` endpoint over superctl's transport. The
daemon remembers the storms since it started (``[exporter:storms] history``); older
ones are in the journal (``superctl events --types STORM``, or a notebook).

Rules of this file:
- Formatting is pure (``format_storms``): the JSON objects ``/storms`` returns in,
  aligned lines out. I/O is injected (``connect``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from supervisor_core.ctl.transport import basic_auth_header, open_connection
from supervisor_core.ctl.when import WhenError, human_duration, local_time, parse_when
from supervisor_core.names import make_namespec, split_namespec

USAGE = "storms [--since WHEN] [--json] [NAME...]"
HELP = f"""{USAGE}
    Show restart storms under way and those that ended (since superd started).
    --since WHEN   only storms that ended at or after WHEN: a duration ago
                   (30s, 15m, 2h, 7d), a local time (2026-12-03T08:00) or a
                   unix time (1700000000)
    --json         print the daemon's JSON answer as it is
    NAME           only these processes (name, group:name or group:*)"""

Connect = Callable[[str], http.client.HTTPConnection]


class StormsUsageError(ValueError):
    """Bad ``storms`` arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise StormsUsageError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class StormsArgs:
    """Parsed ``storms`` arguments (``since`` already as a unix time)."""

    since: float | None = None
    json: bool = False
    names: tuple[str, ...] = ()


def parse_since(text: str, now: float) -> float:
    """``2h`` -> ``now - 7200``; ``2026-12-03T08:00`` (local); ``1700000000`` -> itself.

    Raises:
        StormsUsageError: naming the accepted forms.
    """
    try:
        return parse_when(text, now)
    except WhenError as error:
        raise StormsUsageError(f"--since: {error}") from None


def parse_args(arg: str, *, now: float | None = None) -> StormsArgs:
    """Parse the argument string of ``storms``; raises ``StormsUsageError``."""
    try:
        words = shlex.split(arg)
    except ValueError as error:
        raise StormsUsageError(str(error)) from None
    parser = _Parser(prog="storms", add_help=False)
    parser.add_argument("--since", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("names", nargs="*")
    namespace = parser.parse_args(words)
    since = None
    if namespace.since is not None:
        since = parse_since(namespace.since, time.time() if now is None else now)
    return StormsArgs(since=since, json=namespace.json, names=tuple(namespace.names))


def _matches(storm: Mapping[str, object], names: Sequence[str]) -> bool:
    if not names:
        return True
    group, name = str(storm.get("group", "")), str(storm.get("name", ""))
    for spec in names:
        if ":" not in spec:
            # A bare name picks that process in any group, or the group-wide storm of a group.
            if name == spec or (not name and group == spec):
                return True
            continue
        wanted_group, wanted_name = split_namespec(spec)
        if group == wanted_group and wanted_name in (None, name):
            return True
    return False


def _time(value: object) -> str:
    return local_time(value)


def _who(storm: Mapping[str, object]) -> str:
    scope = storm.get("scope")
    if scope == "host":
        return "(host)"
    if scope == "group":
        return f"{storm.get('group')}:*"
    return make_namespec(str(storm.get("group")), str(storm.get("name")))


def _exits(storm: Mapping[str, object]) -> str:
    codes = storm.get("exit_codes")
    signals = storm.get("signals")
    parts = [f"exit {code}" for code in codes] if isinstance(codes, list) else []
    if isinstance(signals, list):
        parts.extend(str(sig) for sig in signals)
    return ",".join(parts) or "-"


def format_storms(answer: Mapping[str, object], names: Sequence[str] = ()) -> list[str]:
    """The ``/storms`` answer as aligned lines, current storms first."""
    rows: list[tuple[str, ...]] = []
    for key, state in (("current", "under way"), ("ended", None)):
        storms = answer.get(key)
        if not isinstance(storms, list):
            continue
        for storm in storms:
            if not isinstance(storm, dict) or not _matches(storm, names):
                continue
            duration = storm.get("duration")
            median = storm.get("median_run_duration")
            rows.append(
                (
                    str(storm.get("scope", "?")),
                    _who(storm),
                    _time(storm.get("start")),
                    state or _time(storm.get("end")),
                    human_duration(duration),
                    str(storm.get("restarts", "?")),
                    _exits(storm),
                    human_duration(median),
                    str(storm.get("reason") or "-"),
                )
            )
    if not rows:
        return ["No restart storms."]
    header = ("SCOPE", "NAME", "START", "END", "LASTED", "RESTARTS", "EXITS", "MEDIAN RUN", "WHY")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


class StormsHttpError(Exception):
    """The server refused or could not be reached; the message says which."""


def fetch_storms(
    serverurl: str,
    since: float | None,
    *,
    username: str | None,
    password: str | None,
    connect: Connect = open_connection,
) -> dict[str, object]:
    """GET ``/storms`` and decode it; raises ``StormsHttpError``."""
    path = "/storms" if since is None else f"/storms?since={since!r}"
    headers = {"Accept": "application/json"}
    if password:
        headers["Authorization"] = basic_auth_header(username, password)
    connection = connect(serverurl)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise StormsHttpError(f"{serverurl}: cannot connect: {error}") from error
    finally:
        connection.close()
    if response.status == 404:
        raise StormsHttpError(
            f"{serverurl}: no /storms here (storm detection is off: [exporter:storms] "
            "enabled=false, or not superd)"
        )
    if response.status != 200:
        text = body.decode("utf-8", errors="replace").strip()
        raise StormsHttpError(f"{serverurl}{path}: {response.status} {text}")
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise StormsHttpError(f"{serverurl}{path}: not JSON: {error}") from None
    if not isinstance(answer, dict):
        raise StormsHttpError(f"{serverurl}{path}: unexpected answer")
    return answer


def run_storms(
    arg: str,
    *,
    serverurl: str,
    username: str | None,
    password: str | None,
    stdout: TextIO,
    connect: Connect = open_connection,
) -> int:
    """``superctl storms ARG``: 0 on success, 1 when the server failed, 2 for usage."""
    try:
        args = parse_args(arg)
    except StormsUsageError as error:
        stdout.write(f"Error: {error}\n{HELP}\n")
        return 2
    try:
        answer = fetch_storms(
            serverurl, args.since, username=username, password=password, connect=connect
        )
    except StormsHttpError as error:
        stdout.write(f"error: {error}\n")
        return 1
    if args.json:
        stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    else:
        stdout.write("\n".join(format_storms(answer, args.names)) + "\n")
    return 0


__all__ = [
    "HELP",
    "StormsArgs",
    "StormsHttpError",
    "StormsUsageError",
    "fetch_storms",
    "format_storms",
    "parse_args",
    "parse_since",
    "run_storms",
]
