"""Children that outlive a killed superd: remember ours, find a previous run's, deal with them.

When superd dies without stopping its children (kill -9, the OOM killer, a crash),
they keep running, reparented to init. The next superd would spawn a second copy of
each: a program that binds a port then loops in BACKOFF, and nothing says why
(supervisord behaves the same). superd remembers its children instead and deals
with the survivors of a previous run at start (``[supervisord] survivors``).

Rules of this file:
- :class:`ChildRegistry` keeps the live children and writes them to the record
  (``child_record``) at most once per loop iteration after a change, so a crash
  storm of many programs costs one small write per loop turn, not one per spawn.
  Entries leave when the child has exited (its exit callback), never earlier.
- :class:`RecordingSpawner` wraps the real spawner: every spawn is recorded, and the
  first spawn of a program a survivor is adopted for returns the survivor
  (:class:`AdoptedChild`) instead of forking. ``process.py`` is not touched: an
  adopted survivor goes through the ordinary STARTING -> RUNNING steps.
- Survivors are looked for only when the daemon starts, never at a reload (a
  reload's children are stopped and reaped before the new generation starts).
- Processes that are not our children are watched through a pidfd on the loop
  (``os.pidfd_open`` + ``loop.add_reader``), never polled; they are signalled through
  the pidfd (or ``killpg`` for the ``*asgroup`` options: the survivor leads its
  group, and a live leader keeps the group id from being reused).
- A survivor is ``(pid, starttime)`` of the record, alive now with the same start
  time in the same boot, checked again once its pidfd is open (a pidfd pins the
  process, so nothing can be recycled after that check).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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
    RecordWriter,
    boot_id,
    encode_entry,
    process_identity,
    read_record,
    read_stat,
)
from supervisor_core.config.model import ProcessConfig, ProgramKind, ReadyKind, SurvivorAction
from supervisor_core.events import ProcessSurvivor
from supervisor_core.lifecycle import Cause, Requester
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import (
    ChildHandle,
    ExitStatus,
    Spawner,
    SpawnRequest,
    decode_wait_status,
)

__all__ = [
    "UNKNOWN_EXIT_STATUS",
    "AdoptedChild",
    "ChildRegistry",
    "RecordingSpawner",
    "Survivor",
    "SurvivorPlan",
    "find_survivors",
    "record_path",
]

logger = logging.getLogger(__name__)

UNKNOWN_EXIT_STATUS = 255
"""The exit status reported for an adopted survivor whose real status could not be
read: it is not our child, so its status goes to its new parent (init)."""

# After SIGKILL a process normally disappears at once; one stuck in the kernel (D
# state, NFS) may not. This long at most, then superd gives up on it and says so.
_KILL_GRACE = 5.0


def record_path(pidfile: str) -> str:
    """Where the children of the superd that writes ``pidfile`` are recorded."""
    return f"{pidfile}.children"


# --------------------------------------------------------------------------- watching


def _open_pidfd(entry: ChildEntry) -> int | None:
    """A pidfd on the process ``entry`` names, or None if that process is gone."""
    identity = process_identity(entry.pid)
    if identity is None or identity.starttime != entry.starttime:
        return None
    try:
        pidfd = os.pidfd_open(entry.pid)
    except OSError:
        return None
    # The pid may have died and been reused between the check and the open: check
    # again, now that the pidfd pins whatever process it opened.
    identity = process_identity(entry.pid)
    if identity is None or identity.starttime != entry.starttime:
        os.close(pidfd)
        return None
    return pidfd


def _zombie_status(entry: ChildEntry) -> ExitStatus | None:
    """The wait status a dead survivor left in ``/proc/PID/stat`` (field 52).

    Readable only while it is a zombie that its new parent has not reaped yet.
    """
    data = read_stat(entry.pid)
    if data is None:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        state, starttime, status = fields[0], int(fields[19]), int(fields[49])
    except (IndexError, ValueError):
        return None
    if state != b"Z" or starttime != entry.starttime:
        return None
    return decode_wait_status(status)


class _Watch:
    """Calls ``on_gone`` once, on the loop, when the process behind ``pidfd`` ends."""

    def __init__(
        self, pidfd: int, loop: asyncio.AbstractEventLoop, on_gone: Callable[[], None]
    ) -> None:
        self._pidfd: int | None = pidfd
        self._loop = loop
        self._on_gone = on_gone
        self.gone = False
        loop.add_reader(pidfd, self._readable)

    @property
    def pidfd(self) -> int | None:
        """The pidfd while it is watched."""
        return self._pidfd

    def _readable(self) -> None:
        # A pidfd is readable once the process has terminated (pidfd_open(2)).
        self.gone = True
        on_gone = self._on_gone
        self.close()
        on_gone()

    def close(self) -> None:
        """Stop watching and close the pidfd (idempotent)."""
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)


# --------------------------------------------------------------------------- registry


class ChildRegistry:
    """superd's live children, mirrored to the record at ``path``.

    Example::

        registry = ChildRegistry(record_path(pidfile))
        registry.track(child, group="web", name="web")  # written at the next loop turn
        registry.close()  # at exit: the file goes if no child is left

    Args:
        path: the record file.
        boot: this boot's id (``child_record.boot_id()``).
        wall: wall-clock time, for the entries' ``spawned_at``.
    """

    def __init__(
        self, path: str, *, boot: str | None = None, wall: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.boot = boot_id() if boot is None else boot
        self._wall = wall
        # pid -> (entry, its JSON): encoded once, so a write of N children only joins.
        self._entries: dict[int, tuple[ChildEntry, bytes]] = {}
        self._flush_scheduled = False
        # Opened at the first write: a start that fails (another superd holds the
        # socket) must leave that superd's record alone.
        self._writer: RecordWriter | None = None
        self._disabled = False  # the file cannot be trusted: never written
        self._failing = False
        self._watches: list[_Watch] = []
        self.writes = 0
        """Record writes so far (one per loop iteration with a change, at most)."""

    def entries(self) -> tuple[ChildEntry, ...]:
        """The children recorded now, in the order they were added."""
        return tuple(entry for entry, _ in self._entries.values())

    def track(self, child: ChildHandle, *, group: str, name: str) -> None:
        """Record a child just spawned; its exit removes it again."""
        identity = process_identity(child.pid)
        if identity is None:
            return  # already exited: nothing could survive
        self.add(
            ChildEntry(
                pid=child.pid,
                starttime=identity.starttime,
                group=group,
                name=name,
                spawned_at=self._wall(),
            )
        )
        pid = child.pid
        child.add_exit_callback(lambda _status: self.discard(pid))

    def add(self, entry: ChildEntry) -> None:
        """Record ``entry`` (written at the next loop turn)."""
        self._entries[entry.pid] = (entry, encode_entry(entry))
        self._schedule()

    def discard(self, pid: int) -> None:
        """Forget the child ``pid`` (it exited)."""
        if self._entries.pop(pid, None) is not None:
            self._schedule()

    def watch(self, entry: ChildEntry, pidfd: int, on_gone: Callable[[], None]) -> None:
        """Keep ``entry`` (a survivor left running) until its pidfd says it is gone."""
        self.add(entry)

        def gone() -> None:
            self.discard(entry.pid)
            on_gone()

        self._watches.append(_Watch(pidfd, asyncio.get_running_loop(), gone))

    def _schedule(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop (a test, or the exit path): write now
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the record now; a failure is logged (once per episode), never raised."""
        self._flush_scheduled = False
        if self._disabled:
            return
        try:
            if self._writer is None:
                self._writer = RecordWriter(self.path)
            self._writer.write(self.boot, [encoded for _, encoded in self._entries.values()])
        except ChildRecordError as error:
            self._disabled = True
            logger.error(
                "children record not kept: %s (survivors of this run would not be found "
                "after a crash)",
                error,
            )
            return
        except OSError as error:
            if not self._failing:
                logger.error(
                    "cannot write the children record %s: %s (survivors of this run "
                    "would not be found after a crash)",
                    self.path,
                    error.strerror or error,
                )
            self._failing = True
            return
        self.writes += 1
        if self._failing:
            logger.warning("children record %s written again", self.path)
            self._failing = False

    def close(self) -> None:
        """At exit: stop watching; remove the record when no child is left, else write it."""
        for watch in self._watches:
            watch.close()
        self._watches.clear()
        if self._flush_scheduled or self._entries:
            self.flush()  # the last changes (children left in UNKNOWN stay recorded)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(remove=not self._entries)


# --------------------------------------------------------------------------- adopted child


class AdoptedChild:
    """A survivor taken on as a program's process: a ``ChildHandle`` that is not our child.

    It has no pipes (its output went to the killed superd's pipes: its next write
    gets EPIPE, or SIGPIPE kills it), so nothing is logged and stdin is closed. Its
    exit is seen through the pidfd; the status is the one the zombie shows in
    ``/proc`` when we are quicker than its new parent, else :data:`UNKNOWN_EXIT_STATUS`.
    """

    def __init__(self, entry: ChildEntry, pidfd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.entry = entry
        self._status: ExitStatus | None = None
        self._callbacks: list[Callable[[ExitStatus], None]] = []
        self._waiters: list[asyncio.Future[ExitStatus]] = []
        self._loop = loop
        self._watch = _Watch(pidfd, loop, self._on_gone)

    def __repr__(self) -> str:
        return f"<AdoptedChild pid={self.entry.pid} status={self._status}>"

    @property
    def pid(self) -> int:
        """The survivor's pid (its process group id too)."""
        return self.entry.pid

    @property
    def returncode(self) -> int | None:
        """``Popen``-style returncode once it has exited, else None."""
        return None if self._status is None else self._status.returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        """How it ended, once it has (see the class docstring)."""
        return self._status

    def take_output(self) -> tuple[int | None, int | None]:
        """No pipes: ``(None, None)``."""
        return None, None

    def add_exit_callback(self, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` on the loop once it has exited."""
        if self._status is not None:
            self._loop.call_soon(callback, self._status)
        else:
            self._callbacks.append(callback)

    async def wait_exited(self) -> ExitStatus:
        """Wait until it has exited."""
        if self._status is not None:
            return self._status
        waiter: asyncio.Future[ExitStatus] = self._loop.create_future()
        self._waiters.append(waiter)
        return await waiter

    def _on_gone(self) -> None:
        status = _zombie_status(self.entry)
        if status is None:
            try:
                # A survivor can be our child only when superd is its subreaper.
                pid, raw = os.waitpid(self.entry.pid, os.WNOHANG)
            except ChildProcessError:
                pid, raw = 0, 0
            if pid == self.entry.pid:
                status = decode_wait_status(raw)
        if status is None:
            status = ExitStatus(
                returncode=UNKNOWN_EXIT_STATUS, exitcode=UNKNOWN_EXIT_STATUS, signal=None
            )
        self._status = status
        for callback in self._callbacks:
            self._loop.call_soon(callback, status)
        self._callbacks.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(status)
        self._waiters.clear()

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Send ``sig`` through the pidfd, or with ``to_group`` to its process group."""
        pidfd = self._watch.pidfd
        if self._status is not None or pidfd is None:
            raise ProcessLookupError(errno.ESRCH, f"process {self.pid} has already exited")
        if to_group:
            os.killpg(self.pid, sig)
        else:
            signal.pidfd_send_signal(pidfd, sig)

    def write_stdin(self, data: bytes) -> None:
        """Its stdin was the killed superd's pipe: always closed."""
        raise BrokenPipeError(errno.EPIPE, "an adopted process has no stdin")

    async def wait_stdin_drained(self) -> None:
        """Nothing is ever queued."""

    def close_stdin(self) -> None:
        """Nothing to close."""

    def close(self) -> None:
        """Stop watching (does not signal it)."""
        self._watch.close()


# --------------------------------------------------------------------------- spawner


class RecordingSpawner:
    """A ``Spawner`` that records every child and hands out adopted survivors.

    Args:
        inner: the spawner that forks (``PopenSpawner``).
        registry: where children are recorded.
    """

    def __init__(self, inner: Spawner, registry: ChildRegistry) -> None:
        self._inner = inner
        self.registry = registry
        self._adoptions: dict[tuple[str, str], AdoptedChild] = {}

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """The inner spawner's check."""
        self._inner.check_command(
            command, environment=environment, base_environment=base_environment
        )

    def adopt(self, group: str, name: str, child: AdoptedChild) -> None:
        """Hand ``child`` out at the next spawn of ``group:name`` instead of forking."""
        self._adoptions[(group, name)] = child

    def cancel_adoption(self, group: str, name: str) -> AdoptedChild | None:
        """Take back an adoption that was not used (the start was refused)."""
        return self._adoptions.pop((group, name), None)

    def spawn(self, request: SpawnRequest) -> ChildHandle:
        """Fork through the inner spawner and record the child, or hand out an adoption."""
        adopted = self._adoptions.pop((request.group_name, request.name), None)
        if adopted is not None:
            return adopted
        child = self._inner.spawn(request)
        self.registry.track(child, group=request.group_name, name=request.name)
        return child


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
        pidfd = _open_pidfd(entry)
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
                pidfd = _open_pidfd(entry)
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

    watch = _Watch(survivor.pidfd, loop, on_gone)
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


def _signal(watch: _Watch, pid: int, sig: int, *, to_group: bool) -> None:
    pidfd = watch.pidfd
    if pidfd is None:
        return  # already gone
    try:
        if to_group:
            os.killpg(pid, sig)
        else:
            signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return
    except OSError as error:
        logger.error("cannot signal survivor pid %s: %s", pid, error.strerror or error)
