"""supervisord's event listener protocol, sans-I/O: one listener's side and a pool's buffer.

Rules of this file:
- Pure: no I/O, no clock, no bus. ``ListenerConnection`` is fed the bytes a listener
  wrote on its stdout (``receive_data``) and returns what they meant (``Outcome`` s);
  ``PoolBuffer`` holds a pool's undelivered events and decides what overflow
  discards. ``pools.ListenerPool`` carries the outcomes out (writes, logs, counters).
- The semantics are supervisord 4.3's ``PEventListenerDispatcher`` and
  ``EventListenerPool`` (``dispatchers.py``, ``process.py``):
  * a new run starts ACKNOWLEDGED; ``READY\\n`` makes it READY; the pool sends an
    event only to a READY listener (which becomes BUSY); ``RESULT N\\n`` followed by
    N bytes is judged by the result handler: accepted -> ACKNOWLEDGED, rejected ->
    ACKNOWLEDGED and the event is re-buffered, handler error -> UNKNOWN and the event
    is re-buffered;
  * anything else is a protocol violation: in ACKNOWLEDGED, 6 bytes that are not
    ``READY\\n``; in READY, any byte at all; in BUSY, a result line whose length is
    not an integer (its event is re-buffered). A violation makes the listener
    UNKNOWN, and UNKNOWN is final for the run: later bytes are ignored and it gets
    no events until its process exits and a new run starts (supervisord does
    nothing else either: an ``autorestart`` listener recovers when it dies).
  * the length of a result is counted in *bytes*; a wrong length simply takes
    bytes of what follows (supervisord quirk: ``RESULT 5\\nOKREADY\\n`` is judged
    as ``OKREA`` and rejected, and ``DY\\n`` then waits for more).
- ``PoolBuffer`` keeps supervisord's order and overflow rule: a new event goes to
  the tail, a re-buffered one to the head, and when the buffer already holds
  ``buffer_size`` events the *oldest* one (the head) is discarded first. Every
  discard is returned to the caller, which must log and count it.
- Each event gets its ``poolserial`` (0, 1, 2, ... per pool) the first time the
  pool accepts it; a re-buffered event keeps it.
"""

from __future__ import annotations

import enum
import importlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from supervisor_core.lifecycle import EventListenerState

__all__ = [
    "DEFAULT_RESULT_HANDLER",
    "READY_TOKEN",
    "RESULT_TOKEN",
    "Accepted",
    "BadResultHandler",
    "BecameReady",
    "Buffered",
    "HandlerError",
    "ListenerConnection",
    "Outcome",
    "PoolBuffer",
    "ProtocolViolation",
    "Rejected",
    "ResultHandler",
    "Verdict",
    "default_result_handler",
    "resolve_result_handler",
]

READY_TOKEN = b"READY\n"
RESULT_TOKEN = b"RESULT "
DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"

E = TypeVar("E")


# --------------------------------------------------------------------------- result handlers


class Verdict(enum.Enum):
    """What a result handler made of a listener's result body."""

    ACCEPTED = "accepted"  # the event was processed
    REJECTED = "rejected"  # re-buffer the event, the listener stays usable
    ERROR = "error"  # the handler failed: re-buffer, the listener becomes UNKNOWN


ResultHandler = Callable[[object, bytes], Verdict]
"""``handler(event, body) -> Verdict``; ``event`` is the event the listener was sent."""


def default_result_handler(event: object, body: bytes) -> Verdict:
    """supervisord's ``default_handler``: ``OK`` accepts, anything else rejects."""
    del event  # the default handler judges the body only
    return Verdict.ACCEPTED if body == b"OK" else Verdict.REJECTED


class BadResultHandler(ValueError):
    """A ``result_handler`` spec that cannot be imported (``module:attribute``)."""


def resolve_result_handler(spec: str) -> ResultHandler:
    """The handler a ``result_handler=`` spec names.

    supervisord's default spec gives ``default_result_handler`` (without importing
    supervisord). Another ``module:callable`` is imported and called as supervisord
    calls it, ``callable(event, body)``: returning accepts, an exception whose class
    is named ``RejectEvent`` rejects, any other exception is a handler error. The
    ``event`` it gets is superd's ``events.Event``, not supervisord's object.

    Raises:
        BadResultHandler: the module or attribute cannot be found.
    """
    if spec == DEFAULT_RESULT_HANDLER:
        return default_result_handler
    module_name, _, attribute = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute or "")
    except (ImportError, AttributeError, ValueError) as error:
        raise BadResultHandler(f"result_handler {spec!r} cannot be resolved: {error}") from None
    if not callable(target):
        raise BadResultHandler(f"result_handler {spec!r} is not callable")

    def handler(event: object, body: bytes) -> Verdict:
        try:
            target(event, body)
        # A user handler may raise anything; supervisord maps every exception too.
        except Exception as error:  # noqa: BLE001 - the exception is the verdict
            if type(error).__name__ == "RejectEvent":
                return Verdict.REJECTED
            return Verdict.ERROR
        return Verdict.ACCEPTED

    return handler


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True, kw_only=True)
class BecameReady:
    """The listener wrote ``READY`` and can be sent an event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted(Generic[E]):
    """The result handler accepted the listener's result for ``event``."""

    event: E
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected(Generic[E]):
    """The result handler rejected ``event`` (re-buffer it); the listener stays usable."""

    event: E
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerError(Generic[E]):
    """The result handler failed on ``event`` (re-buffer it); the listener is UNKNOWN."""

    event: E
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolViolation(Generic[E]):
    """The listener broke the protocol and is now UNKNOWN.

    ``event`` is its in-flight event to re-buffer (only for a bad result line),
    ``data`` the offending bytes (for the log), ``reason`` a short explanation.
    """

    reason: str
    data: bytes
    event: E | None = None


Outcome = BecameReady | Accepted[E] | Rejected[E] | HandlerError[E] | ProtocolViolation[E]


# --------------------------------------------------------------------------- one listener


class ListenerConnection(Generic[E]):
    """The protocol state of one run of one listener (h11-style: bytes in, outcomes out).

    Example::

        connection = ListenerConnection(default_result_handler)
        connection.receive_data(b"READY\\n")        # (BecameReady(),)
        connection.assign(event)                   # READY -> BUSY; write the envelope
        connection.receive_data(b"RESULT 2\\nOK")   # (Accepted(event=event, ...),)
    """

    __slots__ = ("_buffer", "_handler", "_in_flight", "_result", "_result_len", "_state")

    def __init__(self, result_handler: ResultHandler = default_result_handler) -> None:
        self._handler = result_handler
        self._state = EventListenerState.ACKNOWLEDGED
        self._buffer = b""
        self._result = b""
        self._result_len: int | None = None
        self._in_flight: E | None = None

    def __repr__(self) -> str:
        return f"<ListenerConnection {self._state.name}>"

    @property
    def state(self) -> EventListenerState:
        """ACKNOWLEDGED, READY, BUSY or UNKNOWN."""
        return self._state

    @property
    def in_flight(self) -> E | None:
        """The event the listener is working on (BUSY), else None."""
        return self._in_flight

    def assign(self, event: E) -> None:
        """Record that ``event`` was written to the listener: READY -> BUSY.

        Raises:
            RuntimeError: the listener is not READY (a pool bug, never the listener's).
        """
        if self._state is not EventListenerState.READY:
            raise RuntimeError(f"cannot send an event to a listener in state {self._state.name}")
        self._state = EventListenerState.BUSY
        self._in_flight = event

    def abandon(self) -> E | None:
        """The run ended (the process exited): its in-flight event, to re-buffer."""
        event, self._in_flight = self._in_flight, None
        return event

    def close(self) -> E | None:
        """The listener closed its stdout: UNKNOWN for the rest of the run.

        It can never answer again, so its in-flight event is returned for
        re-buffering (divergence: supervisord leaves it BUSY until it exits).
        """
        event = self._in_flight
        self._violate("stdout closed", b"", None)
        return event

    def receive_data(self, data: bytes) -> tuple[Outcome[E], ...]:
        """Feed bytes the listener wrote on stdout; what they meant, in order."""
        self._buffer += data
        outcomes: list[Outcome[E]] = []
        while self._buffer and self._step(outcomes):
            pass
        return tuple(outcomes)

    def _violate(self, reason: str, data: bytes, event: E | None) -> ProtocolViolation[E]:
        self._state = EventListenerState.UNKNOWN
        self._buffer = b""
        self._in_flight = None
        self._result = b""
        self._result_len = None
        return ProtocolViolation(reason=reason, data=data, event=event)

    def _step(self, outcomes: list[Outcome[E]]) -> bool:
        """Consume what the buffer allows; False when more bytes are needed."""
        state = self._state
        if state is EventListenerState.UNKNOWN:
            self._buffer = b""  # final for this run: nothing a listener says matters now
            return False
        if state is EventListenerState.ACKNOWLEDGED:
            if len(self._buffer) < len(READY_TOKEN):
                return False
            if self._buffer.startswith(READY_TOKEN):
                self._buffer = self._buffer[len(READY_TOKEN) :]
                self._state = EventListenerState.READY
                outcomes.append(BecameReady())
                return True
            outcomes.append(self._violate("expected READY", self._buffer, None))
            return False
        if state is EventListenerState.READY:
            # Nothing may come while the listener waits for an event (supervisord is strict).
            outcomes.append(self._violate("unexpected output while READY", self._buffer, None))
            return False
        return self._step_busy(outcomes)

    def _step_busy(self, outcomes: list[Outcome[E]]) -> bool:
        if self._result_len is None:
            end = self._buffer.find(b"\n")
            if end == -1:
                return False
            line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            # supervisord skips len("RESULT ") bytes without checking them: match it.
            try:
                self._result_len = int(line[len(RESULT_TOKEN) :])
            except ValueError:
                event = self._in_flight
                outcomes.append(self._violate("bad result line", line, event))
                return False
            return True
        needed = self._result_len - len(self._result)
        if needed > 0:
            self._result += self._buffer[:needed]
            self._buffer = self._buffer[needed:]
            if len(self._result) < self._result_len:
                return False
        body, self._result, self._result_len = self._result, b"", None
        event, self._in_flight = self._in_flight, None
        verdict = self._handler(event, body)
        if verdict is Verdict.ERROR:
            self._state = EventListenerState.UNKNOWN
        else:
            self._state = EventListenerState.ACKNOWLEDGED
        if event is None:  # pragma: no cover - BUSY always has an event (assign)
            return True
        if verdict is Verdict.ACCEPTED:
            outcomes.append(Accepted(event=event, body=body))
        elif verdict is Verdict.REJECTED:
            outcomes.append(Rejected(event=event, body=body))
        else:
            outcomes.append(HandlerError(event=event, body=body))
        return True


# --------------------------------------------------------------------------- pool buffer


@dataclass(frozen=True, slots=True, kw_only=True)
class Buffered(Generic[E]):
    """An event waiting in a pool's buffer, with the pool serial it was given."""

    event: E
    pool_serial: int


class PoolBuffer(Generic[E]):
    """A pool's bounded event buffer with supervisord's ordering and overflow rule.

    ``accept`` and ``rebuffer`` return the entry they had to discard (or None): the
    caller logs and counts it. Never silent, never blocking.
    """

    __slots__ = ("_items", "_next_serial", "buffer_size")

    def __init__(self, buffer_size: int) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, not {buffer_size}")
        self.buffer_size = buffer_size
        self._items: deque[Buffered[E]] = deque()
        self._next_serial = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Buffered[E]]:
        return iter(self._items)

    @property
    def next_pool_serial(self) -> int:
        """The pool serial the next new event gets."""
        return self._next_serial

    def _make_room(self) -> Buffered[E] | None:
        if len(self._items) >= self.buffer_size:
            return self._items.popleft()  # the oldest, as supervisord's pop(0)
        return None

    def accept(self, event: E) -> Buffered[E] | None:
        """Append a new event with the next pool serial; returns what was discarded."""
        entry = Buffered(event=event, pool_serial=self._next_serial)
        self._next_serial += 1
        discarded = self._make_room()
        self._items.append(entry)
        return discarded

    def rebuffer(self, entry: Buffered[E]) -> Buffered[E] | None:
        """Put a rejected (or undeliverable) entry back at the head, keeping its serial.

        supervisord quirk kept: when the buffer is full, the current head (the oldest
        waiting event) is discarded to make room, not the re-buffered one.
        """
        discarded = self._make_room()
        self._items.appendleft(entry)
        return discarded

    def pop(self) -> Buffered[E]:
        """Take the oldest entry. Raises IndexError when empty."""
        return self._items.popleft()

    def clear(self) -> list[Buffered[E]]:
        """Empty the buffer; returns what it held (oldest first)."""
        items = list(self._items)
        self._items.clear()
        return items
