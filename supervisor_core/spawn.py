"""Spawning children and noticing their exit: the OS edge of the process engine.

Rules of this file:
- ``Spawner.spawn()`` is synchronous (fork+exec is quick) and must run on the event
  loop's thread; everything after it (exit, stdin) is driven by ``loop.add_reader`` /
  ``loop.add_writer`` callbacks. No thread per child, no ``waitpid(-1)``, no polling:
  the exit is noticed through a pidfd (``os.pidfd_open``), which becomes readable when
  the child terminates, and the child is reaped by pid only then.
- A pid cannot be reused before we reap it (the zombie holds it), so opening the pidfd
  right after ``Popen`` returns is race free, and signals go through
  ``pidfd_send_signal`` so they can never hit a recycled pid.
- Error texts are supervisord's ``spawnerr`` texts (``can't find command 'x'``, ...),
  because operators grep for them and ``supervisorctl status`` shows them.
- Where supervisord reports a failure from inside the forked child (chdir, setuid,
  exec) on the child's stderr and exits 127, ``Popen`` reports it to the parent
  instead; we raise ``SpawnError`` with the same text.
- A child that needs nothing ``os.posix_spawn`` cannot do (no ``user=``, ``umask=``,
  ``directory=`` or ``pass_fds``: what most programs are) is started with it instead
  of ``Popen``: about a quarter less of the parent's CPU per spawn (no Python-level
  fork_exec set-up, no error pipe; ``bench/spawn_cost.py``). The child's fds beyond
  0-2 are closed by ``exec`` because every fd superd opens is close-on-exec; fds
  superd inherited are made close-on-exec when the spawner is created, so they stay
  out of children as ``close_fds=True`` keeps them out (an fd made inheritable
  *later* would reach posix_spawned children: nothing in superd does that; Python
  3.13's closefrom action is used where it exists). Other children still go through
  ``Popen``, which can change user, umask and directory.
- Each posix_spawn copies the caller's fd table into the child, and exec closes the
  copies: with 4 fds per program the spawn cost grew with the number of programs.
  Past ``PRIVATE_TABLE_ABOVE_FDS`` fds, posix_spawn is called from one thread (for
  all children) that unshared its fd table and holds a few fds: it copies the
  child's three ends in with ``pidfd_getfd`` and closes them after the spawn. The
  loop thread still waits for each spawn, so facts and events keep their order.
- Like supervisord, the child's ``HOME``/``USER``/``LOGNAME``/``SHELL`` are *not*
  changed when ``user=`` is set: supervisord documents that no shell is run and these
  variables keep superd's values unless ``environment=`` sets them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import errno
import fcntl
import grp
import os
import pwd
import queue
import shlex
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from supervisor_core.config.model import ProcessConfig, ProgramKind, ReadyKind
from supervisor_core.signals import describe_returncode

__all__ = [
    "ChildHandle",
    "ExitNotifier",
    "ExitStatus",
    "PopenChild",
    "PopenSpawner",
    "SpawnError",
    "SpawnRequest",
    "Spawner",
    "child_environment",
    "decode_exit",
    "decode_wait_status",
    "get_execv_args",
    "resolve_user",
]

# supervisord's fallback when neither the program's environment nor superd's has PATH.
DEFAULT_PATH = ("/bin", "/usr/bin", "/usr/local/bin")
# Child->parent pipes keep the kernel's default size: the capacity of every pipe counts
# against the user's pipe quota (/proc/sys/fs/pipe-user-pages-soft, 64 MiB), and above
# it the kernel gives *every* new pipe of that user one or two pages. Output capture
# grows the pipes of chatty children only (``logs.capture.PIPE_SIZE``).
DEFAULT_PIPE_SIZE: int | None = None
# Popen's restore_signals: Python ignores these (SIG_IGN survives exec), so a child
# started by superd gets the defaults back, whichever way it is spawned. (glibc's
# posix_spawn also leaves its two internal signals, 32 and 33, ignored in the new
# program; nothing can reset them, sigaddset refuses them, and the glibc of the
# program installs its own handlers for them; Popen leaves them at the default.)
_RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
# Python 3.13's file action for closefrom(3): close_fds without relying on close-on-exec.
_POSIX_SPAWN_CLOSEFROM: int | None = getattr(os, "POSIX_SPAWN_CLOSEFROM", None)
_POSIX_SPAWN_AVAILABLE = sys.platform == "linux" and hasattr(os, "posix_spawn")


class SpawnError(Exception):
    """A child could not be started; ``message`` is supervisord's spawnerr text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _empty_env() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnRequest:
    """Everything needed to start one child, independent of the config layer.

    ``base_environment`` stands for supervisord's own ``os.environ`` (``None`` means
    this process's environment at spawn time); ``environment`` is the program's
    ``environment=`` and wins over the ``SUPERVISOR_*`` variables, as in supervisord.
    ``stdin_fd`` hands an existing fd (an fcgi socket) to the child as fd 0 instead
    of a stdin pipe; ``pass_fds`` are kept open in the child under the same numbers.
    """

    name: str
    group_name: str
    command: str
    directory: str | None = None
    umask: int | None = None
    user: str | None = None
    environment: Mapping[str, str] = field(default_factory=_empty_env)
    base_environment: Mapping[str, str] | None = None
    serverurl: str | None = None
    redirect_stderr: bool = False
    stdin_fd: int | None = None
    pass_fds: tuple[int, ...] = ()
    notify_socket: str | None = None  # NOTIFY_SOCKET for a ready=notify program

    @classmethod
    def from_config(
        cls,
        config: ProcessConfig,
        *,
        serverurl: str | None = None,
        base_environment: Mapping[str, str] | None = None,
        stdin_fd: int | None = None,
        notify_socket: str | None = None,
    ) -> SpawnRequest:
        """Build a request from a process config.

        Args:
            config: the process.
            serverurl: superd's computed URL, used when the program's ``serverurl`` is
                AUTO (``None`` in the config), as supervisord does.
            base_environment: superd's environment (default: ``os.environ``).
            stdin_fd: for ``[fcgi-program:x]``, the listening socket to pass as fd 0.
            notify_socket: superd's sd_notify address (``NOTIFY_SOCKET``), given to
                the child only when its ``ready = notify``.
        """
        # Event listeners always get a separate stderr pipe: mixing stderr into stdout
        # would corrupt the listener protocol (supervisord's EventListenerConfig).
        redirect = config.redirect_stderr and config.kind is not ProgramKind.EVENTLISTENER
        return cls(
            name=config.name,
            group_name=config.group_name,
            command=config.command,
            directory=config.directory,
            umask=config.umask,
            user=config.user,
            environment=config.environment,
            base_environment=base_environment,
            serverurl=config.serverurl if config.serverurl is not None else serverurl,
            redirect_stderr=redirect,
            stdin_fd=stdin_fd,
            notify_socket=notify_socket if config.ready.kind is ReadyKind.NOTIFY else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitStatus:
    """How a child ended.

    ``returncode`` follows ``Popen``: the exit code, or ``-N`` when killed by signal N.
    Exactly one of ``exitcode`` and ``signal`` is set.
    """

    returncode: int
    exitcode: int | None
    signal: int | None
    core_dumped: bool = False

    def describe(self) -> str:
        """supervisord's wording: ``exit status 1`` / ``terminated by SIGKILL (core dumped)``."""
        return describe_returncode(self.returncode, core_dumped=self.core_dumped)


def decode_exit(returncode: int) -> tuple[int | None, int | None, bool]:
    """Split a ``Popen`` returncode into ``(exit code, signal, core dumped)``.

    A returncode carries no core-dump bit, so the third item is always False here;
    ``decode_wait_status`` keeps it when the raw wait status is known.
    """
    if returncode < 0:
        return None, -returncode, False
    return returncode, None, False


def decode_wait_status(status: int) -> ExitStatus:
    """Decode a raw ``waitpid`` status, keeping the core-dump flag."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return ExitStatus(
            returncode=-sig, exitcode=None, signal=sig, core_dumped=os.WCOREDUMP(status)
        )
    code = os.waitstatus_to_exitcode(status)
    return ExitStatus(returncode=code, exitcode=code, signal=None)


def _exit_status_from_returncode(returncode: int) -> ExitStatus:
    exitcode, sig, core = decode_exit(returncode)
    return ExitStatus(returncode=returncode, exitcode=exitcode, signal=sig, core_dumped=core)


def _errno_name(error: OSError) -> str:
    code = error.errno
    if code is None:
        return str(error)
    return errno.errorcode.get(code, str(code))


def _search_path(environment: Mapping[str, str], base: Mapping[str, str]) -> Sequence[str]:
    """supervisord's ProcessConfig.get_path: the program's PATH, else superd's, else a default."""
    path = environment.get("PATH")
    if path is not None:
        return path.split(os.pathsep)
    path = base.get("PATH")
    if path:
        return path.split(os.pathsep)
    return DEFAULT_PATH


@lru_cache(maxsize=4096)
def _split_command(command: str) -> tuple[str, ...]:
    # A crash-looping program is split at every restart; shlex is slow and the
    # result depends on the text alone (the file checks below are redone each time).
    return tuple(shlex.split(command))


def get_execv_args(
    command: str,
    *,
    environment: Mapping[str, str] | None = None,
    base_environment: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Split ``command`` like supervisord and find the file to execute.

    A program name without ``/`` is looked up on the child's PATH; a path is used
    as is. Either way the file must exist, not be a directory and be executable.

    Returns:
        ``(filename, argv)``.

    Raises:
        SpawnError: with supervisord's text (``can't find command 'x'``,
            ``command at '/x' is not executable``, ...).
    """
    try:
        argv = list(_split_command(command))
    except ValueError as error:
        raise SpawnError(f"can't parse command {command!r}: {error}") from None
    if not argv:
        raise SpawnError("command is empty")
    program = argv[0]
    st: os.stat_result | None = None
    filename = program
    if "/" in program:
        with contextlib.suppress(OSError):
            st = os.stat(program)
    else:
        env = environment if environment is not None else {}
        base = base_environment if base_environment is not None else os.environ
        for directory in _search_path(env, base):
            candidate = os.path.join(directory, program)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            filename = candidate
            break
    if st is None:
        raise SpawnError(f"can't find command {filename!r}")
    if stat.S_ISDIR(st.st_mode):
        raise SpawnError(f"command at {filename!r} is a directory")
    if not stat.S_IMODE(st.st_mode) & 0o111:
        raise SpawnError(f"command at {filename!r} is not executable")
    if not os.access(filename, os.X_OK):
        raise SpawnError(f"no permission to run command {filename!r}")
    return filename, argv


def resolve_user(user: str) -> tuple[int, int, tuple[int, ...]] | None:
    """What ``user=`` means for the child: ``(uid, gid, supplementary groups)``.

    Follows supervisord's ``drop_privileges``: the user may be a name or a uid; the
    primary gid comes first among the groups listing the user as a member. Returns
    None when the child already runs as that uid (nothing to drop).

    Raises:
        SpawnError: ``couldn't setuid to <uid>: <reason>`` with supervisord's reasons
            (``Can't find username 'x'``, ``Can't drop privilege as nonroot user``).
    """
    try:
        uid = int(user)
    except ValueError:
        try:
            record = pwd.getpwnam(user)
        except KeyError:
            raise SpawnError(f"couldn't setuid to {user}: Can't find username {user!r}") from None
        uid = record.pw_uid
    else:
        try:
            record = pwd.getpwuid(uid)
        except KeyError:
            raise SpawnError(f"couldn't setuid to {uid}: Can't find uid {uid!r}") from None
    if os.getuid() == uid:
        return None
    if os.getuid() != 0:
        raise SpawnError(f"couldn't setuid to {uid}: Can't drop privilege as nonroot user")
    gid = record.pw_gid
    members = [g.gr_gid for g in grp.getgrall() if record.pw_name in g.gr_mem]
    return uid, gid, (gid, *members)


SYSTEMD_NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

# (os.environ's bytes, their decoded copy): dict(os.environ) decodes every variable
# through Python code, a third of a spawn's CPU; comparing the bytes is ~50x cheaper.
_environ_snapshot: tuple[dict[bytes, bytes], dict[str, str]] | None = None


def _own_environment() -> dict[str, str]:
    """A copy of superd's ``os.environ`` as it is now (decoded again only after a change)."""
    global _environ_snapshot  # noqa: PLW0603 - one cache for the process, as os.environ is
    data: object = getattr(os.environ, "_data", None)
    if not isinstance(data, dict):  # not CPython's os._Environ: no shortcut
        return dict(os.environ)
    snapshot = _environ_snapshot
    if snapshot is None or snapshot[0] != data:
        snapshot = (dict(data), dict(os.environ))
        _environ_snapshot = snapshot
    return dict(snapshot[1])


def child_environment(request: SpawnRequest) -> dict[str, str]:
    """The child's environment, built in supervisord's order.

    superd's environment, then ``SUPERVISOR_ENABLED``, ``SUPERVISOR_SERVER_URL`` (when
    known), ``SUPERVISOR_PROCESS_NAME``, ``SUPERVISOR_GROUP_NAME``, then the program's
    ``environment=`` on top (so it may override any of them).
    """
    if request.base_environment is not None:
        env = dict(request.base_environment)
    else:
        env = _own_environment()
    # superd's own sd_notify variables (set by systemd for a Type=notify unit) are
    # for superd: a child that saw them would speak to systemd in superd's name.
    for name in SYSTEMD_NOTIFY_VARIABLES:
        env.pop(name, None)
    if request.notify_socket is not None:
        env["NOTIFY_SOCKET"] = request.notify_socket
    env["SUPERVISOR_ENABLED"] = "1"
    if request.serverurl:
        env["SUPERVISOR_SERVER_URL"] = request.serverurl
    env["SUPERVISOR_PROCESS_NAME"] = request.name
    env["SUPERVISOR_GROUP_NAME"] = request.group_name
    env.update(request.environment)
    return env


@runtime_checkable
class ChildHandle(Protocol):
    """A started child, as the runtime sees it.

    Exit is reported once, on the loop, through ``add_exit_callback`` callbacks and
    ``wait_exited()``. It may be reported before the output pipes reach EOF (a
    grandchild can hold them open); the log capture reports its own EOF.
    """

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        ...

    @property
    def returncode(self) -> int | None:
        """``Popen``-style returncode once reaped, else None."""
        ...

    @property
    def exit_status(self) -> ExitStatus | None:
        """The decoded exit once reaped, else None."""
        ...

    def take_output(self) -> tuple[int | None, int | None]:
        """Hand over the non-blocking read ends ``(stdout, stderr)``; the caller closes them.

        stderr is None when it is redirected into stdout. A second call returns
        ``(None, None)``.
        """
        ...

    def add_exit_callback(self, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` on the loop when the child has been reaped.

        Registering after the exit schedules the callback at once.
        """
        ...

    async def wait_exited(self) -> ExitStatus:
        """Wait until the child has exited and been reaped."""
        ...

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Send ``sig`` to the child, or with ``to_group`` to its whole process group.

        Raises:
            ProcessLookupError: the child (or group) is gone.
            OSError: any other failure (EPERM, ...), for the runtime to report.
        """
        ...

    def write_stdin(self, data: bytes) -> None:
        """Queue ``data`` for the child's stdin; it is written without blocking.

        Raises:
            BrokenPipeError: stdin is closed (the child closed it or exited).
        """
        ...

    async def wait_stdin_drained(self) -> None:
        """Wait until everything queued by ``write_stdin`` is in the pipe (or stdin closed)."""
        ...

    def close_stdin(self) -> None:
        """Close our end of the child's stdin (pending data is dropped)."""
        ...

    def close(self) -> None:
        """Release our fds (pidfd, stdin, untaken output). Does not signal the child."""
        ...


class Spawner(Protocol):
    """Starts children. The real one is ``PopenSpawner``; tests may pass a fake."""

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """Check that ``command`` can be executed, before anything else of a start.

        supervisord's ``startProcess`` answers NO_FILE / NOT_EXECUTABLE from this
        check before it looks at the process' state.

        Raises:
            SpawnError: supervisord's text (``can't find command 'x'``, ...).
        """
        ...

    def spawn(self, request: SpawnRequest) -> ChildHandle:
        """Start the child described by ``request``.

        Raises:
            SpawnError: the child could not be started (supervisord's spawnerr text).
        """
        ...


class ExitNotifier(abc.ABC):
    """The exit half of a ``ChildHandle`` watched through a pidfd, told once.

    Shared by :class:`PopenChild` and ``children.AdoptedChild``: the pidfd is watched on
    the loop; when it turns readable (the process terminated, pidfd_open(2)) the
    subclass' :meth:`_collect_exit` reads the status. With a status, the pidfd is
    closed, the exit callbacks are scheduled on the loop and the waiters are woken;
    None (a spurious wake-up) keeps watching.
    """

    def __init__(self, pidfd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._pidfd: int | None = pidfd
        self._loop = loop
        self._status: ExitStatus | None = None
        self._callbacks: list[Callable[[ExitStatus], None]] = []
        self._waiters: list[asyncio.Future[ExitStatus]] = []
        loop.add_reader(pidfd, self._on_pidfd_readable)

    @property
    def returncode(self) -> int | None:
        """``Popen``-style returncode once reaped, else None."""
        return None if self._status is None else self._status.returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        """The decoded exit once reaped, else None."""
        return self._status

    def add_exit_callback(self, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` on the loop once the process has exited."""
        if self._status is not None:
            self._loop.call_soon(callback, self._status)
        else:
            self._callbacks.append(callback)

    async def wait_exited(self) -> ExitStatus:
        """Wait until the process has exited (and, when it is our child, been reaped)."""
        if self._status is not None:
            return self._status
        waiter: asyncio.Future[ExitStatus] = self._loop.create_future()
        self._waiters.append(waiter)
        return await waiter

    @abc.abstractmethod
    def _collect_exit(self) -> ExitStatus | None:
        """The exit status now that the pidfd is readable (reaping it), or None if not exited."""

    def _on_pidfd_readable(self) -> None:
        # A readable pidfd means the process terminated; our child is a zombie until reaped.
        if self._status is not None:
            return
        status = self._collect_exit()
        if status is None:
            return
        self._status = status
        self._close_pidfd()
        for callback in self._callbacks:
            self._loop.call_soon(callback, status)
        self._callbacks.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(status)
        self._waiters.clear()

    def _close_pidfd(self) -> None:
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)


class PopenChild(ExitNotifier):
    """A child started by ``PopenSpawner``: pidfd-watched, reaped by pid.

    ``popen`` is the ``Popen`` that started it, or None for a child started with
    ``os.posix_spawn`` (then ``pid`` is required).
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes] | None,
        pidfd: int,
        *,
        loop: asyncio.AbstractEventLoop,
        stdin_fd: int | None,
        stdout_fd: int | None,
        stderr_fd: int | None,
        pid: int | None = None,
    ) -> None:
        self._popen = popen
        if popen is not None:
            pid = popen.pid
        if pid is None:
            raise ValueError("PopenChild needs a Popen or a pid")
        self._pid = pid
        self._stdin_fd = stdin_fd
        self._stdin_buffer = bytearray()
        self._stdin_writing = False
        self._drained: list[asyncio.Future[None]] = []
        self._output: tuple[int | None, int | None] | None = (stdout_fd, stderr_fd)
        super().__init__(pidfd, loop)

    def __repr__(self) -> str:
        return f"<PopenChild pid={self._pid} status={self._status}>"

    @property
    def started_with(self) -> str:
        """How the child was started: ``"posix_spawn"`` or ``"popen"``."""
        return "popen" if self._popen is not None else "posix_spawn"

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self._pid

    def take_output(self) -> tuple[int | None, int | None]:
        """Hand over the non-blocking read ends ``(stdout, stderr)``; the caller closes them."""
        output, self._output = self._output, None
        return output if output is not None else (None, None)

    def _collect_exit(self) -> ExitStatus | None:
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            # Someone reaped it through the Popen object already; its returncode is all
            # that is left (no core-dump bit). Reaped by anyone else, Popen answers 0:
            # so does a child without a Popen.
            returncode = self._popen.poll() if self._popen is not None else 0
            if returncode is None:  # pragma: no cover - cannot happen once reaped
                return None
            return _exit_status_from_returncode(returncode)
        if pid == 0:  # spurious wake-up: not exited yet, keep watching
            return None
        status_obj = decode_wait_status(status)
        # Tell Popen, so its poll()/wait() and __del__ know the child is gone.
        if self._popen is not None:
            self._popen.returncode = status_obj.returncode
        return status_obj

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Send ``sig`` to the child (pidfd) or to its process group (killpg)."""
        if self._status is not None or self._pidfd is None:
            raise ProcessLookupError(errno.ESRCH, f"process {self._pid} has already exited")
        if to_group:
            # The child leads its own group (process_group=0), so pgid == pid; the group
            # can outlive the leader only while it is a zombie, which we have not reaped.
            os.killpg(self._pid, sig)
        else:
            signal.pidfd_send_signal(self._pidfd, sig)

    def write_stdin(self, data: bytes) -> None:
        """Queue ``data`` for the child's stdin and write what the pipe takes now."""
        if self._stdin_fd is None:
            raise BrokenPipeError(errno.EPIPE, "process has no open stdin")
        self._stdin_buffer += data
        if not self._stdin_writing:
            self._flush_stdin()

    def _flush_stdin(self) -> None:
        fd = self._stdin_fd
        if fd is None:
            return
        while self._stdin_buffer:
            try:
                written = os.write(fd, self._stdin_buffer)
            except BlockingIOError:
                break
            except OSError:
                # EPIPE: the child closed its stdin or died. Drop the channel like
                # supervisord's PInputDispatcher does and tell the caller.
                self.close_stdin()
                raise
            del self._stdin_buffer[:written]
        want_writer = bool(self._stdin_buffer)
        if want_writer and not self._stdin_writing:
            self._loop.add_writer(fd, self._on_stdin_writable)
        elif not want_writer and self._stdin_writing:
            self._loop.remove_writer(fd)
        self._stdin_writing = want_writer
        if not want_writer:
            self._wake_drained()

    def _wake_drained(self) -> None:
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_result(None)
        self._drained.clear()

    async def wait_stdin_drained(self) -> None:
        """Wait until everything queued by ``write_stdin`` is in the pipe (or stdin closed)."""
        if not self._stdin_buffer or self._stdin_fd is None:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drained.append(waiter)
        await waiter

    def _on_stdin_writable(self) -> None:
        # The caller of write_stdin is long gone: a broken pipe here just closes stdin.
        with contextlib.suppress(OSError):
            self._flush_stdin()

    @property
    def stdin_pending(self) -> int:
        """Bytes queued for stdin that the pipe has not taken yet."""
        return len(self._stdin_buffer)

    def close_stdin(self) -> None:
        """Close our end of the child's stdin (pending data is dropped)."""
        fd, self._stdin_fd = self._stdin_fd, None
        self._stdin_buffer.clear()
        if fd is not None:
            if self._stdin_writing:
                self._loop.remove_writer(fd)
                self._stdin_writing = False
            os.close(fd)
        self._wake_drained()

    def close(self) -> None:
        """Release our fds (pidfd, stdin, untaken output). Does not signal the child."""
        self.close_stdin()
        self._close_pidfd()
        for fd in self.take_output():
            if fd is not None:
                os.close(fd)


def _make_pipe(*, nonblocking_end: int, pipe_size: int | None) -> tuple[int, int]:
    # Both ends are created non-blocking (one syscall) and the child's end is made
    # blocking again with one F_SETFL: set_blocking on our end would cost a F_GETFL
    # and a F_SETFL. The child's stdio must block (programs expect it); O_NONBLOCK is
    # a flag of the open file, so it would reach the child through exec.
    read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    ends = (read_end, write_end)
    ours = ends[nonblocking_end]
    theirs = ends[1 - nonblocking_end]
    try:
        # F_SETFL ignores the access mode bits: 0 clears O_NONBLOCK (and nothing else
        # settable is on a fresh pipe).
        fcntl.fcntl(theirs, fcntl.F_SETFL, 0)
    except OSError:
        _close_all(ends)
        raise
    if pipe_size:
        # Best effort: EPERM when above the unprivileged limit, EBUSY on old kernels.
        with contextlib.suppress(OSError):
            fcntl.fcntl(ours, fcntl.F_SETPIPE_SZ, pipe_size)
    return read_end, write_end


# Above this many fds in superd's table, posix_spawn runs in the private-table thread:
# each spawn copies the caller's fd table into the child (and exec closes the copies),
# so its cost grows with the number of programs (4 fds each): 0.9 ms per spawn with
# 100 fds, 1.5 ms with 14,000, against 1.0 ms flat through the thread's small table,
# whose hand-off costs about 0.1 ms (``bench/spawn_cost.py --extra-fds``).
PRIVATE_TABLE_ABOVE_FDS = 2048
_CLONE_FILES = 0x400
_SYS_PIDFD_GETFD = 438  # x86_64 and aarch64 alike (the generic syscall table)


class _PrivateFdTable:
    """A thread with its own small fd table that calls posix_spawn.

    The thread ``unshare(CLONE_FILES)``s and closes its copy of every fd above 2, so a
    child spawned from it copies a table of a dozen fds whatever superd holds. The
    pipes are made in superd's table as for a direct spawn; the thread copies the
    child's ends into its table (``pidfd_getfd`` on superd's main thread), spawns, and
    closes its copies before it answers, so it never holds one of our ends (a copy of
    the stdin pipe's write end would keep EOF from the child). One request at a time:
    the loop thread waits for each, blocked in a queue, so the GIL passes at once.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[Callable[[], int] | None] = queue.SimpleQueue()
        self._replies: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        # The main thread's table is superd's (only this thread leaves it).
        self._superd = os.pidfd_open(os.getpid())
        thread = threading.Thread(target=self._serve, name="spawn-fd-table", daemon=True)
        thread.start()
        started = self._replies.get()
        if isinstance(started, BaseException):
            os.close(self._superd)
            raise started

    def _serve(self) -> None:
        try:
            if self._libc.unshare(_CLONE_FILES) != 0:
                number = ctypes.get_errno()
                raise OSError(number, f"unshare(CLONE_FILES): {os.strerror(number)}")
            # Our copies only (superd's table is not touched), but the pidfd of superd.
            os.closerange(3, self._superd)
            os.closerange(self._superd + 1, 1 << 20)
            # Refused on kernels without pidfd_getfd (5.6): find out now, not per spawn.
            os.close(self._take(0))
        except OSError as error:
            self._replies.put(error)
            return
        self._replies.put(0)
        while (work := self._requests.get()) is not None:
            try:
                self._replies.put(work())
            except BaseException as error:  # noqa: BLE001 - relayed to the caller, raised there
                self._replies.put(error)
        os.close(self._superd)

    def _take(self, fd: int) -> int:
        taken = int(self._libc.syscall(_SYS_PIDFD_GETFD, self._superd, fd, 0))
        if taken < 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))
        return taken

    def spawn(self, start: Callable[[int, int, int], int], fds: tuple[int, int, int]) -> int:
        """``start(stdin, stdout, stderr)`` in the thread, with copies of superd's ``fds``."""

        def work() -> int:
            copies: list[int] = []
            try:
                # extend keeps the copies taken before a failure: closed below.
                copies.extend(self._take(fd) for fd in fds)
                return start(copies[0], copies[1], copies[2])
            finally:
                _close_all(copies)

        self._requests.put(work)
        result = self._replies.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Stop the thread (it closes its fds)."""
        self._requests.put(None)


class PopenSpawner:
    """The real spawner: ``subprocess.Popen`` + ``os.pidfd_open``.

    Each child gets its own process group (so a Ctrl-C to superd does not reach it and
    ``killasgroup`` can reach its descendants), stdin/stdout/stderr pipes whose parent
    ends are non-blocking, ``close_fds=True`` and the environment of
    ``child_environment()``. Children without ``user=``/``umask=``/``directory=``/
    ``pass_fds`` are started with ``os.posix_spawn`` to the same effect (see the
    module's rules); ``PopenChild.started_with`` says which way.

    Example::

        spawner = PopenSpawner()
        child = spawner.spawn(SpawnRequest(name="web", group_name="web", command="sleep 5"))
        stdout_fd, stderr_fd = child.take_output()
        status = await child.wait_exited()
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        pipe_size: int | None = DEFAULT_PIPE_SIZE,
        posix_spawn: bool = True,
        private_fd_table: bool | None = None,
    ) -> None:
        """Args:
        loop: the loop that watches children (default: the running loop at spawn time).
        pipe_size: requested size of the stdout/stderr pipes (None: kernel default).
        posix_spawn: start children that need no user, umask, directory or pass_fds
            with ``os.posix_spawn`` (False: always ``Popen``).
        private_fd_table: posix_spawn from a thread with a small fd table of its own
            (None: once superd holds more than ``PRIVATE_TABLE_ABOVE_FDS`` fds; it
            falls back to the direct call where the kernel cannot do it).
        """
        self._loop = loop
        self._pipe_size = pipe_size
        self._posix_spawn = posix_spawn and _POSIX_SPAWN_AVAILABLE
        self._private_fd_table = private_fd_table
        self._table: _PrivateFdTable | None = None
        self._fd_hint = 0  # the highest fd number our last pipes got: the table's size
        #: Children started through the private-fd-table thread (for tests and figures).
        self.private_table_spawns = 0
        if self._posix_spawn and _POSIX_SPAWN_CLOSEFROM is None:
            # Without closefrom the posix_spawn path relies on close-on-exec: make the
            # fds superd inherited (the only ones Python did not open so) follow suit.
            _close_inherited_fds_on_exec()

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """Find the file ``command`` executes (see ``get_execv_args``)."""
        get_execv_args(command, environment=environment, base_environment=base_environment)

    def spawn(self, request: SpawnRequest) -> PopenChild:
        """Start the child described by ``request`` (call on the loop's thread).

        Raises:
            SpawnError: with supervisord's spawnerr text.
        """
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        name = request.name
        env = child_environment(request)
        filename, argv = get_execv_args(
            request.command,
            environment=request.environment,
            base_environment=request.base_environment,
        )
        identity = resolve_user(request.user) if request.user is not None else None
        if request.directory is not None:
            _check_directory(request.directory)

        ours: list[int] = []  # parent ends, closed on failure
        theirs: list[int] = []  # child ends, always closed in the parent after Popen
        try:
            stdin_ours: int | None = None
            if request.stdin_fd is None:
                child_in, stdin_ours = _make_pipe(nonblocking_end=1, pipe_size=None)
                ours.append(stdin_ours)
                theirs.append(child_in)
                child_stdin = child_in
            else:
                child_stdin = request.stdin_fd
            stdout_ours, child_out = _make_pipe(nonblocking_end=0, pipe_size=self._pipe_size)
            ours.append(stdout_ours)
            theirs.append(child_out)
            stderr_ours: int | None = None
            child_err: int = subprocess.STDOUT
            if not request.redirect_stderr:
                stderr_ours, child_err = _make_pipe(nonblocking_end=0, pipe_size=self._pipe_size)
                ours.append(stderr_ours)
                theirs.append(child_err)
        except OSError as error:
            _close_all(ours + theirs)
            raise _pipe_error(error, name) from error
        self._fd_hint = max(ours)

        if (
            self._posix_spawn
            and identity is None
            and request.directory is None
            and request.umask is None
            and not request.pass_fds
            # dup2 actions run in order: an end on 0-2 could be overwritten before use.
            and min(theirs) > 2
            and child_stdin > 2
        ):
            try:
                pid = self._posix_spawn_from_fitting_table(
                    filename,
                    argv,
                    env,
                    child_stdin=child_stdin,
                    child_out=child_out,
                    child_err=child_out if child_err == subprocess.STDOUT else child_err,
                )
            except OSError as error:
                _close_all(ours)
                raise _posix_spawn_error(error, request, argv[0]) from error
            finally:
                _close_all(theirs)
            return self._watch(
                None,
                pid,
                request=request,
                loop=loop,
                stdin_ours=stdin_ours,
                stdout_ours=stdout_ours,
                stderr_ours=stderr_ours,
                ours=ours,
            )

        try:
            popen = subprocess.Popen(
                argv,
                executable=filename,
                stdin=child_stdin,
                stdout=child_out,
                stderr=child_err,
                cwd=request.directory,
                env=env,
                close_fds=True,
                pass_fds=request.pass_fds,
                process_group=0,
                umask=request.umask if request.umask is not None else -1,
                user=identity[0] if identity else None,
                group=identity[1] if identity else None,
                extra_groups=list(identity[2]) if identity else None,
            )
        except OSError as error:
            _close_all(ours)
            raise _popen_error(error, request, filename, argv[0]) from error
        finally:
            _close_all(theirs)

        return self._watch(
            popen,
            popen.pid,
            request=request,
            loop=loop,
            stdin_ours=stdin_ours,
            stdout_ours=stdout_ours,
            stderr_ours=stderr_ours,
            ours=ours,
        )

    def _wants_private_table(self) -> bool:
        if self._private_fd_table is None:
            return self._fd_hint > PRIVATE_TABLE_ABOVE_FDS
        return self._private_fd_table

    def _private_table(self) -> _PrivateFdTable | None:
        if self._table is None:
            try:
                self._table = _PrivateFdTable()
            except OSError:
                # An old kernel (pidfd_getfd is Linux 5.6) or a sandbox refusing
                # unshare: the direct call does the same, only slower with many fds.
                self._private_fd_table = False
                return None
        return self._table

    def _posix_spawn_from_fitting_table(
        self,
        filename: str,
        argv: list[str],
        env: Mapping[str, str],
        *,
        child_stdin: int,
        child_out: int,
        child_err: int,
    ) -> int:
        """posix_spawn directly, or from the private-table thread once superd's table is big."""

        def start(stdin: int, out: int, err: int) -> int:
            return self._posix_spawn_child(
                filename, argv, env, child_stdin=stdin, child_out=out, child_err=err
            )

        table = self._private_table() if self._wants_private_table() else None
        if table is None:
            return start(child_stdin, child_out, child_err)
        pid = table.spawn(start, (child_stdin, child_out, child_err))
        self.private_table_spawns += 1
        return pid

    def close(self) -> None:
        """Stop the private-fd-table thread, if one was started (spawning still works).

        For tests and benchmarks: the children it started move to another thread as
        their parent, but one that set ``PR_SET_PDEATHSIG`` gets that signal, since
        the kernel sends it when the creating *thread* ends. superd never calls this.
        """
        table, self._table = self._table, None
        if table is not None:
            table.close()

    @staticmethod
    def _posix_spawn_child(
        filename: str,
        argv: list[str],
        env: Mapping[str, str],
        *,
        child_stdin: int,
        child_out: int,
        child_err: int,
    ) -> int:
        """Start ``filename`` with ``os.posix_spawn``: what ``Popen`` does for us, minus Python.

        Its own process group, stdio from the pipes (stderr onto stdout when
        redirected), SIGPIPE/SIGXFSZ back to their defaults (``restore_signals``);
        every other fd is close-on-exec (or closed by closefrom where Python has it).
        """
        actions: list[tuple[int, ...]] = [
            (os.POSIX_SPAWN_DUP2, child_stdin, 0),
            (os.POSIX_SPAWN_DUP2, child_out, 1),
            (os.POSIX_SPAWN_DUP2, child_out if child_err == subprocess.STDOUT else child_err, 2),
        ]
        if _POSIX_SPAWN_CLOSEFROM is not None:
            actions.append((_POSIX_SPAWN_CLOSEFROM, 3))
        return os.posix_spawn(
            filename,
            argv,
            env,
            file_actions=actions,
            setpgroup=0,
            setsigdef=_RESTORED_SIGNALS,
        )

    def _watch(
        self,
        popen: subprocess.Popen[bytes] | None,
        pid: int,
        *,
        request: SpawnRequest,
        loop: asyncio.AbstractEventLoop,
        stdin_ours: int | None,
        stdout_ours: int,
        stderr_ours: int | None,
        ours: list[int],
    ) -> PopenChild:
        name = request.name
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as error:
            # Without a pidfd we cannot watch it: do not leave an unwatched child behind.
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            if popen is not None:
                popen.wait()
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            _close_all(ours)
            if error.errno in (errno.EMFILE, errno.ENFILE):
                raise SpawnError(f"too many open files to spawn {name!r}") from error
            raise SpawnError(
                f"unknown error during fork for {name!r}: {_errno_name(error)}"
            ) from error
        return PopenChild(
            popen,
            pidfd,
            pid=pid,
            loop=loop,
            stdin_fd=stdin_ours,
            stdout_fd=stdout_ours,
            stderr_fd=stderr_ours,
        )


def _close_inherited_fds_on_exec() -> None:
    """Make every fd above 2 of this process close-on-exec.

    Python opens all its fds so; only fds inherited at superd's start (or made
    inheritable on purpose) are not. ``Popen(close_fds=True)`` kept them out of every
    child; the posix_spawn path keeps them out this way.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for entry in names:
        fd = int(entry)
        if fd <= 2:
            continue
        with contextlib.suppress(OSError):  # the listing's own fd, closed by now
            if os.get_inheritable(fd):
                os.set_inheritable(fd, False)


def _check_directory(directory: str) -> None:
    """Fail early, with supervisord's text, on a ``directory=`` we cannot enter.

    ``Popen`` reports every failure before exec (chdir, setgid, setuid) with the cwd as
    filename, so checking here is what lets the message name the real cause.
    """
    try:
        st = os.stat(directory)
    except OSError as error:
        raise SpawnError(f"couldn't chdir to {directory}: {_errno_name(error)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SpawnError(f"couldn't chdir to {directory}: ENOTDIR")


def _popen_error(error: OSError, request: SpawnRequest, filename: str, program: str) -> SpawnError:
    """Translate a ``Popen`` failure into supervisord's spawnerr text."""
    name = request.name
    code = _errno_name(error)
    if error.filename is not None and error.filename == filename:
        # exec itself failed (ENOEXEC for a script without #!, ...).
        return SpawnError(f"couldn't exec {program}: {code}")
    if request.user is not None and error.errno in (errno.EPERM, errno.EINVAL):
        # setgroups/setgid/setuid in the child before exec.
        return SpawnError(f"couldn't setuid to {request.user}: {code}")
    if error.filename is not None:
        # Before exec, with a cwd: the directory went away since _check_directory.
        return SpawnError(f"couldn't chdir to {error.filename}: {code}")
    # Raised in the parent: fork (or Popen's error pipe) failed.
    if error.errno == errno.EAGAIN:
        return SpawnError(f"Too many processes in process table to spawn {name!r}")
    if error.errno in (errno.EMFILE, errno.ENFILE):
        return SpawnError(f"too many open files to spawn {name!r}")
    return SpawnError(f"unknown error during fork for {name!r}: {code}")


def _pipe_error(error: OSError, name: str) -> SpawnError:
    """supervisord's text for a failure to make a child's pipes."""
    if error.errno in (errno.EMFILE, errno.ENFILE):
        return SpawnError(f"too many open files to spawn {name!r}")
    return SpawnError(f"unknown error making dispatchers for {name!r}: {_errno_name(error)}")


def _posix_spawn_error(error: OSError, request: SpawnRequest, program: str) -> SpawnError:
    """Translate an ``os.posix_spawn`` failure into supervisord's spawnerr text.

    posix_spawn names the file in every error, the clone's included, so the few
    errors fork itself gives are told apart by errno; the rest failed at exec.
    """
    name = request.name
    if error.errno == errno.EAGAIN:
        return SpawnError(f"Too many processes in process table to spawn {name!r}")
    if error.errno in (errno.EMFILE, errno.ENFILE):
        return SpawnError(f"too many open files to spawn {name!r}")
    return SpawnError(f"couldn't exec {program}: {_errno_name(error)}")


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
