"""The control seam between the daemon and its control plane (XML-RPC, web UI, CLI).

Rules of this file:
- Everything here is in domain terms, never XML-RPC terms: the HTTP layer
  (``supervisor_core.http``) translates these calls, snapshots and errors into
  supervisord's method names, structs and fault codes; the daemon
  (``supervisor_core.supervisor``) implements :class:`SupervisorControl`.
- Snapshots are frozen: a caller never holds a reference to a live process.
- Errors are typed :class:`ControlError` subclasses. Their ``detail`` is the short
  text supervisord puts after the fault name (usually the namespec), or None.
- Operations that *wait* (``wait_process_started``, ``wait_process_stopped``) are
  coroutines that the daemon completes from its own state-transition events; they
  never poll. Everything else returns promptly.
- States are ``supervisor_core.states.ProcessState`` / ``SupervisorState``
  (``IntEnum`` s with supervisord's codes).

Why start and stop are split into an initiating call and a waiting coroutine:
supervisord's ``startProcessGroup`` spawns every process of the group in priority
order first and only then waits for all of them together. Splitting the two lets
the control plane keep that order and that concurrency without depending on where
an implementation happens to suspend.
"""

from __future__ import annotations

import signal
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from supervisor_core.config.model import GroupConfig
from supervisor_core.lifecycle import ProcessState, Requester, SupervisorState
from supervisor_core.names import make_namespec


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessInfo:
    """A frozen snapshot of one managed process, as ``getProcessInfo`` reports it.

    Times are wall-clock unix seconds (``start``/``stop`` are 0 when never
    started/stopped); ``now`` is the wall-clock time the snapshot was taken, so a
    description like ``pid 123, uptime 0:01:02`` is computed from the snapshot alone.
    ``stdout_logfile``/``stderr_logfile`` are resolved paths (``AUTO`` already turned
    into a real file name), or "" when the channel is not logged.
    """

    name: str
    group: str
    state: ProcessState
    start: float
    stop: float
    now: float
    pid: int  # 0 when not running
    spawnerr: str  # "" when the last spawn did not fail
    exitstatus: int  # last exit status, 0 before the first exit
    stdout_logfile: str
    stderr_logfile: str
    status_text: str = ""  # the last STATUS= of a ready=notify program (superd only)
    waiting: str = ""  # "waiting for a, b" while depends_on holds the start (superd only)
    survivor: str = ""  # a killed superd's survivor adopted or left running (superd only)

    @property
    def statename(self) -> str:
        """The state's name as supervisord spells it ("RUNNING", "FATAL", ...)."""
        return self.state.name

    @property
    def namespec(self) -> str:
        """``group:name`` as supervisorctl spells it (just ``name`` when they match)."""
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupInfo:
    """A frozen snapshot of one active process group and its processes.

    ``processes`` is in priority order (lowest first), as supervisord starts them.
    """

    name: str
    priority: int
    processes: tuple[ProcessInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadResult:
    """What a configuration reload found, by group name (nothing is applied yet)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class ControlError(Exception):
    """Base class of the errors a control operation reports to its caller.

    ``detail`` is the short text supervisord appends to the fault name (a namespec,
    a path, a message) or None when there is nothing to add.
    """

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        name = type(self).__name__
        return name if self.detail is None else f"{name}: {self.detail}"


class BadName(ControlError):
    """No group or process has that name (detail: the name as given)."""


class BadSignal(ControlError):
    """The signal is neither a known signal name nor a valid number (detail: it)."""


class NoFile(ControlError):
    """A file the operation needs does not exist or cannot be used (detail: path or name).

    Raised by ``start_process`` when the command is not found, by ``clear_log`` when
    there is no main log, and by ``send_process_stdin`` when the child's stdin is closed.
    """


class NotExecutable(ControlError):
    """The command exists but cannot be executed (detail: the reason)."""


class Failed(ControlError):
    """The operation failed for a reason given in ``detail``."""


class AbnormalTermination(ControlError):
    """A waited-for start ended in a state other than RUNNING (detail: namespec)."""


class SpawnFailed(ControlError):
    """The process could not be spawned; its ``spawnerr`` says why (detail: namespec)."""


class AlreadyStarted(ControlError):
    """The process is already STARTING, RUNNING or BACKOFF (detail: namespec)."""


class NotRunning(ControlError):
    """The process is not in a state that allows the operation (detail: namespec)."""


class AlreadyAdded(ControlError):
    """The group is already active (detail: group name)."""


class StillRunning(ControlError):
    """The group still has running processes and cannot be removed (detail: name)."""


class CantReread(ControlError):
    """The configuration file could not be read or parsed (detail: the error)."""


class ShutdownState(ControlError):
    """The supervisor is shutting down or restarting and refuses the request."""


@runtime_checkable
class SupervisorControl(Protocol):
    """Everything the control plane needs from the running daemon.

    Names given to methods are namespecs (``group:name``, or ``name`` when group and
    process share it); the control plane resolves ``group:*`` itself from
    :meth:`groups`. Every method may raise :class:`ShutdownState` once the
    daemon has started shutting down, though the control plane also checks
    :meth:`supervisor_state` first, as supervisord does.
    """

    # --- identification and state ------------------------------------------------

    def identification(self) -> str:
        """The ``identifier`` option of ``[supervisord]`` (default "supervisor")."""
        ...

    def supervisor_state(self) -> SupervisorState:
        """The daemon's state: FATAL=2, RUNNING=1, RESTARTING=0, SHUTDOWN=-1."""
        ...

    def pid(self) -> int:
        """The daemon's own process id."""
        ...

    def main_logfile(self) -> str | None:
        """Path of the daemon's main log, or None when it logs nowhere on disk."""
        ...

    # --- snapshots ----------------------------------------------------------------

    def groups(self) -> Sequence[GroupInfo]:
        """Snapshots of every active group, in priority order (lowest first)."""
        ...

    def group(self, name: str) -> GroupInfo | None:
        """A snapshot of one active group, or None when no active group has that name.

        The same answer as searching :meth:`groups`, without snapshotting every group:
        a call naming one process must not cost in proportion to all of them.
        """
        ...

    def config_groups(self) -> Sequence[GroupConfig]:
        """The group configs of the currently loaded configuration, active or not.

        This is what ``addProcessGroup`` can add and what ``getAllConfigInfo`` lists;
        after a ``reload_config`` it reflects the newly read file.
        """
        ...

    def snapshot_key(self) -> Hashable:
        """A value that is equal between two calls when :meth:`groups` answers the same.

        "The same" ignores the fraction of a second of ``ProcessInfo.now``, which
        every rendering truncates. The control plane caches what it builds from
        :meth:`groups` (the encoded ``getAllProcessInfo``) under this key; an
        implementation that cannot tell returns a new ``object()`` every time, which
        disables that caching.
        """
        ...

    # --- process control ----------------------------------------------------------

    def start_process(self, namespec: str, requester: Requester) -> None:
        """Spawn one process now, without waiting for it to reach RUNNING.

        ``requester`` says who asked (the cause and origin of the transition).

        Raises:
            BadName: no such process.
            NoFile: the command was not found.
            NotExecutable: the command cannot be executed.
            AlreadyStarted: the process is STARTING, RUNNING or BACKOFF.
            Failed: the process is in the UNKNOWN state (detail says so).
            SpawnFailed: the spawn failed at once (fork/exec error).
        """
        ...

    async def wait_process_started(self, namespec: str) -> None:
        """Return once the process is RUNNING (at once if it already is).

        Completed from state-transition events, never by polling.

        Raises:
            BadName: no such process (e.g. its group was removed meanwhile).
            SpawnFailed: a spawn attempt failed (the process has a ``spawnerr``).
            AbnormalTermination: it left STARTING for a state other than RUNNING.
        """
        ...

    def stop_process(self, namespec: str, requester: Requester) -> None:
        """Send the stop signal (``stopsignal``) to a running process, without waiting.

        ``requester`` says who asked (the cause and origin of the transition).

        Raises:
            BadName: no such process.
            NotRunning: the process is not STARTING, RUNNING or BACKOFF.
            Failed: the signal could not be sent (detail: the OS error).
        """
        ...

    async def wait_process_stopped(self, namespec: str) -> None:
        """Return once the process is in a stopped state (STOPPED, EXITED, FATAL, UNKNOWN).

        Completed from state-transition events, never by polling; the escalation
        to SIGKILL after ``stopwaitsecs`` is the daemon's business, not the caller's.
        """
        ...

    def signal_process(self, namespec: str, sig: signal.Signals, requester: Requester) -> None:
        """Send ``sig`` to the process (``requester`` says who asked).

        Raises:
            BadName: no such process.
            NotRunning: the process is not RUNNING, STARTING or STOPPING.
            Failed: the signal could not be sent (detail: the OS error).
        """
        ...

    def send_process_stdin(self, namespec: str, data: bytes) -> None:
        """Write ``data`` to the process's stdin.

        Raises:
            BadName: no such process.
            NotRunning: the process has no pid or is being killed.
            NoFile: its stdin is closed (EPIPE).
        """
        ...

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """Publish a ``REMOTE_COMMUNICATION`` event with this type and body."""
        ...

    # --- configuration and lifecycle ----------------------------------------------

    async def reload_config(self) -> ReloadResult:
        """Re-read the configuration file and diff it against the active groups.

        Nothing is started or stopped: supervisorctl's ``update`` follows up with
        ``add_process_group``/``remove_process_group``.

        Raises:
            CantReread: the file could not be read or parsed (detail: the error).
        """
        ...

    async def add_process_group(self, name: str) -> None:
        """Activate the configured group ``name`` (starting its autostart processes).

        Raises:
            BadName: the loaded configuration has no such group.
            AlreadyAdded: the group is already active.
        """
        ...

    async def remove_process_group(self, name: str) -> None:
        """Deactivate the group ``name``; all its processes must be stopped.

        Raises:
            BadName: no active group of that name.
            StillRunning: some of its processes are still running.
        """
        ...

    def shutdown(self) -> None:
        """Begin an orderly shutdown (state SHUTDOWN); return at once.

        The daemon must let the HTTP server finish the current response before it
        closes the listeners (``AppRunner.cleanup`` waits for in-flight handlers).
        """
        ...

    def restart(self) -> None:
        """Begin a restart (state RESTARTING): stop everything, reload, start again.

        The configuration file is read before anything stops.

        Raises:
            CantReread: the file could not be read or parsed; nothing was restarted.
        """
        ...

    # --- logs ---------------------------------------------------------------------

    def clear_log(self) -> None:
        """Remove the main log file and reopen it.

        Raises:
            NoFile: there is no main log file.
            Failed: it could not be removed.
        """
        ...

    def clear_process_logs(self, namespec: str) -> None:
        """Truncate the process's stdout and stderr logs (and their backups) and reopen them.

        Raises:
            BadName: no such process.
            Failed: a file could not be removed or reopened (detail: namespec).
        """
        ...
