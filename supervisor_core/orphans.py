"""Reaping orphans: superd as PID 1 of a container, or as a child subreaper.

Rules of this file:
- The kernel hands an orphan (a process whose parent died: the grandchild of a program
  that daemonized, forked a helper and exited, ...) to the nearest ancestor that is a
  *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), else to PID 1 of its PID
  namespace. Either way it becomes our child, and nobody else will ever ``wait()`` for
  it: left alone it stays a zombie and holds its pid. :class:`OrphanReaper` reaps them.
- Our own children (programs, event listeners, command probes) are reaped by their
  owners through a pidfd (``spawn.PopenChild``, ``probes``), which keeps their exit
  status. The reaper must never steal one: it only *peeks* at the next exited child
  (``waitid(P_ALL, WNOHANG | WNOWAIT)``, which leaves it a zombie) and reaps it by pid
  only when no owner has claimed that pid. Owners claim a pid synchronously, on the
  loop's thread, right after the fork, so a sweep (a loop callback) can never see an
  unclaimed child of ours. Whatever forks in superd must claim its children this way
  (``ClaimingSpawner`` does it for every spawner's children, ``probes`` takes a
  claim hook); an unclaimed child is an orphan to this module, and its exit is taken.
- DESIGN.md's "no ``waitpid(-1)``" stands: nothing here waits for "any child"; the
  P_ALL call only looks, and reaping is by pid, of a child no owner claimed.
- ``waitid(P_ALL)`` reports the first exited child in the kernel's list: while that one
  is claimed, the ones behind it cannot be seen. The sweep then stops and resumes when
  the owner releases its claim (after reaping): event driven, no poll, no spinning.
- Woken by SIGCHLD (``loop.add_signal_handler``: the handler records, the loop acts).
  SIGCHLD is not queued (two exits can make one signal), so each sweep reaps every
  exited orphan it can see, bounded per loop turn so a burst cannot starve the loop.
- An orphan's exit is not a process event: it is counted (:meth:`OrphanReaper.snapshot`)
  and logged at debug, never published as a program's transition.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from supervisor_core.signals import describe_returncode

if TYPE_CHECKING:
    from supervisor_core.spawn import ChildHandle, ExitStatus, Spawner, SpawnRequest

__all__ = [
    "ClaimingSpawner",
    "OrphanReaper",
    "ReaperSnapshot",
    "SubreaperError",
    "is_child_subreaper",
    "set_child_subreaper",
]

logger = logging.getLogger(__name__)

# <linux/prctl.h>
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
# Orphans reaped per loop turn; the rest in the next turn (call_soon).
SWEEP_BATCH = 256


class SubreaperError(OSError):
    """The kernel refused ``PR_SET_CHILD_SUBREAPER`` (or prctl is not available)."""


def _prctl() -> Callable[..., int]:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    function = libc.prctl
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]
    function.restype = ctypes.c_int
    prctl: Callable[..., int] = function
    return prctl


def set_child_subreaper(enabled: bool = True) -> None:
    """Make this process a child subreaper (Linux >= 3.4), or stop being one.

    Not inherited across fork (a daemonizing superd calls it in the daemon itself);
    kept across exec.

    Raises:
        SubreaperError: prctl failed (the message has the errno text).
    """
    try:
        prctl = _prctl()
    except (OSError, AttributeError) as error:
        raise SubreaperError(f"prctl is not available: {error}") from error
    if prctl(PR_SET_CHILD_SUBREAPER, 1 if enabled else 0, 0, 0, 0) != 0:
        number = ctypes.get_errno()
        raise SubreaperError(number, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(number)}")


def is_child_subreaper() -> bool:
    """Whether this process is a child subreaper (``PR_GET_CHILD_SUBREAPER``).

    Raises:
        SubreaperError: prctl failed.
    """
    try:
        prctl = _prctl()
    except (OSError, AttributeError) as error:
        raise SubreaperError(f"prctl is not available: {error}") from error
    flag = ctypes.c_int(0)
    if prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(flag), 0, 0, 0) != 0:
        number = ctypes.get_errno()
        raise SubreaperError(number, f"prctl(PR_GET_CHILD_SUBREAPER): {os.strerror(number)}")
    return flag.value != 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaperSnapshot:
    """What the reaper did so far: orphans reaped, and the last one's pid and returncode."""

    reaped: int
    claimed: int
    last_pid: int | None
    last_returncode: int | None


def _returncode(status: int) -> int:
    # Popen's convention: the exit code, or -N when killed by signal N.
    return os.waitstatus_to_exitcode(status)


class OrphanReaper:
    """Reaps the exited children nobody in this process owns, on SIGCHLD.

    Example::

        reaper = OrphanReaper(loop)
        reaper.install()                     # SIGCHLD -> sweep
        spawner = ClaimingSpawner(PopenSpawner(), reaper)
        ...
        reaper.close()

    Owners of children call :meth:`claim` right after forking (on the loop's thread)
    and :meth:`release` once they reaped the child.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # pid -> "has the owner reaped it?"; a claim whose owner reaped the child
        # without releasing (it cannot happen with our owners) is dropped when seen.
        self._claims: dict[int, Callable[[], bool]] = {}
        self._blocked_on: int | None = None
        self._scheduled = False
        self._installed = False
        self._reaped = 0
        self._last_pid: int | None = None
        self._last_returncode: int | None = None

    # -- claims ---------------------------------------------------------------------

    def claim(self, pid: int, reaped: Callable[[], bool]) -> None:
        """``pid`` is a child an owner in this process will reap; ``reaped()`` says once done."""
        self._claims[pid] = reaped

    def release(self, pid: int) -> None:
        """The owner of ``pid`` reaped it: resume a sweep that waited behind it."""
        self._claims.pop(pid, None)
        if self._blocked_on == pid:
            self._blocked_on = None
            self._schedule()

    def claim_popen(self, popen: subprocess.Popen[bytes]) -> Callable[[], None]:
        """Claim a ``Popen`` child; returns the function to call once it has been reaped."""
        pid = popen.pid
        self.claim(pid, lambda: popen.returncode is not None)
        return lambda: self.release(pid)

    def _owned(self, pid: int) -> bool:
        reaped = self._claims.get(pid)
        if reaped is None:
            return False
        if reaped():
            # The owner is done with that pid; a zombie carrying it now is someone else.
            del self._claims[pid]
            return False
        return True

    # -- SIGCHLD ----------------------------------------------------------------------

    def install(self) -> None:
        """Sweep on every SIGCHLD, and once now (orphans may have exited already)."""
        if not self._installed:
            self._loop.add_signal_handler(signal.SIGCHLD, self._schedule)
            self._installed = True
        self._schedule()

    def close(self) -> None:
        """Stop listening to SIGCHLD (idempotent); a last sweep reaps what is left."""
        if self._installed:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._installed = False
            self.sweep()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_sweep)

    def _scheduled_sweep(self) -> None:
        self._scheduled = False
        if self.sweep() == SWEEP_BATCH:
            self._schedule()  # more may be waiting: the next turn, after other callbacks

    def sweep(self) -> int:
        """Reap the exited orphans that can be seen now (at most ``SWEEP_BATCH``).

        Returns how many were reaped. Stops at the first exited child that an owner
        claimed: it is the owner's to reap, and :meth:`release` resumes the sweep.
        """
        reaped = 0
        while reaped < SWEEP_BATCH:
            try:
                # WNOWAIT: look, do not reap; the child stays a zombie for its owner.
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break  # no children at all
            if info is None:
                break  # children, none exited
            pid = info.si_pid
            if self._owned(pid):
                self._blocked_on = pid
                break
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue  # reaped elsewhere in between (a thread's own wait)
            if done == 0:  # pragma: no cover - waitid just saw it exited
                break
            reaped += 1
            self._count(pid, _returncode(status))
        return reaped

    def _count(self, pid: int, returncode: int) -> None:
        self._reaped += 1
        self._last_pid = pid
        self._last_returncode = returncode
        logger.debug("reaped orphan pid %d (%s)", pid, describe_returncode(returncode))

    def snapshot(self) -> ReaperSnapshot:
        """Counts so far."""
        return ReaperSnapshot(
            reaped=self._reaped,
            claimed=len(self._claims),
            last_pid=self._last_pid,
            last_returncode=self._last_returncode,
        )


class ClaimingSpawner:
    """A ``Spawner`` that claims each child it starts from an :class:`OrphanReaper`.

    Wraps the real spawner: the claim is made right after ``spawn`` returns (same loop
    turn, before any sweep can run) and released once the owner has reaped the child
    (an exit callback), or when the owner stops watching a child that still runs
    (``close()`` before the exit, a process removed in UNKNOWN): from then on nobody
    else will wait for it, so its exit is the reaper's to collect.
    """

    def __init__(self, inner: Spawner, reaper: OrphanReaper) -> None:
        self._inner = inner
        self._reaper = reaper

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """The wrapped spawner's check."""
        self._inner.check_command(
            command, environment=environment, base_environment=base_environment
        )

    def spawn(self, request: SpawnRequest) -> ChildHandle:
        """Spawn through the wrapped spawner and claim the child."""
        return _ClaimedChild(self._inner.spawn(request), self._reaper)


class _ClaimedChild:
    """A ``ChildHandle`` that releases its claim when reaped or abandoned; else the child's."""

    def __init__(self, child: ChildHandle, reaper: OrphanReaper) -> None:
        self._child = child
        self._reaper = reaper
        pid = child.pid
        reaper.claim(pid, lambda: child.returncode is not None)
        child.add_exit_callback(lambda _status: reaper.release(pid))

    def __repr__(self) -> str:
        return repr(self._child)

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        """``Popen``-style returncode once reaped, else None."""
        return self._child.returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        """The decoded exit once reaped, else None."""
        return self._child.exit_status

    def take_output(self) -> tuple[int | None, int | None]:
        """The read ends of the child's output (see ``ChildHandle``)."""
        return self._child.take_output()

    def add_exit_callback(self, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` on the loop once the child has been reaped."""
        self._child.add_exit_callback(callback)

    async def wait_exited(self) -> ExitStatus:
        """Wait until the child has exited and been reaped."""
        return await self._child.wait_exited()

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Send ``sig`` to the child (or its group)."""
        self._child.send_signal(sig, to_group=to_group)

    def write_stdin(self, data: bytes) -> None:
        """Queue ``data`` for the child's stdin."""
        self._child.write_stdin(data)

    async def wait_stdin_drained(self) -> None:
        """Wait until the queued stdin data is in the pipe."""
        await self._child.wait_stdin_drained()

    def close_stdin(self) -> None:
        """Close our end of the child's stdin."""
        self._child.close_stdin()

    def close(self) -> None:
        """Release the child's fds; a child still running is left to the reaper."""
        self._child.close()
        self._reaper.release(self._child.pid)
