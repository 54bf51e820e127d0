"""Process sections -> groups: ``[program:x]``, ``[eventlistener:x]``, ``[fcgi-program:x]``
and ``[group:x]``.

Rules of this file:
- Defaults, conversions, expansion scopes and cross-option rules are supervisord
  4.x's (``process_groups_from_parser`` / ``_processes_from_section``); each rule is
  checked for every section and every process, and problems are collected, never
  raised, so one bad program does not hide another.
- Options read once per section see ``here``, ``program_name``, ``group_name``,
  ``host_node_name`` and ``ENV_X``; the per-process ones (``environment``,
  ``directory``, log files, ``command``, ``process_name``) also see ``process_num``,
  ``numprocs`` and, as ``ENV_X``, the program's own environment (which, as in
  supervisord, carries over from one process of the section to the next).
- Groups come out sorted by (priority, name), processes inside a group too.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from supervisor_core.config import converters
from supervisor_core.config.errors import Problem
from supervisor_core.config.expand import expand, process_section_expansions
from supervisor_core.config.model import (
    AUTO,
    AutoRestart,
    ChannelConfig,
    FcgiSocketConfig,
    GroupConfig,
    GroupKind,
    LogFile,
    Origin,
    ProcessConfig,
    ProgramKind,
    ReadyCheck,
    ReadyKind,
    SocketFamily,
)
from supervisor_core.config.reader import SectionReader

# superd's restart damping (supervisord ignores unknown options; docs/config.md).
DAMPING_OPTIONS = frozenset(
    {
        "backoff_initial",
        "backoff_factor",
        "backoff_max",
        "backoff_jitter",
        "backoff_reset",
        "startlimit_burst",
        "startlimit_interval",
    }
)
# superd's dependencies and readiness (supervisord ignores them; docs/config.md).
READINESS_OPTIONS = frozenset(
    {"depends_on", "ready", "ready_timeout", "ready_interval", "watchdog_timeout"}
)
PROGRAM_OPTIONS = frozenset(
    {
        "command",
        "process_name",
        "numprocs",
        "numprocs_start",
        "priority",
        "autostart",
        "autorestart",
        "startsecs",
        "startretries",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "user",
        "redirect_stderr",
        "environment",
        "directory",
        "umask",
        "serverurl",
    }
    | DAMPING_OPTIONS
    | READINESS_OPTIONS
    | {
        f"{channel}_{suffix}"
        for channel in ("stdout", "stderr")
        for suffix in (
            "logfile",
            "logfile_maxbytes",
            "logfile_backups",
            "capture_maxbytes",
            "events_enabled",
            "syslog",
        )
    }
)
EVENTLISTENER_OPTIONS = PROGRAM_OPTIONS | {"buffer_size", "events", "result_handler"}
FCGI_PROGRAM_OPTIONS = PROGRAM_OPTIONS | {
    "socket",
    "socket_backlog",
    "socket_owner",
    "socket_mode",
}
GROUP_OPTIONS = frozenset({"programs", "priority"})
DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"
_DAMPING_DEFAULTS = ProcessConfig(name="", program_name="", group_name="", command="")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessContext:
    """What every process section needs from the rest of the file."""

    environ_names: Mapping[str, str]  # ENV_X of the daemon's env + [supervisord] environment
    host_node_name: str
    here: str  # the main file's directory


def _origins(reader: SectionReader) -> Mapping[str, Origin]:
    return MappingProxyType(
        {name: reader.origin_of(name) for name in reader.document.options(reader.section)}
    )


def _section_names(
    reader: SectionReader, context: ProcessContext, group_name: str
) -> dict[str, object]:
    program_name = reader.section.split(":", 1)[1].strip()
    return process_section_expansions(
        here=context.here,
        environ_names=context.environ_names,
        program_name=program_name,
        group_name=group_name,
        host_node_name=context.host_node_name,
    )


def _channel(
    reader: SectionReader,
    channel: str,
    names: Mapping[str, object],
    *,
    capture_maxbytes: int,
    events_enabled: bool,
) -> ChannelConfig:
    key = f"{channel}_logfile"
    logfile: LogFile | str = AUTO
    # supervisord expands *_logfile twice (saneget, then expand() again).
    text = reader.text(key, names, times=2)
    if text is not None:
        try:
            logfile = converters.logfile_name(text)
        except ValueError as error:
            reader.fail(key, str(error), text)
    maxbytes = reader.convert(f"{key}_maxbytes", 50 * 1024 * 1024, converters.byte_size, names)
    syslog = reader.convert(f"{channel}_syslog", False, converters.boolean, names)
    if logfile == converters.SYSLOG:
        reader.collector.warn(
            reader.origin_of(key),
            reader.section,
            f"{key}=syslog is deprecated (supervisord will drop it); use {channel}_syslog=true",
        )
        logfile = None
        syslog = True
    if logfile is AUTO and not maxbytes:
        reader.collector.warn(
            reader.origin_of(key),
            reader.section,
            f"AUTO logging used for {key} without rollover; set {key}_maxbytes > 0 "
            "to avoid filling up the filesystem",
        )
    return ChannelConfig(
        logfile=logfile,
        logfile_maxbytes=maxbytes,
        logfile_backups=reader.convert(f"{key}_backups", 10, converters.integer, names),
        capture_maxbytes=capture_maxbytes,
        events_enabled=events_enabled,
        syslog=syslog,
    )


def _damping(reader: SectionReader, names: Mapping[str, object]) -> dict[str, Any]:
    """The restart damping options (``backoff_*``, ``startlimit_*``), checked together."""
    c = converters
    default = _DAMPING_DEFAULTS
    values: dict[str, Any] = {
        "backoff_initial": reader.convert(
            "backoff_initial", default.backoff_initial, c.non_negative_number, names
        ),
        "backoff_factor": reader.convert(
            "backoff_factor", default.backoff_factor, c.non_negative_number, names
        ),
        "backoff_max": reader.convert(
            "backoff_max", default.backoff_max, c.non_negative_number, names
        ),
        "backoff_jitter": reader.convert(
            "backoff_jitter", default.backoff_jitter, c.non_negative_number, names
        ),
        "backoff_reset": reader.convert(
            "backoff_reset", default.backoff_reset, c.non_negative_number, names
        ),
        "startlimit_burst": reader.convert(
            "startlimit_burst", default.startlimit_burst, c.non_negative_integer, names
        ),
        "startlimit_interval": reader.convert(
            "startlimit_interval", default.startlimit_interval, c.non_negative_number, names
        ),
    }
    if reader.has("backoff_factor") and values["backoff_factor"] < 1:
        reader.fail("backoff_factor", "must be 1 or more (the delay never shrinks)")
    if reader.has("backoff_jitter") and values["backoff_jitter"] > 1:
        reader.fail("backoff_jitter", "must be between 0 and 1 (a fraction of the delay)")
    if values["backoff_max"] < values["backoff_initial"]:
        option = "backoff_max" if reader.has("backoff_max") else "backoff_initial"
        reader.fail(option, "backoff_max must not be smaller than backoff_initial")
    if reader.has("startlimit_interval") and values["startlimit_interval"] <= 0:
        reader.fail("startlimit_interval", "must be more than 0 seconds")
    return values


def _ready_check(reader: SectionReader, names: Mapping[str, object]) -> ReadyCheck:
    """``ready = startsecs | notify | tcp:HOST:PORT | http:URL | command:CMD``."""
    text = reader.text("ready", names)
    if text is None or not text.strip():
        return ReadyCheck()
    kind_text, _, target = text.strip().partition(":")
    try:
        kind = ReadyKind(kind_text.strip().lower())
    except ValueError:
        reader.fail(
            "ready", "not one of startsecs, notify, tcp:HOST:PORT, http:URL, command:CMD", text
        )
        return ReadyCheck()
    target = target.strip()
    if kind in (ReadyKind.STARTSECS, ReadyKind.NOTIFY):
        if target:
            reader.fail("ready", f"{kind.value} takes no argument", text)
        return ReadyCheck(kind=kind)
    if kind is ReadyKind.TCP:
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            reader.fail("ready", "tcp needs HOST:PORT", text)
    elif kind is ReadyKind.HTTP:
        if not target.startswith(("http://", "https://")):
            reader.fail("ready", "http needs a URL (http:http://127.0.0.1:8080/health)", text)
    elif not target:
        reader.fail("ready", "command needs a command (command:pg_isready -q)", text)
    return ReadyCheck(kind=kind, target=target)


def _readiness(reader: SectionReader, names: Mapping[str, object]) -> dict[str, Any]:
    """``depends_on``, ``ready``, ``ready_timeout``, ``ready_interval``, ``watchdog_timeout``.

    Names in ``depends_on`` are resolved against the whole file afterwards
    (``config.dependencies``): here only their spelling is read.
    """
    c = converters
    depends_text = reader.text("depends_on", names)
    depends_on = c.list_of_strings(depends_text) if depends_text else ()
    ready = _ready_check(reader, names)
    values: dict[str, Any] = {
        "depends_on": tuple(depends_on),
        "ready": ready,
        "ready_timeout": reader.convert("ready_timeout", 60.0, c.non_negative_number, names),
        "ready_interval": reader.convert("ready_interval", 0.5, c.non_negative_number, names),
        "watchdog_timeout": reader.convert("watchdog_timeout", 0.0, c.non_negative_number, names),
    }
    if reader.has("ready_timeout") and values["ready_timeout"] <= 0:
        reader.fail("ready_timeout", "must be more than 0 seconds")
    if reader.has("ready_interval") and values["ready_interval"] <= 0:
        reader.fail("ready_interval", "must be more than 0 seconds")
    if values["watchdog_timeout"] > 0 and ready.kind is not ReadyKind.NOTIFY:
        reader.fail("watchdog_timeout", "needs ready = notify (WATCHDOG=1 comes by sd_notify)")
    return values


def processes_from_section(
    reader: SectionReader,
    context: ProcessContext,
    group_name: str,
    kind: ProgramKind,
) -> tuple[ProcessConfig, ...]:
    """Every process a process section yields (numprocs of them), sorted by priority."""
    c = converters
    names = _section_names(reader, context, group_name)
    program_name = str(names["program_name"])
    try:
        c.process_or_group_name(program_name)
    except ValueError as error:
        reader.fail(None, f"bad name: {error}", program_name)
    priority = reader.convert("priority", 999, c.integer, names)
    autostart = reader.convert("autostart", True, c.boolean, names)
    autorestart = reader.convert("autorestart", AutoRestart.UNEXPECTED, c.auto_restart, names)
    startsecs = reader.convert("startsecs", 1, c.integer, names)
    startretries = reader.convert("startretries", 3, c.integer, names)
    stopsignal = reader.convert("stopsignal", signal.SIGTERM, c.signal_number, names)
    stopwaitsecs = reader.convert("stopwaitsecs", 10, c.integer, names)
    stopasgroup = reader.convert("stopasgroup", False, c.boolean, names)
    killasgroup = reader.convert("killasgroup", stopasgroup, c.boolean, names)
    exitcodes = reader.convert("exitcodes", frozenset({0}), c.exitcodes, names)
    redirect_stderr = reader.convert("redirect_stderr", False, c.boolean, names)
    numprocs = reader.convert("numprocs", 1, c.integer, names)
    numprocs_start = reader.convert("numprocs_start", 0, c.integer, names)
    environment_text = reader.text("environment", None) or ""
    capture = {
        channel: reader.convert(f"{channel}_capture_maxbytes", 0, c.byte_size, names)
        for channel in ("stdout", "stderr")
    }
    events_enabled = {
        channel: reader.convert(f"{channel}_events_enabled", False, c.boolean, names)
        for channel in ("stdout", "stderr")
    }
    serverurl = reader.text("serverurl", names)
    if serverurl is not None and serverurl.strip().upper() in ("AUTO", ""):
        serverurl = None
    user = reader.text("user", names)
    if user is not None:
        try:
            c.name_to_uid(user)
        except ValueError as error:
            reader.fail("user", str(error), user)
    umask = reader.convert("umask", None, c.octal, names)
    process_name = reader.text("process_name", None) or "%(program_name)s"
    try:
        c.process_or_group_name(process_name)
    except ValueError as error:
        reader.fail("process_name", str(error), process_name)
    if numprocs > 1 and "%(process_num)" not in process_name:
        option = "process_name" if reader.has("process_name") else "numprocs"
        reader.fail(
            option, "process_name must contain %(process_num) when numprocs > 1", process_name
        )
    damping = _damping(reader, names)
    readiness = _readiness(reader, names)
    if stopasgroup and not killasgroup:
        reader.fail("killasgroup", "cannot be false when stopasgroup is true")
    if not reader.has("command"):
        reader.fail("command", "missing (every process section needs command=)")

    key_origins = _origins(reader)
    processes: list[ProcessConfig] = []
    for process_num in range(numprocs_start, numprocs_start + numprocs):
        # One dict for the whole section, as supervisord's: a program's environment
        # entries become ENV_X for the later options and the next processes.
        names.update(process_num=process_num, numprocs=numprocs)
        environment: dict[str, str] = {}
        try:
            environment = c.dict_of_key_value_pairs(expand(environment_text, names))
        except ValueError as error:
            reader.fail("environment", str(error), environment_text)
        names.update({f"ENV_{key}": value for key, value in environment.items()})
        directory = reader.text("directory", names)
        stdout = _channel(
            reader,
            "stdout",
            names,
            capture_maxbytes=capture["stdout"],
            events_enabled=events_enabled["stdout"],
        )
        stderr = _channel(
            reader,
            "stderr",
            names,
            capture_maxbytes=capture["stderr"],
            events_enabled=events_enabled["stderr"],
        )
        if redirect_stderr:
            if stderr.logfile not in (AUTO, None):
                reader.collector.warn(
                    reader.origin_of("stderr_logfile"),
                    reader.section,
                    "redirect_stderr=true but stderr_logfile is also set: the file is ignored",
                )
            stderr = replace(stderr, logfile=None)
        command = reader.text("command", names)
        name = process_name
        try:
            name = expand(process_name, names)
        except ValueError as error:
            reader.fail("process_name", str(error), process_name)
        # The default name is the program's, already checked with the section header.
        if reader.has("process_name"):
            try:
                c.process_or_group_name(name)
            except ValueError as error:
                reader.fail("process_name", str(error), name)
        if command is None:
            continue
        processes.append(
            ProcessConfig(
                name=name,
                program_name=program_name,
                group_name=group_name,
                kind=kind,
                command=command,
                process_num=process_num,
                numprocs=numprocs,
                priority=priority,
                autostart=autostart,
                autorestart=autorestart,
                startsecs=startsecs,
                startretries=startretries,
                exitcodes=exitcodes,
                stopsignal=stopsignal,
                stopwaitsecs=stopwaitsecs,
                stopasgroup=stopasgroup,
                killasgroup=killasgroup,
                user=user,
                directory=directory,
                umask=umask,
                redirect_stderr=redirect_stderr,
                stdout=stdout,
                stderr=stderr,
                environment=MappingProxyType(environment),
                serverurl=serverurl,
                **damping,
                **readiness,
                origin=reader.origin,
                key_origins=key_origins,
            )
        )
    return sort_processes(processes)


def sort_processes(processes: Iterable[ProcessConfig]) -> tuple[ProcessConfig, ...]:
    """Processes by (priority, name), supervisord's start order."""
    return tuple(sorted(processes, key=lambda p: (p.priority, p.name)))


def group_names(reader: SectionReader) -> str:
    """The name after ``kind:`` in a section header, checked like supervisord does."""
    name = reader.section.split(":", 1)[1]
    try:
        checked = converters.process_or_group_name(name)
    except ValueError as error:
        reader.fail(None, f"bad name: {error}", name.strip())
        return name.strip()
    if not checked:
        reader.fail(None, "the section name has no name after the colon")
    return checked


def program_group(reader: SectionReader, context: ProcessContext, kind: ProgramKind) -> GroupConfig:
    """A homogeneous group from one ``[program:x]`` (or one ``[fcgi-program:x]``)."""
    name = group_names(reader)
    names = _section_names(reader, context, name)
    priority = reader.convert("priority", 999, converters.integer, names)
    socket = fcgi_socket(reader, context, name) if kind is ProgramKind.FCGI_PROGRAM else None
    processes = processes_from_section(reader, context, name, kind)
    return GroupConfig(
        name=name,
        kind=GroupKind.FCGI_PROGRAM if kind is ProgramKind.FCGI_PROGRAM else GroupKind.PROGRAM,
        priority=priority,
        processes=processes,
        socket=socket,
        origin=reader.origin,
    )


def listener_pool(reader: SectionReader, context: ProcessContext) -> GroupConfig:
    """An ``[eventlistener:x]`` pool: events are required, redirect_stderr forbidden.

    The pool's priority defaults to -1 (listeners start first and stop last), while
    its processes' own priority keeps the program default of 999, as in supervisord.
    """
    name = group_names(reader)
    names = dict(context.environ_names)
    names["here"] = context.here
    priority = reader.convert("priority", -1, converters.integer, names)
    buffer_size = reader.convert("buffer_size", 10, converters.integer, names)
    if buffer_size < 1:
        reader.fail("buffer_size", "must be at least 1", str(buffer_size))
    result_handler = reader.text("result_handler", names) or DEFAULT_RESULT_HANDLER
    events: set[str] = set()
    if not reader.has("events"):
        reader.fail("events", "missing (an event listener needs events=)")
    else:
        events_text = reader.text("events", names)
        if events_text is not None:
            events = {event.upper() for event in converters.list_of_strings(events_text)}
            if not events:
                reader.fail("events", "names no event type", events_text)
    # Whether each name is a known event type is the daemon's registry's to say
    # (extensions add types): listener_event_problems, given the registry.
    if reader.convert("redirect_stderr", False, converters.boolean, names):
        reader.fail(
            "redirect_stderr",
            "not allowed in an event listener: it would interfere with the listener protocol",
        )
    processes = processes_from_section(reader, context, name, ProgramKind.EVENTLISTENER)
    return GroupConfig(
        name=name,
        kind=GroupKind.EVENTLISTENER,
        priority=priority,
        processes=processes,
        buffer_size=buffer_size,
        events=frozenset(events),
        result_handler=result_handler,
        origin=reader.origin,
        key_origins=_origins(reader),
    )


# Where a group built in code (no file behind it) is said to come from.
_NO_FILE = Origin("<config>", 0)


def listener_event_problems(groups: Iterable[GroupConfig], known: Container[str]) -> list[Problem]:
    """One problem per ``events=`` name of a listener pool in ``groups`` not in ``known``.

    ``known`` is the daemon's event type registry (supervisord's types plus the
    extensions'); the problem sits at the line of ``events=``:
    ``file:line: [eventlistener:x] events: unknown event type: 'TICK_6'``.
    """
    return [
        Problem(
            origin=group.key_origins.get("events", group.origin or _NO_FILE),
            section=f"eventlistener:{group.name}",
            option="events",
            reason="unknown event type",
            value=name,
        )
        for group in groups
        if group.kind is GroupKind.EVENTLISTENER
        for name in sorted(group.events)
        if name not in known
    ]


def fcgi_socket(
    reader: SectionReader, context: ProcessContext, program_name: str
) -> FcgiSocketConfig | None:
    """The socket of an ``[fcgi-program:x]`` (``tcp://host:port`` or ``unix:///path``)."""
    c = converters
    names: dict[str, object] = dict(context.environ_names)
    names["here"] = context.here
    uid: int | None = None
    user = reader.text("user", names)
    if user is not None:
        try:
            uid = c.name_to_uid(user)
        except ValueError as error:
            reader.fail("user", str(error), user)
    backlog = reader.convert("socket_backlog", None, c.integer, names)
    if backlog is not None and not 1 <= backlog <= 65535:
        reader.fail("socket_backlog", "must be between 1 and 65535", str(backlog))
    owner = reader.convert("socket_owner", None, c.colon_separated_user_group, names)
    mode = reader.convert("socket_mode", None, c.octal, names)
    names["program_name"] = program_name
    if not reader.has("socket"):
        reader.fail("socket", "missing (an fcgi-program needs socket=)")
        return None
    url = reader.text("socket", names)
    if url is None:
        return None
    if not url:
        reader.fail("socket", "is empty (use tcp://host:port or unix:///path)")
        return None
    if url.startswith("unix://"):
        path = url[len("unix://") :]
        if not os.path.isabs(path):
            reader.fail("socket", "a unix socket path must be absolute", url)
            return None
        path = c.normalize_path(path)
        if owner is None and uid is not None and uid != os.getuid():
            owner = (uid, c.gid_for_uid(uid))
        return FcgiSocketConfig(
            family=SocketFamily.UNIX,
            url=f"unix://{path}",
            path=path,
            owner=owner,
            mode=0o700 if mode is None else mode,
            backlog=backlog,
        )
    if reader.has("socket_owner") or reader.has("socket_mode"):
        reader.fail("socket", "socket_owner and socket_mode only apply to a unix socket", url)
        return None
    host, sep, port_text = url.removeprefix("tcp://").rpartition(":")
    if (
        not url.startswith("tcp://")
        or not sep
        or not host
        or any(ch.isspace() or ch == ":" for ch in host)
        or not port_text.isdigit()
    ):
        reader.fail("socket", "not tcp://host:port or unix:///path", url)
        return None
    try:
        port = c.port_number(port_text)
    except ValueError as error:
        reader.fail("socket", str(error), url)
        return None
    return FcgiSocketConfig(
        family=SocketFamily.TCP,
        url=f"tcp://{host.lower()}:{port}",
        host=host.lower(),
        port=port,
        backlog=backlog,
    )
