"""Children that outlive a killed superd: find a previous run's, report them, deal with them.

When superd dies without stopping its children (kill -9, the OOM killer, a crash),
they keep running, reparented to init. The next superd would spawn a second copy of
each: a program that binds a port then loops in BACKOFF, and nothing says why
(supervisord behaves the same). superd records its children (``children``) and deals
with the survivors of a previous run at start (``[supervisord] survivors``).

Rules of this file:
- Survivors are looked for only when the daemon starts, never at a reload (a
  reload's children are stopped and reaped before the new generation starts).
- A survivor is an entry of the record whose ``(pid, starttime)`` is alive in the
  same boot, written by a superd that is gone (``children.open_pidfd``).
- Each survivor is reported (a warning, ``PROCESS_SURVIVOR``, the process'
  description) before anything is done with it; a kill is waited for (pidfd, no
  polling) before anything autostarts, so no duplicate ever runs beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.child_record import (
    ChildEntry,
    ChildRecordError,
    boot_id,
    process_identity,
    read_record,
)
from supervisor_core.children import AdoptedChild, PidfdWatch, RecordingSpawner, open_pidfd
from supervisor_core.config.model import ProcessConfig, ProgramKind, ReadyKind, SurvivorAction
from supervisor_core.events import ProcessSurvivor
from supervisor_core.lifecycle import Cause, Requester
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import ExitStatus

__all__ = ["Survivor", "SurvivorPlan", "find_survivors"]

logger = logging.getLogger(__name__)

# After SIGKILL a process normally disappears at once; one stuck in the kernel (D
# state, NFS) may not. This long at most, then superd gives up on it and says so.
_KILL_GRACE = 5.0


# --------------------------------------------------------------------------- survivors


@dataclass(frozen=True, slots=True, kw_only=True)
class Survivor:
    """A child of a previous superd still running now, with a pidfd pinning it."""

    entry: ChildEntry
    pidfd: int

    @property
    def namespec(self) -> str:
        """``group:name`` of its program (just ``name`` when they match)."""
        group, name = self.entry.group, self.entry.name
        return name if group == name else f"{group}:{name}"


def find_survivors(path: str, *, boot: str | None = None) -> list[Survivor]:
    """The children the superd that last wrote ``path`` left running.

    A record written in another boot, or by a superd still running, names none. A
    record that cannot be trusted is logged (error) and names none.
    """
    try:
        previous = read_record(path)
    except ChildRecordError as error:
        logger.error("children record ignored: %s", error)
        return []
    if previous is None:
        return []
    if previous.boot_id != (boot_id() if boot is None else boot) or not previous.boot_id:
        return []  # written before a reboot: every process it names is gone
    writer = previous.superd
    if writer is not None and process_identity(writer.pid) == writer:
        logger.error(
            "the superd that wrote %s (pid %s) is still running: its children are not "
            "survivors, and are left alone",
            path,
            writer.pid,
        )
        return []
    found: list[Survivor] = []
    for entry in previous.children:
        if entry.pid == os.getpid():
            continue
        pidfd = open_pidfd(entry)
        if pidfd is not None:
            found.append(Survivor(entry=entry, pidfd=pidfd))
    return found


def _age(entry: ChildEntry, now: float) -> float:
    return max(0.0, now - entry.spawned_at)


class SurvivorPlan:
    """What the first generation does with the survivors found at start.

    :meth:`settle` runs once, after the groups exist and before anything autostarts:
    it reports every survivor (a warning, a ``PROCESS_SURVIVOR`` event, the process'
    status description), then adopts, kills (waiting until they are gone, so no
    duplicate ever runs beside them) or leaves them, as ``action`` says.

    Args:
        survivors: from :func:`find_survivors`.
        action: ``[supervisord] survivors``.
        spawner: the daemon's recording spawner (adoptions go through it).
        wall: wall-clock time (ages).
    """

    def __init__(
        self,
        survivors: Sequence[Survivor],
        action: SurvivorAction,
        spawner: RecordingSpawner,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.survivors = tuple(survivors)
        self.action = action
        self._spawner = spawner
        self._wall = wall
        self._settled = False

    def close(self) -> None:
        """Release the pidfds of survivors never settled (the daemon did not start)."""
        if not self._settled:
            self._settled = True
            for survivor in self.survivors:
                os.close(survivor.pidfd)

    async def settle(
        self, bus: EventBus, runtimes: Mapping[tuple[str, str], ProcessRuntime]
    ) -> None:
        """Report and deal with every survivor; returns once the killed ones are gone."""
        if self._settled:
            return
        self._settled = True  # the pidfds are handed on below
        now = self._wall()
        kills: list[tuple[Survivor, ProcessConfig | None]] = []
        adopted: set[tuple[str, str]] = set()
        for survivor in self.survivors:
            entry = survivor.entry
            key = (entry.group, entry.name)
            runtime = runtimes.get(key)
            action = self._decide(runtime, key in adopted)
            age = _age(entry, now)
            logger.warning(
                "survivor of a killed superd: %s pid %s (running for %.0f s): %s",
                survivor.namespec,
                entry.pid,
                age,
                _ACTION_WORDS[action],
            )
            bus.publish(
                ProcessSurvivor(
                    processname=entry.name,
                    groupname=entry.group,
                    pid=entry.pid,
                    age=round(age, 3),
                    action=action.value,
                )
            )
            if action is SurvivorAction.ADOPT and runtime is not None:
                if self._adopt(survivor, runtime):
                    adopted.add(key)
                    continue
                # The refused adoption closed its pidfd: open another one to kill it.
                pidfd = open_pidfd(entry)
                if pidfd is None:
                    continue  # gone meanwhile
                survivor = Survivor(entry=entry, pidfd=pidfd)
                action = SurvivorAction.KILL
            if action is SurvivorAction.LEAVE:
                self._leave(survivor, runtime)
            else:
                kills.append((survivor, runtime.config if runtime is not None else None))
        if kills:
            await asyncio.gather(*(_kill(survivor, config) for survivor, config in kills))

    def _decide(self, runtime: ProcessRuntime | None, already_adopted: bool) -> SurvivorAction:
        if self.action is not SurvivorAction.ADOPT:
            return self.action
        if (
            runtime is None  # its program is no longer configured
            or already_adopted
            or runtime.config.kind is ProgramKind.EVENTLISTENER  # the protocol needs pipes
            # Its NOTIFY_SOCKET was the killed superd's: READY=1 could never arrive.
            or runtime.config.ready.kind is ReadyKind.NOTIFY
        ):
            return SurvivorAction.KILL
        return SurvivorAction.ADOPT

    def _adopt(self, survivor: Survivor, runtime: ProcessRuntime) -> bool:
        entry = survivor.entry
        child = AdoptedChild(entry, survivor.pidfd, asyncio.get_running_loop())
        self._spawner.adopt(entry.group, entry.name, child)
        requester = Requester(
            cause=Cause.AUTOSTART, origin=f"adopted pid {entry.pid} of a killed superd"
        )
        try:
            runtime.start_nowait(requester)
        except control.ControlError as error:
            self._spawner.cancel_adoption(entry.group, entry.name)
            logger.warning(
                "%s: cannot adopt pid %s (%s): killing it", runtime.namespec, entry.pid, error
            )
            child.close()
            return False
        note = f"adopted from a killed superd (pid {entry.pid})"
        runtime.survivor = note
        self._spawner.registry.add(entry)
        pid = entry.pid

        def exited(_status: ExitStatus) -> None:
            self._spawner.registry.discard(pid)
            if runtime.survivor == note:
                runtime.survivor = ""

        child.add_exit_callback(exited)
        return True

    def _leave(self, survivor: Survivor, runtime: ProcessRuntime | None) -> None:
        entry = survivor.entry
        note = f"a killed superd's pid {entry.pid} still runs (survivors = leave)"
        if runtime is not None:
            runtime.survivor = note

        def gone() -> None:
            logger.info("survivor %s pid %s has exited", survivor.namespec, entry.pid)
            if runtime is not None and runtime.survivor == note:
                runtime.survivor = ""

        # Still ours to report: kept in the record until it exits.
        self._spawner.registry.watch(entry, survivor.pidfd, gone)


_ACTION_WORDS = {
    SurvivorAction.KILL: "stopping it before anything starts (survivors = kill)",
    SurvivorAction.ADOPT: "adopting it as the program's process (survivors = adopt)",
    SurvivorAction.LEAVE: "leaving it running (survivors = leave)",
}


async def _kill(survivor: Survivor, config: ProcessConfig | None) -> None:
    """Stop one survivor as its program stops: stopsignal, stopwaitsecs, then SIGKILL."""
    entry = survivor.entry
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def on_gone() -> None:
        if not gone.done():
            gone.set_result(None)

    watch = PidfdWatch(survivor.pidfd, loop, on_gone)
    stopsignal = config.stopsignal if config is not None else signal.SIGTERM
    stopwaitsecs = float(config.stopwaitsecs) if config is not None else 10.0
    try:
        _signal(watch, entry.pid, stopsignal, to_group=config is not None and config.stopasgroup)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(gone), stopwaitsecs)
        if gone.done():
            logger.info("survivor %s pid %s stopped", survivor.namespec, entry.pid)
            return
        logger.warning(
            "survivor %s pid %s still running after %g s: sending SIGKILL",
            survivor.namespec,
            entry.pid,
            stopwaitsecs,
        )
        _signal(
            watch, entry.pid, signal.SIGKILL, to_group=config is not None and config.killasgroup
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(gone), _KILL_GRACE)
        if not gone.done():
            logger.error(
                "survivor %s pid %s did not die after SIGKILL; starting anyway",
                survivor.namespec,
                entry.pid,
            )
        else:
            logger.info("survivor %s pid %s killed", survivor.namespec, entry.pid)
    finally:
        watch.close()


def _signal(watch: PidfdWatch, pid: int, sig: int, *, to_group: bool) -> None:
    pidfd = watch.pidfd
    if pidfd is None:
        return  # already gone
    try:
        if to_group:
            try:
                os.killpg(pid, sig)
                return
            except ProcessLookupError:
                pass  # it left the group it led (setsid, setpgid): signal it alone
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return
    except OSError as error:
        logger.error("cannot signal survivor pid %s: %s", pid, error.strerror or error)
