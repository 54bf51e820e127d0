"""The storm detector on a live bus: STORM events, ``/storms``, the Prometheus seam.

Rules of this file:
- ``StormMonitor`` is a synchronous bus subscriber (cheap: one detector step per
  process state event) that publishes the detector's begins and ends as STORM events
  on the same bus, so the journal, listener pools, ``/events`` and metrics all see
  them in serial order. Publishing from a subscriber is queued by the bus, never
  recursive.
- Time passes through events and one loop timer set at the detector's next
  hysteresis deadline (a storm ends exactly ``window`` after the process became
  RUNNING, not at the next event).
- ``ActiveStorms`` rebuilds "who is in a storm now" from STORM events alone: that is
  how the Prometheus extension feeds ``supervisor_process_restart_storm`` without
  knowing the detector extension (it reads no object of another extension).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from exporters.storms.detector import Storm, StormChange, StormDetector
from exporters.storms.events import (
    ProcessStormBegin,
    ProcessStormEnd,
    StormEvent,
    observation_from_event,
    register_storm_types,
    storm_event,
    storm_from_event,
)
from exporters.storms.settings import StormExporterSettings
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.clock import Clock, SystemClock
from supervisor_core.events import Event, ProcessGroupRemoved

__all__ = [
    "STORMS_PATH",
    "ActiveStorms",
    "StormMonitor",
    "storm_json",
]

STORMS_PATH = "/storms"
SUBSCRIBER_NAME = "storms"


class _Handle(Protocol):
    def cancel(self) -> None: ...


class _Timers(Protocol):
    def call_at(self, deadline: float, callback: Callable[[], None], /) -> _Handle: ...


def storm_json(storm: Storm) -> dict[str, object]:
    """A storm as the JSON object ``/storms`` returns."""
    return {
        "scope": storm.scope.value,
        "group": storm.group,
        "name": storm.name,
        "start": storm.start,
        "end": storm.end,
        "duration": storm.duration,
        "restarts": storm.restarts,
        "exit_codes": list(storm.exit_codes),
        "signals": list(storm.signals),
        "median_run_duration": storm.median_run_duration,
        "members": list(storm.members),
        "reason": storm.reason,
    }


class ActiveStorms:
    """The ``(group, name)`` pairs in a process storm now, from STORM events.

    Call it (``storms()``) for the Prometheus ``storms`` seam. Example::

        storms = ActiveStorms.install(bus)
        PrometheusExporter.install(bus=bus, registry=registry, storms=storms)
    """

    def __init__(self) -> None:
        self._active: set[tuple[str, str]] = set()
        self.subscription: Subscription | None = None

    @classmethod
    def install(cls, bus: EventBus, *, name: str = "storm-gauge") -> ActiveStorms:
        """Subscribe a new reducer to the process storm events of ``bus``.

        Registers the storm types on ``bus.registry`` if they are not there yet.
        """
        register_storm_types(bus.registry)
        active = cls()
        active.subscription = bus.subscribe(
            active.observe, name=name, types=("PROCESS_STORM_BEGIN", "PROCESS_STORM_END")
        )
        return active

    def observe(self, event: Event) -> None:
        """Apply one event (others are ignored)."""
        data = event.data
        if isinstance(data, ProcessStormBegin):
            self._active.add((data.groupname, data.processname))
        elif isinstance(data, ProcessStormEnd):
            self._active.discard((data.groupname, data.processname))

    def __call__(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._active)

    def close(self) -> None:
        """Unsubscribe (idempotent)."""
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None


class StormMonitor:
    """The detector fed by a bus, publishing STORM events back onto it.

    Args:
        settings: ``[exporter:storms]``.
        clock: the bus' clock (monotonic time for the hysteresis timer, wall time
            for the ``/storms`` ``since`` filter).
        timers: where the hysteresis deadline is scheduled (default: the running
            loop, whose ``time()`` is the monotonic clock).
    """

    def __init__(
        self,
        settings: StormExporterSettings,
        *,
        clock: Clock | None = None,
        timers: _Timers | None = None,
    ) -> None:
        self.settings = settings
        self.detector = StormDetector(settings.detector)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._timers = timers
        self._bus: EventBus | None = None
        self._subscription: Subscription | None = None
        self._timer: _Handle | None = None
        self._deadline: float | None = None
        self._ended: deque[Storm] = deque(maxlen=settings.history)

    def install(self, bus: EventBus) -> None:
        """Subscribe to the process state events of ``bus``.

        Registers the storm types it publishes on ``bus.registry`` (idempotent).
        """
        register_storm_types(bus.registry)
        self._bus = bus
        self._subscription = bus.subscribe(
            self._on_event, name=SUBSCRIBER_NAME, types=("PROCESS_STATE", "PROCESS_GROUP_REMOVED")
        )

    def close(self) -> None:
        """Unsubscribe and cancel the timer (idempotent)."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        self._cancel_timer()

    # ------------------------------------------------------------------ queries

    def current(self) -> tuple[Storm, ...]:
        """Storms under way (read-only snapshot)."""
        return self.detector.current()

    def ended(self, *, since: float | None = None) -> tuple[Storm, ...]:
        """Storms that ended (oldest first), those ending at or after ``since`` (wall)."""
        return tuple(
            storm
            for storm in self._ended
            if since is None or (storm.end is not None and storm.end >= since)
        )

    # ------------------------------------------------------------------ bus side

    def _on_event(self, event: Event) -> None:
        data = event.data
        if isinstance(data, ProcessGroupRemoved):
            changes = self.detector.forget(
                data.groupname, at=event.monotonic_time, wall=event.wall_time
            )
        else:
            observation = observation_from_event(event)
            if observation is None:
                return
            changes = self.detector.feed(observation)
        if changes:
            self._publish(changes)
        self._schedule()

    def _publish(self, changes: list[StormChange]) -> None:
        bus = self._bus
        for change in changes:
            data: StormEvent = storm_event(change)
            if change.storm.end is not None:
                self._ended.append(storm_from_event(data))
            if bus is not None:
                bus.publish(data)

    def _schedule(self) -> None:
        deadline = self.detector.next_wake()  # may be early: the timer then re-arms
        if deadline == self._deadline:
            return
        self._cancel_timer()
        self._deadline = deadline
        if deadline is None:
            return
        timers = self._timers
        if timers is None:
            timers = self._timers = asyncio.get_running_loop()
        self._timer = timers.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = None

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = None
        self._publish(self.detector.advance(self._clock.monotonic()))
        self._schedule()

    # ------------------------------------------------------------------ HTTP

    def routes(self) -> list[web.RouteDef]:
        """``GET /storms[?since=WALL]``: ``{"current": [...], "ended": [...]}``."""
        return [web.get(STORMS_PATH, self._handle)]

    async def _handle(self, request: web.Request) -> web.Response:
        since: float | None = None
        for key in request.query:
            if key != "since":
                # repr: an empty or blank name must still be visible in the message.
                raise web.HTTPBadRequest(text=f"/storms: unknown parameter {key!r}\n")
        if len(request.query.getall("since", [])) > 1:
            raise web.HTTPBadRequest(text="since: given more than once\n")
        raw = request.query.get("since")
        if raw is not None:
            try:
                since = float(raw)
            except ValueError:
                raise web.HTTPBadRequest(text=f"since: not a number: {raw!r}\n") from None
            # NaN would match no storm and inf none either: say so instead.
            if not math.isfinite(since):
                raise web.HTTPBadRequest(text=f"since: not a finite unix time: {raw!r}\n")
        return web.json_response(
            {
                "now": self._clock.wall(),
                "current": [storm_json(storm) for storm in self.current()],
                "ended": [storm_json(storm) for storm in self.ended(since=since)],
            }
        )
