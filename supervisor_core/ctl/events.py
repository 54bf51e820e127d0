"""``superctl events [--since N] [--follow] [--json] [--types T,...] [--cause C,...] [NAME...]``.

Reads the daemon's ``/events`` endpoint over the transport superctl already uses
(``unix://`` socket or ``http://`` with basic auth). Without ``--follow`` it prints
the journaled history and exits; with it, it follows the Server-Sent Events stream
and, when the server ends the stream (a too-slow reader is cut off), reconnects with
``Last-Event-ID`` so no event is shown twice or skipped.

Rules of this file:
- Formatting is pure (``format_event``): one event (the JSON object ``/events``
  sends) in, one line out; columns are aligned, colour only when asked for.
- I/O is injected (``connect``), so tests can run it against any server.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import shlex
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from supervisor_core.ctl.transport import basic_auth_header, open_connection
from supervisor_core.lifecycle import Cause
from supervisor_core.names import make_namespec

USAGE = "events [--since N] [--follow] [--json] [--types TYPE,...] [--cause CAUSE,...] [NAME...]"
HELP = f"""{USAGE}
    Show the daemon's events, oldest first (from its journal).
    --since N      start at serial N (default: the oldest kept)
    --follow, -f   keep printing new events as they happen (Ctrl-C to stop)
    --json         print each event as one JSON object per line
    --types T,...  only these event types or families (e.g. PROCESS_STATE)
    --cause C,...  only state changes with these causes; the restarts are
                   --cause autorestart,damped,retry
    NAME           only these processes (name, group:name or group:*)"""

_RESET = "\x1b[0m"
_COLOURS = {
    "RUNNING": "\x1b[32m",
    "STARTING": "\x1b[36m",
    "STOPPING": "\x1b[33m",
    "STOPPED": "\x1b[33m",
    "EXITED": "\x1b[31m",
    "BACKOFF": "\x1b[31m",
    "FATAL": "\x1b[1;31m",
    "UNKNOWN": "\x1b[35m",
}
_STAMP_KEYS = frozenset({"serial", "type", "wall_time", "monotonic_time"})


class EventsUsageError(ValueError):
    """Bad ``events`` arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise EventsUsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="events", add_help=False)
    parser.add_argument("--since", type=int, default=None)
    parser.add_argument("--follow", "-f", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--types", default=None)
    parser.add_argument("--cause", default=None)
    parser.add_argument("names", nargs="*")
    return parser


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsArgs:
    """Parsed ``events`` arguments."""

    since: int | None = None
    follow: bool = False
    json: bool = False
    types: str | None = None
    cause: str | None = None
    names: tuple[str, ...] = ()


def parse_args(arg: str) -> EventsArgs:
    """Parse the argument string of ``events``; raises ``EventsUsageError``."""
    try:
        words = shlex.split(arg)
    except ValueError as error:
        raise EventsUsageError(str(error)) from None
    namespace = _parser().parse_args(words)
    if namespace.since is not None and namespace.since < 0:
        raise EventsUsageError("--since must be >= 0")
    known = {cause.value for cause in Cause}
    for cause in (namespace.cause or "").split(","):
        if cause and cause not in known:
            raise EventsUsageError(
                f"--cause: unknown cause {cause!r} (known: {', '.join(c.value for c in Cause)})"
            )
    return EventsArgs(
        since=namespace.since,
        follow=namespace.follow,
        json=namespace.json,
        types=namespace.types,
        cause=namespace.cause,
        names=tuple(namespace.names),
    )


def request_path(args: EventsArgs, *, since: int | None = None) -> str:
    """The ``/events`` URL path and query for ``args`` (``since`` overrides)."""
    params: list[tuple[str, str]] = []
    start = since if since is not None else args.since
    if start is not None:
        params.append(("since", str(start)))
    if args.types:
        params.append(("types", args.types))
    if args.cause:
        params.append(("cause", args.cause))
    params.extend(("process", name) for name in args.names)
    return "/events" + (f"?{urllib.parse.urlencode(params)}" if params else "")


# --------------------------------------------------------------------------- formatting


def _local_time(wall: object) -> str:
    if not isinstance(wall, int | float):
        return "-"
    moment = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _details(event: Mapping[str, object]) -> str:
    if "to_state" in event:
        parts = [f"{event.get('from_state')} -> {event.get('to_state')}"]
        if event.get("cause"):
            parts[0] += f" ({event['cause']})"
        if event.get("pid"):
            parts.append(f"pid {event['pid']}")
        if event.get("signal_name"):
            parts.append(f"killed by {event['signal_name']}")
        elif event.get("returncode") is not None:
            parts.append(f"exit {event['returncode']}")
        if event.get("expected") is not None:
            parts.append("expected" if event["expected"] else "unexpected")
        duration = event.get("run_duration")
        if isinstance(duration, int | float):
            parts.append(f"ran {duration:.3f}s")
        if event.get("spawnerr"):
            parts.append(f"spawnerr: {event['spawnerr']}")
        if event.get("origin"):
            parts.append(f"by {event['origin']}")
        return ", ".join(parts)
    skip = _STAMP_KEYS | {"groupname", "processname"}
    return " ".join(
        f"{key}={value}" for key, value in event.items() if key not in skip and value is not None
    )


def _name(event: Mapping[str, object]) -> str:
    group, process = event.get("groupname"), event.get("processname")
    if process is None:
        return str(group) if group is not None else "-"
    return str(process) if group is None else make_namespec(str(group), str(process))


def format_event(event: Mapping[str, object], *, colour: bool = False) -> list[str]:
    """One event as aligned columns for people (plus its stderr tail, indented).

    Columns: serial, local time, type, process, details (``RUNNING -> EXITED
    (exit), pid 42, exit 1, unexpected, ran 0.512s``; a requested change ends with
    ``by <origin>``).
    """
    type_name = str(event.get("type", "?"))
    type_column = f"{type_name:<32}"
    if colour:
        state = event.get("to_state")
        code = _COLOURS.get(str(state)) if state is not None else "\x1b[2m"
        if code is not None:
            type_column = f"{code}{type_column}{_RESET}"
    line = (
        f"{event.get('serial', '?')!s:>8}  {_local_time(event.get('wall_time'))}  "
        f"{type_column}  {_name(event):<24}  {_details(event)}"
    ).rstrip()
    lines = [line]
    tail = event.get("stderr_tail")
    if isinstance(tail, list):
        lines.extend(f"{'':>10}| {text}" for text in tail)
    return lines


# --------------------------------------------------------------------------- streaming


class EventsHttpError(Exception):
    """The server refused or could not be reached; the message says which."""


Connect = Callable[[str], http.client.HTTPConnection]


def _open(
    serverurl: str,
    path: str,
    *,
    username: str | None,
    password: str | None,
    sse: bool,
    last_event_id: int | None,
    connect: Connect,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    headers = {"Accept": "text/event-stream" if sse else "application/x-ndjson"}
    if password:
        headers["Authorization"] = basic_auth_header(username, password)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    connection = connect(serverurl)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        raise EventsHttpError(f"{serverurl}: cannot connect: {error}") from error
    if response.status != 200:
        body = response.read().decode("utf-8", errors="replace").strip()
        connection.close()
        if response.status == 404:
            body = "this server has no /events (an older superd, or not superd)"
        raise EventsHttpError(f"{serverurl}{path}: {response.status} {body}")
    return connection, response


def _json_lines(response: http.client.HTTPResponse) -> Iterator[dict[str, object]]:
    for raw in response:
        if raw.strip():
            yield json.loads(raw)


def _sse(response: http.client.HTTPResponse) -> Iterator[dict[str, object]]:
    data: list[str] = []
    for raw in response:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []


@dataclass(slots=True)
class EventsCommand:
    """One run of ``superctl events``; ``run()`` returns the exit status."""

    serverurl: str
    username: str | None
    password: str | None
    stdout: TextIO
    connect: Connect = open_connection

    def run(self, args: EventsArgs) -> int:
        """Print the events ``args`` ask for; 0 on success, 1 when the server failed."""
        colour = not args.json and bool(getattr(self.stdout, "isatty", lambda: False)())
        last_serial: int | None = None
        try:
            if not args.follow:
                self._print_all(self._fetch(args, None, sse=False), args, colour)
                return 0
            while True:
                printed = 0
                for event in self._fetch(args, last_serial, sse=True):
                    self._print(event, args, colour)
                    serial = event.get("serial")
                    if isinstance(serial, int):
                        last_serial = serial
                    printed += 1
                # The server ended the stream: a restart or a too-slow reader. Resume
                # once more after the last event; a stream that ends empty is final.
                if printed == 0:
                    self.stdout.write("events: the server ended the stream\n")
                    return 0
        except EventsHttpError as error:
            self.stdout.write(f"error: {error}\n")
            return 1

    def _fetch(
        self, args: EventsArgs, last_serial: int | None, *, sse: bool
    ) -> Iterator[dict[str, object]]:
        connection, response = _open(
            self.serverurl,
            request_path(args),
            username=self.username,
            password=self.password,
            sse=sse,
            last_event_id=last_serial,
            connect=self.connect,
        )
        try:
            yield from (_sse(response) if sse else _json_lines(response))
        except (OSError, http.client.HTTPException) as error:
            raise EventsHttpError(f"{self.serverurl}: connection lost: {error}") from error
        finally:
            connection.close()

    def _print_all(
        self, events: Iterator[dict[str, object]], args: EventsArgs, colour: bool
    ) -> None:
        for event in events:
            self._print(event, args, colour)

    def _print(self, event: Mapping[str, object], args: EventsArgs, colour: bool) -> None:
        if args.json:
            self.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        else:
            self.stdout.write("\n".join(format_event(event, colour=colour)) + "\n")
        self.stdout.flush()


def run_events(
    arg: str,
    *,
    serverurl: str,
    username: str | None,
    password: str | None,
    stdout: TextIO,
    connect: Connect = open_connection,
) -> int:
    """``superctl events ARG``: the exit status (2 for usage errors, printed with help)."""
    try:
        args = parse_args(arg)
    except EventsUsageError as error:
        stdout.write(f"Error: {error}\n{HELP}\n")
        return 2
    command = EventsCommand(
        serverurl=serverurl, username=username, password=password, stdout=stdout, connect=connect
    )
    return command.run(args)


__all__ = [
    "HELP",
    "EventsArgs",
    "EventsCommand",
    "EventsUsageError",
    "format_event",
    "parse_args",
    "request_path",
    "run_events",
]
