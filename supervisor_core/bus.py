"""EventBus: the one owner of the event serial, fanning events out in order.

Rules of this file:
- ``publish`` stamps the data (serial, wall and monotonic time) and delivers the
  event to every matching subscriber before the next event: all subscribers see the
  same sequence, in serial order, without gaps (except what a bounded buffer drops,
  and that is counted).
- Publishing never blocks and never awaits. Synchronous subscribers are cheap
  in-core reducers called inline; a subscriber that raises is logged and counted,
  never allowed to break the publisher or the subscribers after it.
- An event published *by a subscriber* during delivery is stamped at once but
  delivered after the current event has reached everyone (a queue, not recursion),
  so ordering holds for all.
- Async subscribers each own a bounded buffer; when it is full the overflow policy
  drops an event and counts it under the subscriber's name.
- Single-threaded: call everything from the event loop's thread. No module state:
  the daemon builds one bus and passes it in.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from supervisor_core.clock import Clock, Instant
from supervisor_core.events import ROOT_FAMILY, Event, EventData, EventTypeRegistry

logger = logging.getLogger(__name__)

Callback = Callable[[Event], None]
_new_event = object.__new__
_set_field = object.__setattr__


class Overflow(enum.Enum):
    """What a full async subscription buffer drops."""

    DROP_NEWEST = "drop_newest"  # keep what is buffered, drop the incoming event
    DROP_OLDEST = "drop_oldest"  # make room: drop the oldest buffered event


class _Filter:
    """Which event type names a subscription accepts (by family), with a cache."""

    __slots__ = ("_cache", "_registry", "families")

    def __init__(self, types: Iterable[str], registry: EventTypeRegistry) -> None:
        names = tuple(types)
        if not names:
            raise ValueError("subscribe: types must name at least one event type")
        for name in names:
            registry.event_type(name)  # raises UnknownEventType naming the bad one
        self.families = frozenset(names)
        self._registry = registry
        self._cache: dict[str, bool] = {}

    def accepts(self, name: str) -> bool:
        hit = self._cache.get(name)
        if hit is None:
            # EVENT is everything here, including superd's listener opt-in types
            # (families_of leaves EVENT out for those, for listener pools only).
            hit = ROOT_FAMILY in self.families or not self.families.isdisjoint(
                self._registry.families_of(name)
            )
            self._cache[name] = hit
        return hit


class Subscription:
    """A synchronous subscriber: ``callback(event)`` runs inline during ``publish``.

    Callbacks must be cheap and must not block (no I/O): they run on the supervisor's
    hot path. Use ``EventBus.subscribe_buffer`` for anything slow.
    """

    __slots__ = ("_bus", "_filter", "callback", "name")

    def __init__(self, bus: EventBus, name: str, callback: Callback, filter_: _Filter) -> None:
        self._bus = bus
        self.name = name
        self.callback = callback
        self._filter = filter_

    @property
    def types(self) -> frozenset[str]:
        """The event types and families this subscription asked for."""
        return self._filter.families

    def close(self) -> None:
        """Stop receiving events (same as ``bus.unsubscribe(self)``); idempotent."""
        self._bus.unsubscribe(self)


class BufferedSubscription:
    """An async subscriber with its own bounded buffer.

    Iterate it (``async for event in subscription``) or call ``get()`` /
    ``get_nowait()``. After ``close()`` the iteration drains what is buffered, then
    ends. Drops are counted by the bus under ``name``.
    """

    __slots__ = ("_bus", "_closed", "_filter", "_items", "_waiter", "maxsize", "name", "overflow")

    def __init__(
        self, bus: EventBus, name: str, filter_: _Filter, maxsize: int, overflow: Overflow
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"subscribe_buffer {name!r}: maxsize must be >= 1, not {maxsize}")
        self._bus = bus
        self.name = name
        self._filter = filter_
        self.maxsize = maxsize
        self.overflow = overflow
        self._items: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def types(self) -> frozenset[str]:
        """The event types and families this subscription asked for."""
        return self._filter.families

    @property
    def closed(self) -> bool:
        """True once closed; buffered events can still be read."""
        return self._closed

    def qsize(self) -> int:
        """How many events are buffered."""
        return len(self._items)

    def _offer(self, event: Event) -> bool:
        """Buffer ``event``; False when something had to be dropped."""
        dropped = False
        if len(self._items) >= self.maxsize:
            dropped = True
            if self.overflow is Overflow.DROP_NEWEST:
                return False
            self._items.popleft()
        self._items.append(event)
        self._wake()
        return not dropped

    def _offer_counted(self, event: Event) -> None:
        """``_offer``, counting a drop on the bus under this subscriber's name."""
        if not self._offer(event):
            self._bus._dropped[self.name] += 1

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def get_nowait(self) -> Event:
        """The oldest buffered event; raises ``asyncio.QueueEmpty`` when none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self) -> Event:
        """The next event, waiting for one; raises ``StopAsyncIteration`` once closed
        and drained."""
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        """Stop receiving events; a waiting reader finishes after the buffer drains."""
        self._bus.unsubscribe(self)

    def _mark_closed(self) -> None:
        self._closed = True
        self._wake()


# Who receives an event, and the callable that hands it over.
_Route: TypeAlias = tuple[Subscription | BufferedSubscription, Callback]


@dataclass(frozen=True, slots=True, kw_only=True)
class BusSnapshot:
    """Counters of a bus at one moment (read by the metrics exporter).

    ``event_types`` are the concrete types the bus' registry knows (so a counter can
    start at 0); ``events_total`` counts published events by type name; ``dropped``
    counts events each buffered subscriber lost (kept after it unsubscribes, since
    these are monotonic counters); ``subscriber_errors`` counts exceptions raised by
    synchronous callbacks; ``next_serial`` is the serial the next event gets.
    """

    next_serial: int
    event_types: tuple[str, ...]
    events_total: Mapping[str, int]
    dropped: Mapping[str, int]
    subscriber_errors: Mapping[str, int]
    subscribers: tuple[str, ...]


class EventBus:
    """Stamps events with a gap-free serial and fans them out in order.

    ``registry`` holds the event types the bus accepts (the daemon's: supervisord's
    types plus those its extensions register); a bus made without one gets a fresh
    registry of supervisord's types. Subscribers resolve names through ``registry``.

    Example::

        bus = EventBus(SystemClock())
        bus.subscribe(counter.observe, name="prometheus", types=("PROCESS_STATE",))
        events = bus.subscribe_buffer("sse", maxsize=1000)
        bus.publish(ProcessGroupAdded(groupname="web"))
    """

    def __init__(
        self, clock: Clock, *, registry: EventTypeRegistry | None = None, first_serial: int = 0
    ) -> None:
        self._clock = clock
        self._registry = registry if registry is not None else EventTypeRegistry.with_core_types()
        self._next_serial = first_serial
        self._subscribers: dict[str, Subscription | BufferedSubscription] = {}
        # Per event type name, who receives it and how (built on first use, dropped
        # whenever a subscription comes or goes): delivering an event is then one
        # loop over a tuple, without a filter test or an allocation per subscriber.
        self._routes: dict[str, tuple[_Route, ...]] = {}
        # Data classes already checked to be registered, concrete types.
        self._publishable: set[type[EventData]] = set()
        self._pending: deque[Event] = deque()
        self._delivering = False
        self._events_total: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    @property
    def registry(self) -> EventTypeRegistry:
        """The event types this bus accepts; extensions register theirs here."""
        return self._registry

    # ---------------------------------------------------------------- subscribing

    def _claim(self, name: str) -> None:
        if not name:
            raise ValueError("subscriber name must not be empty")
        if name in self._subscribers:
            raise ValueError(f"subscriber name {name!r} is already in use on this bus")

    def subscribe(
        self, callback: Callback, *, name: str, types: Iterable[str] = ("EVENT",)
    ) -> Subscription:
        """Call ``callback(event)`` inline for every published event of ``types``.

        ``types`` are event type names or families (``PROCESS_STATE`` gets every
        ``PROCESS_STATE_*``); an unknown name raises ``UnknownEventType``. ``name``
        identifies the subscriber in counters and must be unique on this bus.
        """
        self._claim(name)
        subscription = Subscription(self, name, callback, _Filter(types, self._registry))
        self._subscribers[name] = subscription
        self._routes.clear()
        return subscription

    def subscribe_buffer(
        self,
        name: str,
        *,
        maxsize: int,
        types: Iterable[str] = ("EVENT",),
        overflow: Overflow = Overflow.DROP_NEWEST,
    ) -> BufferedSubscription:
        """A bounded buffer of events of ``types``, to read asynchronously.

        When the buffer holds ``maxsize`` events, ``overflow`` decides which one is
        dropped; each drop counts in ``dropped(name)``. Publishing never waits.
        """
        self._claim(name)
        subscription = BufferedSubscription(
            self, name, _Filter(types, self._registry), maxsize, overflow
        )
        self._subscribers[name] = subscription
        self._routes.clear()
        return subscription

    def unsubscribe(self, subscription: Subscription | BufferedSubscription) -> None:
        """Stop delivering to ``subscription``; unknown or already removed is a no-op."""
        if self._subscribers.get(subscription.name) is subscription:
            del self._subscribers[subscription.name]
            self._routes.clear()
        if isinstance(subscription, BufferedSubscription):
            subscription._mark_closed()

    def close(self) -> None:
        """Unsubscribe everyone (ends every async iteration once drained)."""
        for subscription in list(self._subscribers.values()):
            self.unsubscribe(subscription)

    # ---------------------------------------------------------------- publishing

    def publish(self, data: EventData, *, at: Instant | None = None) -> Event:
        """Stamp ``data`` with the next serial and deliver it; returns the event.

        ``at`` is when it happened (the state machine's ``now``); the bus' clock is
        read when it is omitted. Abstract family types cannot be published.
        """
        name = data.event_name
        if type(data) not in self._publishable:
            self._check_publishable(data)
        when = at if at is not None else self._clock.now()
        # Event(serial=..., ...) without the keyword __init__ of a frozen dataclass
        # (a tenth of a publish); test_bus pins that the result equals it.
        event = _new_event(Event)
        _set_field(event, "serial", self._next_serial)
        _set_field(event, "wall_time", when.wall)
        _set_field(event, "monotonic_time", when.monotonic)
        _set_field(event, "data", data)
        self._next_serial += 1
        self._events_total[name] += 1
        if self._delivering:
            # Published by a subscriber: delivered once the current event reached all.
            self._pending.append(event)
            return event
        self._delivering = True
        try:
            self._deliver(event)
            while self._pending:
                self._deliver(self._pending.popleft())
        finally:
            self._delivering = False
        return event

    def _check_publishable(self, data: EventData) -> None:
        name = data.event_name
        if type(data) is not self._registry.event_type(name):
            raise TypeError(f"{type(data).__name__} is not a registered concrete event type")
        if self._registry.is_abstract(name):
            raise TypeError(f"{name} is an abstract event family and cannot be published")
        # A registered name never changes class (EventTypeRegistry's rules): once
        # checked, a type stays publishable.
        self._publishable.add(type(data))

    def _route(self, name: str) -> tuple[_Route, ...]:
        route = tuple(
            (subscription, subscription._offer_counted)
            if isinstance(subscription, BufferedSubscription)
            else (subscription, subscription.callback)
            for subscription in self._subscribers.values()
            if subscription._filter.accepts(name)
        )
        self._routes[name] = route
        return route

    def _deliver(self, event: Event) -> None:
        name = event.data.event_name
        # A snapshot: subscribing or unsubscribing from a callback affects later
        # events (it drops the cached routes; this loop keeps its tuple).
        route = self._routes.get(name)
        if route is None:
            route = self._route(name)
        for subscription, deliver in route:
            try:
                deliver(event)
            except Exception:
                # A broken reducer must not take the supervisor or its peers down.
                self._errors[subscription.name] += 1
                logger.exception(
                    "event subscriber %r failed on event %s (%s)",
                    subscription.name,
                    event.serial,
                    name,
                )

    def count_dropped(self, name: str, count: int = 1) -> None:
        """Count ``count`` events that subscriber ``name`` received but had to discard.

        For subscribers that keep their own buffer (event listener pools, which
        re-buffer rejected events at the head, something a ``BufferedSubscription``
        cannot do); the drops show in ``dropped`` and ``snapshot()`` like the bus' own.
        """
        if count < 0:
            raise ValueError(f"count_dropped {name!r}: count must be >= 0, not {count}")
        if count:
            self._dropped[name] += count

    # ---------------------------------------------------------------- introspection

    def dropped(self, name: str) -> int:
        """How many events the buffered subscriber ``name`` has dropped so far."""
        return self._dropped[name]

    def snapshot(self) -> BusSnapshot:
        """The bus' counters, frozen."""
        return BusSnapshot(
            next_serial=self._next_serial,
            event_types=self._registry.names(include_abstract=False),
            events_total=MappingProxyType(dict(self._events_total)),
            dropped=MappingProxyType(dict(self._dropped)),
            subscriber_errors=MappingProxyType(dict(self._errors)),
            subscribers=tuple(self._subscribers),
        )
