"""The OS side of running superd as a daemon: rlimits, privileges, detaching, pidfile, signals.

Rules of this file:
- Each function does one OS thing and reports failure as :class:`DaemonError` whose
  message is supervisord's wording (operators and scripts grep for it); only the CLI
  turns it into an exit status.
- :func:`daemonize` forks, so it must run before any event loop or thread exists.
  Unlike supervisord, the process that started ``superd`` waits for the daemon to say
  "started" (or why it failed) through a pipe, so ``superd`` returns only once the
  daemon is serving, and a daemon that fails to bind its sockets still exits 2.
- :class:`SignalRecorder` follows "the handler records, the loop acts": handlers only
  append to a queue and wake a waiter; previous handlers come back on ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import resource
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from supervisor_core.config import converters


class DaemonError(Exception):
    """superd cannot run as configured; the message says why, in supervisord's words."""


# --------------------------------------------------------------------------- rlimits

_NOFILE_MESSAGE = (
    "The minimum number of file descriptors required to run this process is {minimum} "
    'as per the "minfds" command-line argument or config file setting. The current '
    "environment will only allow you to open {hard} file descriptors.  Either raise the "
    "number of usable file descriptors in your environment (see README.rst) or lower the "
    "minfds setting in the config file to allow the process to start."
)
_NPROC_MESSAGE = (
    "The minimum number of available processes required to run this program is {minimum} "
    'as per the "minprocs" command-line argument or config file setting. The current '
    "environment will only allow you to open {hard} processes.  Either raise the number "
    "of usable processes in your environment (see README.rst) or lower the minprocs "
    "setting in the config file to allow the program to start."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Limit:
    name: str
    resource: int
    minimum: int
    message: str


def raise_rlimits(*, minfds: int, minprocs: int) -> list[str]:
    """Raise RLIMIT_NOFILE / RLIMIT_NPROC to ``minfds`` / ``minprocs`` when below.

    Returns the info lines to log (``Increased RLIMIT_NOFILE limit to 1024``), as
    supervisord does once its logger exists.

    Raises:
        DaemonError: a limit could not be raised (supervisord's message).
    """
    limits = (
        _Limit(
            name="RLIMIT_NOFILE",
            resource=resource.RLIMIT_NOFILE,
            minimum=minfds,
            message=_NOFILE_MESSAGE,
        ),
        _Limit(
            name="RLIMIT_NPROC",
            resource=resource.RLIMIT_NPROC,
            minimum=minprocs,
            message=_NPROC_MESSAGE,
        ),
    )
    infos: list[str] = []
    for limit in limits:
        soft, hard = resource.getrlimit(limit.resource)
        if soft == resource.RLIM_INFINITY or soft >= limit.minimum:
            continue
        new_hard = hard
        if hard != resource.RLIM_INFINITY and hard < limit.minimum:
            # Only root may raise the hard limit; for anyone else setrlimit fails below.
            new_hard = limit.minimum
        try:
            resource.setrlimit(limit.resource, (limit.minimum, new_hard))
        except (OSError, ValueError) as error:
            raise DaemonError(limit.message.format(minimum=limit.minimum, hard=hard)) from error
        infos.append(f"Increased {limit.name} limit to {limit.minimum}")
    return infos


# --------------------------------------------------------------------------- privileges


def drop_privileges(user: str | None) -> list[tuple[int, str]]:
    """Become ``user`` (name or uid) when running as root, as supervisord's ``user=``.

    Returns ``(logging level, message)`` pairs to log once the main log exists:
    supervisord's "running as root" critical when no user is configured, or the
    "Set uid" info.

    Raises:
        DaemonError: the user is unknown, or we are not root and not already that user.
    """
    if user is None:
        if os.getuid() == 0:
            return [
                (
                    logging.CRITICAL,
                    "Supervisor is running as root.  Privileges were not dropped because no "
                    "user is specified in the config file.  If you intend to run as root, you can "
                    "set user=root in the config file to avoid this message.",
                )
            ]
        return []
    try:
        uid = converters.name_to_uid(user)
    except ValueError as error:
        raise DaemonError(str(error)) from error
    current = os.getuid()
    if current == uid:
        return []
    if current != 0:
        raise DaemonError("Can't drop privilege as nonroot user")
    gid = converters.gid_for_uid(uid)
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    try:
        if name is not None:
            os.initgroups(name, gid)
        else:
            os.setgroups([gid])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as error:
        raise DaemonError(f"Could not set user id of process to {uid}: {error}") from error
    return [(logging.INFO, f"Set uid to user {uid} succeeded")]


# --------------------------------------------------------------------------- detaching


@dataclass(slots=True)
class StartupReport:
    """The daemon's end of the pipe to the process that ran ``superd`` (daemonized mode).

    Call :meth:`started` once serving, or :meth:`failed` with the reason; the
    waiting parent then exits 0 or prints the reason and exits 2. Idempotent.
    """

    fd: int | None

    def started(self) -> None:
        """Tell the waiting parent that the daemon runs."""
        self._send(b"ok\n")

    def failed(self, message: str) -> None:
        """Tell the waiting parent why the daemon could not start."""
        self._send(b"error " + message.encode("utf-8", "replace") + b"\n")

    def _send(self, data: bytes) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(fd, data)
        with contextlib.suppress(OSError):
            os.close(fd)


def _redirect_std_fds() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def daemonize(directory: str | None, *, wait_for_report: bool = True) -> StartupReport:
    """Detach from the terminal: fork, setsid, fork again, chdir, std fds to /dev/null.

    Runs before the event loop. The original process does not return: it waits for
    the daemon's :class:`StartupReport` and exits 0 when it reports "started", or
    writes the reason to stderr and exits 2. The grandchild (the daemon, never a
    session leader so it cannot reacquire a terminal) returns the report to fill in.

    Raises:
        DaemonError: ``directory`` cannot be entered (checked before forking, so the
            operator sees it; supervisord only logs it).
    """
    target = directory if directory else "/"
    if not os.path.isdir(target):
        raise DaemonError(f"can't chdir into {target!r}: not a directory")
    read_end, write_end = os.pipe()
    if os.fork() != 0:
        os.close(write_end)
        os._exit(_wait_for_daemon(read_end) if wait_for_report else 0)
    os.close(read_end)
    os.setsid()
    if os.fork() != 0:
        # The session leader exits so the daemon can never acquire a controlling tty.
        os._exit(0)
    os.chdir(target)
    _redirect_std_fds()
    return StartupReport(write_end)


def _wait_for_daemon(read_end: int) -> int:
    chunks = []
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    if text == "ok":
        return 0
    reason = text.removeprefix("error ").strip() or "the daemon exited before it was ready"
    with contextlib.suppress(OSError):
        os.write(2, f"superd: {reason}\n".encode())
    return 2


# --------------------------------------------------------------------------- files


def write_pidfile(path: str, pid: int | None = None) -> None:
    """Write ``pid`` (default: ours) and a newline to ``path``.

    Raises:
        DaemonError: the file cannot be written (supervisord only logs this as critical).
    """
    try:
        with open(path, "w", encoding="ascii") as file:
            file.write(f"{os.getpid() if pid is None else pid}\n")
    except OSError as error:
        raise DaemonError(f"could not write pidfile {path}") from error


def remove_file(path: str) -> None:
    """Remove ``path``, ignoring a missing file."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def clear_auto_child_logs(childlogdir: str, identifier: str) -> list[str]:
    """Remove AUTO child logs (and backups) of an earlier run, as supervisord does at start.

    Matches supervisord's ``name-channel---identifier-XXXXXX.log[.N]`` names.
    Returns warnings to log (directory unreadable, a file that would not go).
    """
    pattern = re.compile(r".+?---" + re.escape(identifier) + r"-\S+\.log\.{0,1}\d{0,4}")
    try:
        names = os.listdir(childlogdir)
    except OSError:
        return ["Could not clear childlog dir"]
    warnings = []
    for name in names:
        if pattern.match(name):
            path = os.path.join(childlogdir, name)
            try:
                os.remove(path)
            except OSError:
                warnings.append(f"Failed to clean up {path!r}")
    return warnings


# --------------------------------------------------------------------------- signals

# supervisord's signals: TERM/INT/QUIT shut down, HUP restarts, USR2 reopens logs.
DAEMON_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2)


class SignalRecorder:
    """Hands signals delivered to the process to ``on_signal`` on the event loop.

    Example::

        with SignalRecorder(loop, DAEMON_SIGNALS, on_signal=supervisor.receive_signal):
            await supervisor.run()

    Handlers are installed with ``loop.add_signal_handler``, so ``on_signal`` runs as
    an ordinary loop callback, never inside the C-level handler; it should only
    record the signal and wake whoever acts on it. ``close`` removes the handlers
    and puts back whatever was installed before, so the daemon can run inside tests
    and notebooks.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        signals: Iterable[signal.Signals] = DAEMON_SIGNALS,
        *,
        on_signal: Callable[[signal.Signals], None],
    ) -> None:
        self._loop = loop
        self._previous: dict[signal.Signals, signal._HANDLER] = {}
        for sig in signals:
            self._previous[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal, sig)

    def close(self) -> None:
        """Remove our handlers and restore the previous ones (idempotent)."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            self._loop.remove_signal_handler(sig)
            if handler is not None:
                signal.signal(sig, handler)

    def __enter__(self) -> SignalRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
