"""``superctl top``: a live terminal view of every process, like ``pm2 monit``.

How it stays current without polling for states:
- one thread reads the ``/events`` Server-Sent Events stream (live only, with
  ``Last-Event-ID`` on reconnect) and queues each event;
- one thread reads ``/metrics`` every ``--interval`` seconds for CPU, memory and
  open files (the daemon's psutil sampler; the restart counter and storm gauge
  come along and re-anchor the event-driven counts);
- the main thread owns the terminal: it reads keys (cbreak mode), applies queued
  facts to :class:`~supervisor_core.ctl.topmodel.TopModel` and redraws with rich's
  ``Live`` display. Start/stop/restart run in a worker thread with their own
  XML-RPC connection, so the view never freezes while a process stops.

``top --once`` prints one frame and exits (for scripts and terminals without keys).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import queue
import select
import shlex
import socket
import sys
import termios
import threading
import time
import tty
import xmlrpc.client
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from supervisor_core import __version__
from supervisor_core.ctl import superd_commands
from supervisor_core.ctl.api import RpcApi
from supervisor_core.ctl.codes import ExitStatus
from supervisor_core.ctl.events import EventsHttpError, EventsQueryError, open_events, read_sse
from supervisor_core.ctl.names import select_processes
from supervisor_core.ctl.top_help import HELP
from supervisor_core.ctl.topmodel import Row, Sample, TopModel, parse_metrics
from supervisor_core.ctl.transport import basic_auth_header, make_server_proxy, open_connection
from supervisor_core.ctl.when import human_duration

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from supervisor_core.ctl.commands import Controller

# Types the view needs; STORM exists only while the storm extension is on.
STREAM_TYPES = ("PROCESS_STATE", "PROCESS_GROUP", "STORM")
_STATE_STYLES = {
    "RUNNING": "green",
    "STARTING": "cyan",
    "STOPPING": "yellow",
    "STOPPED": "yellow",
    "EXITED": "red",
    "BACKOFF": "red",
    "FATAL": "bold red",
    "UNKNOWN": "magenta",
}
KEYS_LINE = "keys: up/down select  s start  x stop  r restart  q quit"


class TopUsageError(ValueError):
    """Bad ``top`` arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise TopUsageError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class TopArgs:
    """Parsed ``top`` arguments."""

    once: bool = False
    interval: float = 2.0
    names: tuple[str, ...] = ()


def parse_args(arg: str) -> TopArgs:
    """Parse the argument string of ``top``; raises ``TopUsageError``."""
    try:
        words = shlex.split(arg)
    except ValueError as error:
        raise TopUsageError(str(error)) from None
    parser = _Parser(prog="top", add_help=False)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("names", nargs="*")
    namespace = parser.parse_args(words)
    if not 0.2 <= namespace.interval <= 3600:
        raise TopUsageError("--interval must be between 0.2 and 3600 seconds")
    return TopArgs(once=namespace.once, interval=namespace.interval, names=tuple(namespace.names))


# ------------------------------------------------------------------------- rendering


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return "-"  # not reached


def render(
    rows: Sequence[Row], *, selected: int, now: float, title: str, message: str
) -> RenderableType:
    """One frame: a header, one table line per process, the keys and the last message."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
    for heading, justify in (
        ("NAME", "left"),
        ("STATE", "left"),
        ("PID", "right"),
        ("UPTIME", "right"),
        ("RESTARTS", "right"),
        ("STORM", "left"),
        ("CPU", "right"),
        ("MEM", "right"),
        ("FDS", "right"),
        ("LAST EXIT", "left"),
    ):
        table.add_column(heading, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for index, row in enumerate(rows):
        uptime = row.uptime(now)
        last_exit = row.last_exit or "-"
        if row.last_exit and row.last_exit_time is not None:
            last_exit += f" ({human_duration(now - row.last_exit_time)} ago)"
        table.add_row(
            row.namespec,
            Text(row.state, style=_STATE_STYLES.get(row.state, "")),
            str(row.pid) if row.pid else "-",
            human_duration(uptime) if uptime is not None else "-",
            str(row.restarts),
            Text("STORM", style="bold red") if row.storm else Text("-"),
            f"{row.cpu_percent:.1f}%" if row.cpu_percent is not None else "-",
            _size(row.rss),
            f"{row.fds:.0f}" if row.fds is not None else "-",
            last_exit,
            style="reverse" if index == selected else None,
        )
    running = sum(1 for row in rows if row.state == "RUNNING")
    storms = sum(1 for row in rows if row.storm)
    header = Text(
        f"{title}  {len(rows)} processes, {running} running, {storms} in a storm",
        style="bold",
    )
    return Group(header, table, Text(KEYS_LINE, style="dim"), Text(message))


# ------------------------------------------------------------------------- I/O


@dataclass(frozen=True, slots=True)
class _Fact:
    """Something a reader thread learned: an event, a /metrics reading or a problem."""

    kind: str  # "event", "sample", "status"
    value: object
    at: float = 0.0


class _Session:
    """The server connection details shared by the reader threads."""

    def __init__(self, serverurl: str, username: str | None, password: str | None) -> None:
        self.serverurl = serverurl
        self.username = username
        self.password = password
        self.stop = threading.Event()
        self._stream: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Stop the readers; unblock the one waiting on the event stream."""
        self.stop.set()
        connection = self._stream
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    def metrics(self) -> str | None:
        """The ``/metrics`` text, or None when this daemon serves none."""
        headers = {"Accept": "text/plain"}
        if self.password:
            headers["Authorization"] = basic_auth_header(self.username, self.password)
        connection = open_connection(self.serverurl)
        try:
            connection.request("GET", "/metrics", headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            return None
        return body.decode("utf-8", errors="replace")

    def stream(self, types: Sequence[str], last_id: int | None) -> Iterator[dict[str, object]]:
        """Live events of ``types`` (after ``last_id`` when resuming)."""
        query = "&".join(f"types={name}" for name in types)
        path = f"/events?{query}" if last_id is not None else f"/events?last=0&{query}"
        connection, response = open_events(
            self.serverurl,
            path,
            username=self.username,
            password=self.password,
            sse=True,
            last_event_id=last_id,
            connect=open_connection,
        )
        self._stream = connection
        try:
            yield from read_sse(response)
        except (OSError, http.client.HTTPException) as error:
            raise EventsHttpError(f"connection lost: {error}") from error
        finally:
            connection.close()


def _follow_events(session: _Session, facts: queue.Queue[_Fact]) -> None:
    """Queue every live event until told to stop, reconnecting where it left off."""
    types: Sequence[str] = STREAM_TYPES
    last_id: int | None = None
    while not session.stop.is_set():
        try:
            facts.put(_Fact("status", "events: live"))
            for event in session.stream(types, last_id):
                serial = event.get("serial")
                if isinstance(serial, int):
                    last_id = serial
                facts.put(_Fact("event", event))
                if session.stop.is_set():
                    return
        except EventsQueryError:
            # No storm extension on this daemon: follow without storm events.
            if "STORM" not in types:
                facts.put(_Fact("status", "events: refused by the daemon"))
                return
            types = tuple(name for name in types if name != "STORM")
            continue
        except (EventsHttpError, OSError) as error:
            facts.put(_Fact("status", f"events: {error}; reconnecting"))
        session.stop.wait(1.0)


def _sample_metrics(session: _Session, facts: queue.Queue[_Fact], interval: float) -> None:
    """Queue a ``/metrics`` reading every ``interval`` seconds until told to stop."""
    while not session.stop.is_set():
        try:
            text = session.metrics()
        except (OSError, http.client.HTTPException):
            text = None
        if text is not None:
            facts.put(_Fact("sample", parse_metrics(text), time.monotonic()))
        session.stop.wait(interval)


class _Actions:
    """Start/stop/restart in a worker thread; the outcome comes back as a status fact."""

    def __init__(self, session: _Session, facts: queue.Queue[_Fact]) -> None:
        self.session = session
        self.facts = facts
        self.busy = threading.Lock()

    def run(self, verb: str, namespec: str) -> None:
        if not self.busy.acquire(blocking=False):
            self.facts.put(_Fact("status", "busy: one action at a time"))
            return
        self.facts.put(_Fact("status", f"{verb} {namespec} ..."))
        threading.Thread(target=self._work, args=(verb, namespec), daemon=True).start()

    def _work(self, verb: str, namespec: str) -> None:
        try:
            api = RpcApi(
                make_server_proxy(
                    self.session.serverurl, self.session.username, self.session.password
                )
            )
            try:
                if verb in ("stop", "restart"):
                    with contextlib.suppress(xmlrpc.client.Fault):
                        api.stopProcess(namespec)
                if verb in ("start", "restart"):
                    api.startProcess(namespec)
                self.facts.put(_Fact("status", f"{namespec}: {verb} done"))
            finally:
                api.close()
        except xmlrpc.client.Fault as error:
            self.facts.put(_Fact("status", f"{namespec}: ERROR ({error.faultString})"))
        except (OSError, xmlrpc.client.Error) as error:
            self.facts.put(_Fact("status", f"{namespec}: {error}"))
        finally:
            self.busy.release()


@contextlib.contextmanager
def _keys(stream: TextIO) -> Iterator[int | None]:
    """The terminal in cbreak mode (keys arrive one by one, no echo) while open."""
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):
        yield None
        return
    tty.setcbreak(fd)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


_ARROWS = {"A": "up", "B": "down"}


def split_keys(data: str) -> list[str]:
    """The keys in one read of the terminal, in order.

    Keys typed (or sent by tmux) quickly arrive in one read, e.g. ``"\x1b[Bx"`` for
    Down then ``x``: each is a key. Arrow keys become ``"up"``/``"down"``; other
    escape sequences (function keys, other arrows) are skipped whole.
    """
    keys: list[str] = []
    index = 0
    while index < len(data):
        if data.startswith("\x1b[", index):
            end = index + 2
            # A CSI sequence ends at its first byte in 0x40-0x7e (the final byte).
            while end < len(data) and not "\x40" <= data[end] <= "\x7e":
                end += 1
            final = data[end] if end < len(data) else ""
            if final in _ARROWS and end == index + 2:
                keys.append(_ARROWS[final])
            index = end + 1
            continue
        keys.append(data[index])
        index += 1
    return keys


def _read_keys(fd: int, timeout: float) -> list[str]:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return []
    return split_keys(os.read(fd, 256).decode("utf-8", errors="replace"))


_VERBS = {"s": "start", "x": "stop", "r": "restart"}


def _visible(model: TopModel, names: Sequence[str]) -> list[Row]:
    rows = model.ordered()
    if not names:
        return rows
    infos = [
        {"group": r.group, "name": r.name, "state": 0, "statename": "", "description": "", "pid": 0}
        for r in rows
    ]
    picked = {
        (info["group"], info["name"])
        for info in select_processes(infos, names).infos  # type: ignore[arg-type]
    }
    return [row for row in rows if (row.group, row.name) in picked]


def _console(stdout: TextIO) -> Console:
    from rich.console import Console

    # rich honours NO_COLOR itself; force_terminal only for real terminals.
    return Console(file=stdout, highlight=False)


def run_top(controller: Controller, arg: str, *, stdin: TextIO | None = None) -> None:
    """``superctl top ARG`` inside a controller session."""
    try:
        args = parse_args(arg)
    except TopUsageError as error:
        controller.output(f"Error: {error}\n{HELP}")
        controller.exitstatus = ExitStatus.INVALID_ARGS
        return
    if not superd_commands.reach(controller):
        return
    infos = controller.get_supervisor().getAllProcessInfo()
    selection = select_processes(infos, args.names)
    if selection.errors:
        for message in selection.errors:
            controller.output(message)
        controller.exitstatus = ExitStatus.GENERIC
        return
    session = _Session(controller.serverurl, controller.username, controller.password)
    model = TopModel()
    model.load_infos(infos)
    title = f"superctl top {__version__}  {controller.serverurl}"
    console = _console(controller.stdout)
    try:
        first = session.metrics()
    except (OSError, http.client.HTTPException):
        first = None
    if first is not None:
        model.apply_sample(parse_metrics(first), time.monotonic())
    if args.once:
        frame = render(
            _visible(model, args.names),
            selected=-1,
            now=time.time(),
            title=title,
            message="" if first is not None else "no /metrics on this daemon: no CPU/memory",
        )
        console.print(frame)
        return
    _live(args, session, model, console=console, title=title, stdin=stdin or sys.stdin)


def _live(
    args: TopArgs,
    session: _Session,
    model: TopModel,
    *,
    console: Console,
    title: str,
    stdin: TextIO,
) -> None:
    from rich.live import Live

    facts: queue.Queue[_Fact] = queue.Queue()
    readers = [
        threading.Thread(target=_follow_events, args=(session, facts), daemon=True),
        threading.Thread(target=_sample_metrics, args=(session, facts, args.interval), daemon=True),
    ]
    for reader in readers:
        reader.start()
    actions = _Actions(session, facts)
    selected = 0
    message = ""
    stream_status = ""

    def frame() -> RenderableType:
        rows = _visible(model, args.names)
        return render(
            rows,
            selected=min(selected, len(rows) - 1),
            now=time.time(),
            title=title,
            message=f"{stream_status}  {message}".strip(),
        )

    try:
        with (
            _keys(stdin) as fd,
            Live(frame(), console=console, screen=True, auto_refresh=False) as live,
        ):
            while True:
                keys = _read_keys(fd, 0.5) if fd is not None else []
                if fd is None:
                    session.stop.wait(0.5)
                rows = _visible(model, args.names)
                quit_asked = False
                for key in keys:
                    if key in ("q", "Q"):
                        quit_asked = True
                        break
                    if key in ("down", "j"):
                        selected = min(selected + 1, max(len(rows) - 1, 0))
                    elif key in ("up", "k"):
                        selected = max(selected - 1, 0)
                    elif key in _VERBS and rows:
                        actions.run(_VERBS[key], rows[min(selected, len(rows) - 1)].namespec)
                if quit_asked:
                    break
                while True:
                    try:
                        fact = facts.get_nowait()
                    except queue.Empty:
                        break
                    if fact.kind == "event" and isinstance(fact.value, dict):
                        model.apply_event(fact.value)
                    elif fact.kind == "sample" and isinstance(fact.value, Sample):
                        model.apply_sample(fact.value, fact.at)
                    elif fact.kind == "status":
                        text = str(fact.value)
                        if text.startswith("events:"):
                            stream_status = text
                        else:
                            message = text
                # The terminal's own size, not $COLUMNS (stale after a resize, or
                # inherited from another terminal): the table follows the window.
                with contextlib.suppress(OSError, ValueError):
                    size = os.get_terminal_size(console.file.fileno())
                    console.size = (size.columns, size.lines)
                # Redrawn every half second anyway: uptimes and "ago" keep moving.
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()


__all__ = ["HELP", "TopArgs", "TopUsageError", "parse_args", "render", "run_top", "split_keys"]
