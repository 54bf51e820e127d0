"""Typed, frozen configuration objects: what a supervisord.conf means once parsed.

Rules of this file:
- Every object is a frozen, slotted, keyword-only dataclass. Runtime state never
  lives here (supervisord keeps pids on its config objects; we do not).
- Field names are supervisord's option names, spelled as it spells them, so that
  an operator reading the docs and a developer reading this file use one vocabulary.
- Values are already converted (bytes as ``int``, signals as ``signal.Signals``,
  umasks as ``int``); defaults are supervisord 4.x's defaults.
- Each section object carries ``origin`` (where its header was) and ``key_origins``
  (where each key that was set came from), so later stages can name file:line.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from supervisor_core.names import make_namespec


def _empty_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_origins() -> Mapping[str, Origin]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a section or a key was written: a file and a 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class AutoRestart(enum.Enum):
    """supervisord's ``autorestart``: never, only after an unexpected exit, always."""

    FALSE = "false"
    UNEXPECTED = "unexpected"
    TRUE = "true"


class SurvivorAction(enum.Enum):
    """superd's ``[supervisord] survivors``: what to do at start with the children a
    killed superd left running (``supervisor_core.survivors``)."""

    KILL = "kill"
    ADOPT = "adopt"
    LEAVE = "leave"


class LogLevel(enum.IntEnum):
    """supervisord's log levels with its numeric values (``loglevel=``)."""

    CRITICAL = 50
    ERROR = 40
    WARN = 30
    INFO = 20
    DEBUG = 10
    TRACE = 5
    BLATHER = 3


class Auto(enum.Enum):
    """The ``AUTO`` log file: a file supervisord names itself inside ``childlogdir``."""

    AUTO = "AUTO"


AUTO = Auto.AUTO

# A child log target: a path, AUTO, or None for supervisord's ``NONE``.
LogFile = str | Auto | None


class ProgramKind(enum.Enum):
    """Which kind of section a process came from."""

    PROGRAM = "program"
    EVENTLISTENER = "eventlistener"
    FCGI_PROGRAM = "fcgi-program"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    """Options of one output channel (stdout or stderr) of a process."""

    logfile: LogFile = AUTO
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False


class ReadyKind(enum.Enum):
    """How superd tells that a started process is ready (``ready=``; superd only)."""

    STARTSECS = "startsecs"  # supervisord's rule: it stayed up for startsecs
    NOTIFY = "notify"  # it sent READY=1 on NOTIFY_SOCKET (systemd's sd_notify)
    TCP = "tcp"  # a TCP connect to HOST:PORT succeeds
    HTTP = "http"  # a GET of the URL answers 2xx
    COMMAND = "command"  # a command exits 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyCheck:
    """The ``ready=`` option: its kind and what to probe (``host:port``, URL, command)."""

    kind: ReadyKind = ReadyKind.STARTSECS
    target: str = ""

    @property
    def probed(self) -> bool:
        """Whether superd polls a probe (tcp, http, command) rather than waits."""
        return self.kind in (ReadyKind.TCP, ReadyKind.HTTP, ReadyKind.COMMAND)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessConfig:
    """One process: a ``[program:x]`` with numprocs=3 yields three of these.

    ``name`` is the expanded ``process_name``; ``group_name`` the group it belongs to
    (the program's own name unless a ``[group:x]`` claims it).
    """

    name: str
    program_name: str
    group_name: str
    kind: ProgramKind = ProgramKind.PROGRAM
    command: str
    process_num: int = 0
    numprocs: int = 1
    priority: int = 999
    autostart: bool = True
    autorestart: AutoRestart = AutoRestart.UNEXPECTED
    startsecs: int = 1
    startretries: int = 3
    exitcodes: frozenset[int] = frozenset({0})
    stopsignal: signal.Signals = signal.SIGTERM
    stopwaitsecs: int = 10
    stopasgroup: bool = False
    killasgroup: bool = False
    user: str | None = None
    directory: str | None = None
    umask: int | None = None
    redirect_stderr: bool = False
    stdout: ChannelConfig = field(default_factory=ChannelConfig)
    stderr: ChannelConfig = field(default_factory=ChannelConfig)
    # Merged environment: [supervisord] environment overlaid by the program's own.
    environment: Mapping[str, str] = field(default_factory=_empty_mapping)
    serverurl: str | None = None  # None means AUTO (computed from the http servers)
    # Restart damping (superd only; supervisord ignores these options). The defaults
    # turn it off: see supervisor_core/damping.py and docs/config.md.
    backoff_initial: float = 0.0
    backoff_factor: float = 2.0
    backoff_max: float = 300.0
    backoff_jitter: float = 0.0
    backoff_reset: float = 60.0
    startlimit_burst: int = 0
    startlimit_interval: float = 10.0
    # Dependencies and readiness (superd only; docs/config.md). The defaults are
    # supervisord's behaviour: no ordering beyond priority, ready after startsecs.
    depends_on: tuple[str, ...] = ()
    ready: ReadyCheck = field(default_factory=ReadyCheck)
    ready_timeout: float = 60.0
    ready_interval: float = 0.5
    watchdog_timeout: float = 0.0
    origin: Origin | None = None
    key_origins: Mapping[str, Origin] = field(default_factory=_empty_origins, compare=False)

    @property
    def namespec(self) -> str:
        """``group:name`` as supervisorctl spells it (just ``name`` when they match)."""
        return make_namespec(self.group_name, self.name)


class SocketFamily(enum.Enum):
    """Socket kinds an ``[fcgi-program:x]`` may listen on."""

    TCP = "tcp"
    UNIX = "unix"


@dataclass(frozen=True, slots=True, kw_only=True)
class FcgiSocketConfig:
    """The socket superd creates for an ``[fcgi-program:x]`` and hands over as fd 0."""

    family: SocketFamily
    url: str  # as written, after expansion: tcp://host:port or unix:///path
    host: str | None = None
    port: int | None = None
    path: str | None = None
    owner: tuple[int, int] | None = None  # (uid, gid)
    mode: int | None = None
    backlog: int | None = None


class GroupKind(enum.Enum):
    """Which section produced a group."""

    PROGRAM = "program"  # a homogeneous group made from one [program:x]
    GROUP = "group"  # a heterogeneous [group:x]
    EVENTLISTENER = "eventlistener"
    FCGI_PROGRAM = "fcgi-program"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupConfig:
    """A process group: a program's processes, a ``[group:x]``, or a listener pool.

    Listener pools fill ``buffer_size``, ``events`` and ``result_handler``;
    fcgi groups fill ``socket``. ``processes`` is sorted by priority as supervisord does.
    ``events`` holds the names as written (upper-cased): which event types exist is the
    daemon's registry, so they are checked when the pool is built
    (``pools.check_listener_events``), which names ``key_origins["events"]``.
    """

    name: str
    kind: GroupKind
    priority: int = 999
    processes: tuple[ProcessConfig, ...] = ()
    buffer_size: int = 10
    events: frozenset[str] = frozenset()
    result_handler: str = "supervisor.dispatchers:default_handler"
    socket: FcgiSocketConfig | None = None
    origin: Origin | None = None
    key_origins: Mapping[str, Origin] = field(default_factory=_empty_origins, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisordConfig:
    """The ``[supervisord]`` section. Paths are as written (after expansion)."""

    logfile: str = "supervisord.log"
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: LogLevel = LogLevel.INFO
    pidfile: str = "supervisord.pid"
    umask: int = 0o022
    nodaemon: bool = False
    silent: bool = False
    minfds: int = 1024
    minprocs: int = 200
    nocleanup: bool = False
    childlogdir: str = "/tmp"  # tempfile.gettempdir() at parse time
    user: str | None = None
    directory: str | None = None
    strip_ansi: bool = False
    environment: Mapping[str, str] = field(default_factory=_empty_mapping)
    identifier: str = "supervisor"
    # superd only (supervisord ignores it): stderr lines carried by exit events.
    stderr_tail_lines: int = 20
    # superd only: the syslog daemon's socket for logfile=syslog and *_syslog=true.
    syslog_socket: str = "/dev/log"
    # superd only: become a child subreaper and reap orphans (always so as PID 1).
    subreaper: bool = False
    # superd only: what to do with the children of a superd that was killed (kill -9).
    survivors: SurvivorAction = SurvivorAction.KILL
    origin: Origin | None = None
    key_origins: Mapping[str, Origin] = field(default_factory=_empty_origins, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnixHttpServerConfig:
    """``[unix_http_server]``: the control socket."""

    file: str
    chmod: int = 0o700
    chown: tuple[int, int] = (-1, -1)  # (uid, gid); -1 leaves it unchanged
    username: str | None = None
    password: str | None = None  # plain, or "{SHA}" + hex sha1
    origin: Origin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InetHttpServerConfig:
    """``[inet_http_server]``: the TCP control and web port. host "" means all."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorctlConfig:
    """``[supervisorctl]``: defaults for the client."""

    serverurl: str = "http://localhost:9001"
    username: str | None = None
    password: str | None = None
    prompt: str = "supervisor"
    history_file: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcInterfaceConfig:
    """``[rpcinterface:x]``: kept so configs round-trip; superd serves its own API."""

    name: str
    factory: str
    extras: Mapping[str, str] = field(default_factory=_empty_mapping)
    origin: Origin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionSection:
    """A section the core does not interpret (``[exporter:prometheus]``, ``[notifier:x]``).

    Kept as written (continuation lines joined, no ``%(...)s`` expansion, no
    ``[DEFAULT]`` fallback) with provenance, so the extension that owns the section
    parses it itself and names ``file:line`` in its errors.
    """

    name: str
    values: Mapping[str, str] = field(default_factory=_empty_mapping)
    origins: Mapping[str, Origin] = field(default_factory=_empty_origins)
    origin: Origin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole loaded configuration: the main file plus everything it included."""

    path: str
    here: str  # directory of the main file, for %(here)s
    supervisord: SupervisordConfig
    groups: tuple[GroupConfig, ...] = ()
    unix_http_server: UnixHttpServerConfig | None = None
    inet_http_server: InetHttpServerConfig | None = None
    supervisorctl: SupervisorctlConfig | None = None
    rpcinterfaces: tuple[RpcInterfaceConfig, ...] = ()
    included_files: tuple[str, ...] = ()
    # Sections superd does not know (e.g. [exporter:x] of later versions, or typos);
    # supervisord ignores unknown sections, so we record instead of failing.
    unknown_sections: tuple[str, ...] = ()
    # The same sections with their keys, for the extensions that own them.
    extension_sections: tuple[ExtensionSection, ...] = ()
    warnings: tuple[str, ...] = ()

    def group(self, name: str) -> GroupConfig | None:
        """The group called ``name``, or None."""
        for group in self.groups:
            if group.name == name:
                return group
        return None

    def processes(self) -> tuple[ProcessConfig, ...]:
        """Every process of every group, in group order."""
        return tuple(p for g in self.groups for p in g.processes)

    def extension_section(self, name: str) -> ExtensionSection | None:
        """The uninterpreted section called ``name`` (``exporter:prometheus``), or None."""
        for section in self.extension_sections:
            if section.name == name:
                return section
        return None

    def extension_section_or_empty(self, name: str) -> ExtensionSection:
        """The section called ``name``, or an empty one (every option at its default)."""
        return self.extension_section(name) or ExtensionSection(name=name)
