"""Event listener pools: an ``[eventlistener:x]`` group that feeds events to its listeners.

Rules of this file:
- A ``ListenerPool`` is a ``ProcessGroup`` (start, stop, snapshot work as for any
  group) plus one synchronous bus subscription named ``pool:NAME``, which receives
  the pool's ``events=`` (concrete names and families, by the bus's family filter)
  and the PROCESS_STATE events of its own listeners (to follow their runs).
  Listeners never see a type they did not subscribe to: the pool checks each event
  against ``events=`` before buffering it.
- ``events=`` is checked against the bus' registry (supervisord's types plus the
  extensions') when the pool is built, before anything starts:
  ``check_listener_events`` names the file:line of each unknown type; the daemon
  runs it on every configuration it loads, so a bad name never gets this far.
- Decisions are ``listeners.py``'s (``ListenerConnection`` per run, ``PoolBuffer``);
  this module carries them out: writes envelopes to stdin, logs, counts, re-buffers.
- The event stream is lossless up to the pool's buffer. The buffer is the only place
  an event can be discarded (overflow, or the pool being removed/closed with events
  still waiting), and every discard is logged at ERROR, counted under
  ``pool:NAME`` on the bus (``snapshot().dropped``, the
  ``supervisor_events_dropped_total`` metric) and published as
  ``EVENT_BUFFER_OVERFLOW`` (a pool never buffers the overflow events of its own
  name, which could otherwise feed themselves forever).
- An event in flight (a BUSY listener) goes back to the head of the buffer when the
  listener rejects it, fails the protocol on it, closes its stdout or dies.
- Dispatch happens at once (inside the bus callback, after ``READY``, after a
  listener becomes RUNNING): the oldest event goes to the first listener, in
  priority order, that is RUNNING and READY (supervisord's ``_dispatchEvent``).
  Before buffering an event the pool reads, without waiting, the answers already
  in the pipes of listeners that owe one, so a burst does not overflow the buffer
  of a listener that keeps up.
  Writing never blocks (``write_stdin`` queues); a write refused (EPIPE, no child)
  skips that listener, as supervisord does.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from supervisor_core import control
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.config.errors import ConfigError
from supervisor_core.config.model import GroupConfig, ProcessConfig
from supervisor_core.config.programs import listener_event_problems
from supervisor_core.events import (
    Event,
    EventBufferOverflow,
    EventTypeRegistry,
    ProcessStateEvent,
    listener_envelope,
)
from supervisor_core.groups import ProcessGroup
from supervisor_core.lifecycle import EventListenerState, ProcessState
from supervisor_core.listeners import (
    Accepted,
    BecameReady,
    Buffered,
    HandlerError,
    ListenerConnection,
    Outcome,
    PoolBuffer,
    ProtocolViolation,
    Rejected,
    ResultHandler,
    resolve_result_handler,
)
from supervisor_core.process import ProcessRuntime

__all__ = [
    "ListenerInfo",
    "ListenerOutput",
    "ListenerPool",
    "ListenerProcessFactory",
    "PoolSnapshot",
    "check_listener_events",
    "subscriber_name",
]

_log = logging.getLogger(__name__)

ListenerOutput = Callable[[int, bytes], None]
"""``(pid of the run, raw stdout bytes)``; ``b""`` at EOF (``ProcessRuntime``'s tap)."""

ListenerProcessFactory = Callable[[ProcessConfig, ListenerOutput], ProcessRuntime]
"""Builds one listener's runtime, wiring its stdout to the given callback."""

# A run has ended once its process reaches one of these (the child is reaped).
_RUN_ENDED = frozenset(
    {ProcessState.EXITED, ProcessState.BACKOFF, ProcessState.STOPPED, ProcessState.FATAL}
)

Entry = Buffered[Event]

# Listeners whose next bytes move them towards READY: worth reading before buffering.
_OWES_AN_ANSWER = frozenset({EventListenerState.BUSY, EventListenerState.ACKNOWLEDGED})


def subscriber_name(pool: str) -> str:
    """The bus subscriber name of pool ``pool`` (the label of its drop counter)."""
    return f"pool:{pool}"


def check_listener_events(groups: Iterable[GroupConfig], registry: EventTypeRegistry) -> None:
    """Check that the ``events=`` of every listener pool in ``groups`` names known types.

    Raises:
        ConfigError: one problem per unknown name, at the line of ``events=``
            (``config.programs.listener_event_problems``).
    """
    problems = listener_event_problems(groups, registry)
    if problems:
        raise ConfigError(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerInfo:
    """One listener of a pool: its protocol state and the event it holds (BUSY)."""

    name: str
    state: EventListenerState
    event_serial: int | None
    pool_serial: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSnapshot:
    """A pool at one moment: buffered event serials (oldest first), drops, listeners."""

    name: str
    buffer_size: int
    buffered: tuple[int, ...]
    dropped: int
    listeners: tuple[ListenerInfo, ...]


class _Slot:
    """One listener: its runtime and the protocol state of its current run."""

    __slots__ = ("connection", "run_pid", "runtime")

    def __init__(self, connection: ListenerConnection[Entry]) -> None:
        self.connection = connection
        self.run_pid: int | None = None
        self.runtime: ProcessRuntime | None = None


class ListenerPool(ProcessGroup):
    """An ``[eventlistener:x]`` pool: a process group that speaks the listener protocol.

    Args:
        config: the pool (``kind`` EVENTLISTENER, ``events``, ``buffer_size``,
            ``result_handler``).
        make_listener: builds one listener runtime, wiring its stdout to the pool.
        bus: where events come from (subscriber ``pool:NAME``) and drops are counted.
        identifier: ``[supervisord] identifier``, the envelope's ``server:``.

    Raises:
        ConfigError: ``events`` names a type the bus' registry does not know.
        listeners.BadResultHandler: ``result_handler`` cannot be imported.
        OSError: a runtime could not be built (see ``ProcessGroup``).

    Example::

        pool = ListenerPool(config, make_listener, bus=bus, identifier="supervisor")
        pool.autostart()   # listeners write READY; events flow from the bus
        ...
        await pool.aclose()
    """

    def __init__(
        self,
        config: GroupConfig,
        make_listener: ListenerProcessFactory,
        *,
        bus: EventBus,
        identifier: str,
    ) -> None:
        check_listener_events((config,), bus.registry)
        self._bus = bus
        self._identifier = identifier
        self._handler: ResultHandler = resolve_result_handler(config.result_handler)
        self._buffer: PoolBuffer[Event] = PoolBuffer(config.buffer_size)
        self._families = frozenset(config.events)
        self._accepts_cache: dict[str, bool] = {}
        self._slots: dict[str, _Slot] = {}
        self._dropped = 0
        self._dispatching = False

        def make_process(process_config: ProcessConfig) -> ProcessRuntime:
            slot = _Slot(ListenerConnection(self._handler))
            self._slots[process_config.name] = slot
            runtime = make_listener(
                process_config, functools.partial(self._on_output, process_config.name)
            )
            slot.runtime = runtime
            return runtime

        super().__init__(config, make_process)
        self._subscription: Subscription | None = bus.subscribe(
            self._on_event,
            name=subscriber_name(config.name),
            types=self._families | {"PROCESS_STATE"},
        )

    def __repr__(self) -> str:
        return f"<ListenerPool {self.name} buffered={len(self._buffer)} dropped={self._dropped}>"

    # ------------------------------------------------------------------ introspection

    def listener_state(self, name: str) -> EventListenerState:
        """The protocol state of listener ``name``'s current run.

        Raises:
            control.BadName: no such listener in this pool.
        """
        self.process(name)
        return self._slots[name].connection.state

    def pool_snapshot(self) -> PoolSnapshot:
        """The buffer, the drop count and every listener's protocol state, frozen."""
        listeners = []
        for name, slot in self._slots.items():
            entry = slot.connection.in_flight
            listeners.append(
                ListenerInfo(
                    name=name,
                    state=slot.connection.state,
                    event_serial=entry.event.serial if entry is not None else None,
                    pool_serial=entry.pool_serial if entry is not None else None,
                )
            )
        return PoolSnapshot(
            name=self.name,
            buffer_size=self._buffer.buffer_size,
            buffered=tuple(entry.event.serial for entry in self._buffer),
            dropped=self._dropped,
            listeners=tuple(listeners),
        )

    # ------------------------------------------------------------------ bus

    def _subscribed(self, event_name: str) -> bool:
        hit = self._accepts_cache.get(event_name)
        if hit is None:
            hit = not self._families.isdisjoint(self._bus.registry.families_of(event_name))
            self._accepts_cache[event_name] = hit
        return hit

    def _on_event(self, event: Event) -> None:
        data = event.data
        if self._subscribed(event.name) and not (
            isinstance(data, EventBufferOverflow) and data.groupname == self.name
        ):
            self._read_answers()
            self._discarded(self._buffer.accept(event), "event buffer overflowed")
        if isinstance(data, ProcessStateEvent) and data.groupname == self.name:
            self._on_listener_state(data)
        self._dispatch()

    def _read_answers(self) -> None:
        """Read the answers waiting in the pipes of listeners that owe one.

        A burst (several children exiting in one pass of the loop) publishes more
        events than ``buffer_size`` before the loop gets to the listeners' stdout
        readers; a listener on another core has often answered ``RESULT``/``READY``
        by then. Reading those answers now (a non-blocking read per BUSY or
        ACKNOWLEDGED listener, dispatching from ``_on_output``) keeps a prompt
        listener's buffer from overflowing. supervisord reads listener output only in
        its next poll, which is where its crash-storm discards come from.
        """
        if self._dispatching:
            return
        for slot in self._slots.values():
            runtime = slot.runtime
            if runtime is not None and runtime.pid and slot.connection.state in _OWES_AN_ANSWER:
                runtime.read_stdout_nowait()

    def _on_listener_state(self, data: ProcessStateEvent) -> None:
        slot = self._slots.get(data.processname)
        if slot is None:
            return
        if data.to_state is ProcessState.STARTING:
            # A new run: supervisord makes new dispatchers at spawn (ACKNOWLEDGED).
            self._rebuffer(slot.connection.abandon(), data.processname, "restarted")
            slot.connection = ListenerConnection(self._handler)
            slot.run_pid = None
        elif data.to_state in _RUN_ENDED:
            self._rebuffer(slot.connection.abandon(), data.processname, "exited")

    # ------------------------------------------------------------------ listener output

    def _on_output(self, name: str, pid: int, data: bytes) -> None:
        slot = self._slots[name]
        if slot.run_pid is None:
            slot.run_pid = pid
        elif pid != slot.run_pid:
            return  # a previous run's pipe (a grandchild kept it open): not this run's talk
        if not data:
            self._on_eof(name, slot)
            return
        _log.debug("%r stdout output:\n%r", name, data)
        connection = slot.connection
        old_state = connection.state
        outcomes = connection.receive_data(data)
        for outcome in outcomes:
            self._carry_out(name, outcome)
        if connection.state is not old_state:
            _log.debug("%s: %s -> %s", name, old_state.name, connection.state.name)
        self._dispatch()

    def _on_eof(self, name: str, slot: _Slot) -> None:
        # supervisord never notices this; a listener without stdout cannot answer, so
        # its run is over for the protocol (divergence: its event is not stranded).
        entry = slot.connection.close()
        self._rebuffer(entry, name, "closed its stdout")
        self._dispatch()

    def _carry_out(self, name: str, outcome: Outcome[Entry]) -> None:
        if isinstance(outcome, BecameReady):
            return
        if isinstance(outcome, Accepted):
            _log.debug("%s: event was processed", name)
        elif isinstance(outcome, Rejected):
            _log.warning("%s: event was rejected", name)
            self._rebuffer(outcome.event, name, "rejected")
        elif isinstance(outcome, HandlerError):
            _log.warning("%s: event caused an error", name)
            self._unknown(name)
            self._rebuffer(outcome.event, name, "caused a result handler error")
        elif isinstance(outcome, ProtocolViolation):
            _log.warning("%s: %s: %r", name, outcome.reason, outcome.data[:200])
            self._unknown(name)
            self._rebuffer(outcome.event, name, "violated the protocol")

    @staticmethod
    def _unknown(name: str) -> None:
        _log.warning(
            "%s: has entered the UNKNOWN state and will no longer receive events, this "
            "usually indicates the process violated the eventlistener protocol",
            name,
        )

    # ------------------------------------------------------------------ buffer

    def _rebuffer(self, entry: Entry | None, name: str, why: str) -> None:
        if entry is None:
            return
        _log.debug(
            "rebuffering event %s for pool %s (%s %s; buf size=%d, max=%d)",
            entry.event.serial,
            self.name,
            name,
            why,
            len(self._buffer),
            self._buffer.buffer_size,
        )
        self._discarded(self._buffer.rebuffer(entry), "event buffer overflowed")

    def _discarded(self, entry: Entry | None, why: str) -> None:
        """An overflow discard: logged at ERROR, counted, published."""
        if entry is None:
            return
        self._count_drop(logging.ERROR, "pool %s %s, discarding event %s (%s)", entry, why)
        self._bus.publish(
            EventBufferOverflow(
                groupname=self.name, event_type=entry.event.name, serial=entry.event.serial
            )
        )

    def _count_drop(self, level: int, message: str, entry: Entry, why: str) -> None:
        self._dropped += 1
        self._bus.count_dropped(subscriber_name(self.name))
        _log.log(level, message, self.name, why, entry.event.serial, entry.event.name)

    def _dispatch(self) -> None:
        if self._dispatching:
            return  # a write cannot call back in, but a publish from a discard can
        self._dispatching = True
        try:
            while len(self._buffer) and self._send(self._buffer.pop()):
                pass
        finally:
            self._dispatching = False

    def _send(self, entry: Entry) -> bool:
        """Write ``entry`` to the first RUNNING + READY listener; re-buffer it if none."""
        for name, slot in self._slots.items():
            runtime = slot.runtime
            if runtime is None or runtime.state is not ProcessState.RUNNING:
                continue
            if slot.connection.state is not EventListenerState.READY:
                continue
            envelope = listener_envelope(
                entry.event,
                server=self._identifier,
                pool=self.name,
                pool_serial=entry.pool_serial,
            )
            try:
                runtime.write_stdin(envelope.encode("utf-8"))
            except control.ControlError as error:
                _log.debug(
                    "epipe occurred while sending event %s to listener %s, listener state "
                    "unchanged (%s)",
                    entry.event.serial,
                    name,
                    error,
                )
                continue
            slot.connection.assign(entry)
            _log.debug("event %s sent to listener %s", entry.event.serial, name)
            return True
        self._buffer.rebuffer(entry)  # it was just popped: there is room, nothing discarded
        return False

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Unsubscribe, count what is still buffered as dropped, close the runtimes.

        Raises:
            control.StillRunning: some listener is not stopped (the subscription is
                released all the same, so a later generation can reuse the name).
        """
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()
            # Events still waiting when the pool goes (removal, shutdown) can never be
            # delivered: counted and logged, though not an overflow.
            for entry in self._buffer.clear():
                self._count_drop(
                    logging.WARNING, "pool %s %s: event %s (%s) undelivered", entry, "was closed"
                )
            for name, slot in self._slots.items():
                held = slot.connection.abandon()
                if held is not None:
                    self._count_drop(
                        logging.WARNING,
                        "pool %s %s: event %s (%s) unanswered",
                        held,
                        f"was closed while {name} held it",
                    )
        await super().aclose()
