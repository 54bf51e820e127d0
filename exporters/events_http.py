"""``GET /events``: the event history as JSON lines, or a live Server-Sent Events stream.

Also ``GET /events/restarts``: the automatic restarts per process since the daemon
started, counted in the journal by the cause rule (the web page's Restarts column).

Rules of this file:
- One URL, two shapes. ``Accept: text/event-stream`` gets SSE: the journal's
  history from ``since``, then live events from the bus, each as ``id: <serial>``
  plus ``data: <json>``; a reconnect with ``Last-Event-ID: N`` resumes at ``N + 1``,
  so a client sees every event exactly once. Anything else gets JSON lines of the
  journaled history (``application/x-ndjson``) and the response ends.
- No gap and no duplicate between history and live: the live subscription is made
  *before* the history is read; history covers ``[since, first_live)`` after a
  journal flush, the live buffer everything from ``first_live`` on.
- A slow client never stalls the daemon: its live events wait in a bounded buffer
  (``EventBus.subscribe_buffer``); when the buffer overflows (a drop counted by the
  bus under the client's subscriber name) or a write does not complete within
  ``write_timeout``, the stream ends and the client is counted as disconnected.
  It reconnects with ``Last-Event-ID`` and catches up from the journal.
- One object per event, whichever way it comes: history serves the journaled
  record's ``to_json_dict()``, live serves the event's own ``to_json_dict`` (the
  journal stores events as they are, stderr tail included), so both agree.
- A journal that cannot commit (disk full) never hangs a request: the history is
  read after a flush bounded by ``flush_timeout``; past it the answer is ``503``
  with ``Retry-After`` and a message saying why, before any byte of a response.
- The history may start at a serial (``since``), at a wall time (``since_time``)
  or at the ``last`` N selected events before the request, whichever is latest;
  ``exclude`` leaves types out (``superctl events`` hides ticks this way).
- Bad queries are 400 with a message naming the parameter: unknown parameters,
  non-integer or negative ``since``/``limit``/``last``, a non-numeric
  ``since_time``, a ``since`` beyond the next serial, unknown event types, bad
  process names, unknown causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from exporters.journal import EventFilter, Journal, JournalError, JournalRecord, open_journal
from exporters.journal.filters import parse_cause
from exporters.journal.rows import encode_json, event_json
from supervisor_core.bus import BufferedSubscription, EventBus
from supervisor_core.events import Event, EventTypeRegistry, UnknownEventType

logger = logging.getLogger(__name__)

KNOWN_PARAMETERS = frozenset(
    {"since", "since_time", "last", "types", "exclude", "process", "cause", "limit"}
)
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000
_HISTORY_PAGE = 500


class QueryError(ValueError):
    """A bad ``/events`` query; the message names the parameter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsQuery:
    """A validated ``/events`` query."""

    since: int
    filter: EventFilter
    limit: int | None
    # Start at the first event at or after this unix time (None: no such bound).
    since_time: float | None = None
    # Start at the last N selected events of the history (None: no such bound).
    last: int | None = None


def _integer(name: str, text: str, *, maximum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{name}: not an integer: {text!r}") from None
    if value < 0:
        raise QueryError(f"{name}: must be >= 0, not {value}")
    if value > maximum:
        raise QueryError(f"{name}: {value} is beyond {maximum}")
    return value


def parse_query(
    query: MultiMapping[str],
    *,
    next_serial: int,
    registry: EventTypeRegistry,
    last_event_id: str | None = None,
) -> EventsQuery:
    """Validate ``/events`` parameters (pure).

    ``since`` may be at most ``next_serial`` (the serial the next event gets);
    ``Last-Event-ID: N`` overrides it with ``N + 1``. ``types``, ``process`` and
    ``cause`` may repeat or hold comma-separated lists; ``types`` are names of
    ``registry`` (the bus'), families included.

    Raises:
        QueryError: naming the bad parameter.
    """
    unknown = sorted(set(query) - KNOWN_PARAMETERS)
    if unknown:
        raise QueryError(
            f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(KNOWN_PARAMETERS))})"
        )
    for name in ("since", "limit", "last", "since_time"):
        if len(query.getall(name, [])) > 1:
            raise QueryError(f"{name}: given more than once")
    since = 0
    if "since" in query:
        since = _integer("since", query["since"], maximum=next_serial)
    if last_event_id is not None:
        since = _integer("Last-Event-ID", last_event_id, maximum=max(next_serial - 1, 0)) + 1
    limit: int | None = None
    if "limit" in query:
        limit = _integer("limit", query["limit"], maximum=MAX_LIMIT)
    last: int | None = None
    if "last" in query:
        last = _integer("last", query["last"], maximum=MAX_LIMIT)
    since_time: float | None = None
    if "since_time" in query:
        since_time = _unix_time("since_time", query["since_time"])

    def names(parameter: str) -> list[str]:
        return [t for value in query.getall(parameter, []) for t in value.split(",") if t]

    causes = names("cause")
    for cause in causes:
        try:
            parse_cause(cause)
        except ValueError as error:
            raise QueryError(f"cause: {error}") from None
    for parameter in ("types", "exclude"):
        try:
            EventFilter.build(registry=registry, types=names(parameter))
        except UnknownEventType as error:
            raise QueryError(f"{parameter}: unknown event type {error.name!r}") from None
    try:
        filter_ = EventFilter.build(
            registry=registry,
            types=names("types"),
            processes=names("process"),
            causes=causes,
            exclude=names("exclude"),
        )
    except ValueError as error:
        raise QueryError(f"process: {error}") from None
    return EventsQuery(since=since, filter=filter_, limit=limit, since_time=since_time, last=last)


def _unix_time(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"{name}: not a unix time: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise QueryError(f"{name}: must be a unix time >= 0, not {text!r}")
    return value


def sse_message(serial: int, payload: Mapping[str, object]) -> bytes:
    """One SSE message: ``id: <serial>``, one ``data:`` line of JSON, a blank line."""
    # encode_json never emits a raw newline (JSON escapes them), so one data line is enough.
    return f"id: {serial}\ndata: {encode_json(payload)}\n\n".encode()


class EventsEndpoint:
    """The ``/events`` routes over a journal and a bus.

    Example::

        endpoint = EventsEndpoint(journal, bus)
        app = make_app(control, extra_routes=[*endpoint.routes(), *metrics_routes])
        ...
        endpoint.close()  # at shutdown: ends every live stream
    """

    def __init__(
        self,
        journal: Journal,
        bus: EventBus,
        *,
        client_buffer: int = 1000,
        heartbeat: float = 15.0,
        write_timeout: float = 10.0,
        flush_timeout: float = 5.0,
    ) -> None:
        self.journal = journal
        self.flush_timeout = flush_timeout
        self.bus = bus
        self.client_buffer = client_buffer
        self.heartbeat = heartbeat
        self.write_timeout = write_timeout
        self._ids = itertools.count(1)
        self._stopping = asyncio.Event()

    def routes(self) -> list[web.RouteDef]:
        """The route table entries to pass to ``make_app(extra_routes=...)``."""
        return [
            web.get("/events", self.handle),
            web.get("/events/restarts", self.handle_restarts),
        ]

    def close(self) -> None:
        """End every live stream (call before the web server shuts down)."""
        self._stopping.set()

    def resume(self) -> None:
        """Accept streams again after :meth:`close` (a new daemon generation serves)."""
        if self._stopping.is_set():
            self._stopping = asyncio.Event()

    # ---------------------------------------------------------------- handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /events``."""
        sse = "text/event-stream" in request.headers.get("Accept", "")
        try:
            query = parse_query(
                request.query,
                next_serial=self.bus.snapshot().next_serial,
                registry=self.bus.registry,
                last_event_id=request.headers.get("Last-Event-ID") if sse else None,
            )
        except QueryError as error:
            raise web.HTTPBadRequest(text=f"/events: {error}\n") from None
        if sse:
            return await self._stream(request, query)
        return await self._json_lines(request, query)

    async def handle_restarts(self, request: web.Request) -> web.Response:
        """``GET /events/restarts``: automatic restarts per process since the daemon started.

        The body is ``{"since": S, "next_serial": N, "restarts": [{"groupname",
        "processname", "restarts"}, ...]}``: restarts journaled with ``S <= serial <
        N``, where ``S`` is this daemon's ``SUPERVISOR_DAEMON_START`` (what
        ``supervisor_process_restarts_total`` has counted); ``X-Next-Serial`` is ``N``
        as on ``/events``. Processes without a restart are left out.
        """
        if request.query:
            name = sorted(request.query)[0]
            raise web.HTTPBadRequest(text=f"/events/restarts: unknown parameter {name!r}\n")
        until = self.bus.snapshot().next_serial
        await self._flushed(request)
        since, counts = await asyncio.to_thread(_restart_counts, self.journal.path, until)
        body = {
            "since": since,
            "next_serial": until,
            "restarts": [
                {"groupname": group, "processname": name, "restarts": count}
                for (group, _, name), count in (
                    (key.partition(":"), value) for key, value in sorted(counts.items())
                )
            ],
        }
        return web.Response(
            text=encode_json(body),
            content_type="application/json",
            headers={"X-Next-Serial": str(until)},
        )

    async def _history(
        self, query: EventsQuery, until: int, limit: int | None
    ) -> AsyncIterator[JournalRecord]:
        """Journaled records in ``[since, until)``, read in pages off the loop.

        Call :meth:`_flushed` first: records not committed yet would be missing.
        """
        since = await asyncio.to_thread(_start_serial, self.journal.path, query, until)
        remaining = limit
        while remaining is None or remaining > 0:
            page = _HISTORY_PAGE if remaining is None else min(_HISTORY_PAGE, remaining)
            records = await asyncio.to_thread(
                _read_page, self.journal.path, query.filter, since, until, page
            )
            for record in records:
                yield record
            if len(records) < page:
                return
            since = records[-1].serial + 1
            if remaining is not None:
                remaining -= len(records)

    async def _flushed(self, request: web.Request) -> None:
        """Wait (bounded) for the journal to commit what the bus published so far.

        Raises:
            web.HTTPServiceUnavailable: the journal cannot commit now.
        """
        try:
            await self.journal.flush(timeout=self.flush_timeout)
        except JournalError as error:
            logger.warning("/events for %s: journal unavailable: %s", request.remote, error)
            raise web.HTTPServiceUnavailable(
                text=f"/events: the journal cannot commit events now ({error}); retry later\n",
                headers={"Retry-After": "5"},
            ) from None

    async def _json_lines(self, request: web.Request, query: EventsQuery) -> web.StreamResponse:
        until = self.bus.snapshot().next_serial
        await self._flushed(request)
        limit = DEFAULT_LIMIT if query.limit is None else query.limit
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.headers["X-Next-Serial"] = str(until)
        await response.prepare(request)
        async for record in self._history(query, until, limit):
            await response.write(encode_json(record.to_json_dict()).encode() + b"\n")
        await response.write_eof()
        return response

    async def _stream(self, request: web.Request, query: EventsQuery) -> web.StreamResponse:
        name = f"events-http:{next(self._ids)}"
        types = tuple(query.filter.types) or ("EVENT",)
        subscription = self.bus.subscribe_buffer(name, maxsize=self.client_buffer, types=types)
        # Nothing can publish between subscribe_buffer and this line (same loop step).
        first_live = self.bus.snapshot().next_serial
        if query.since < first_live:
            try:
                await self._flushed(request)
            except web.HTTPServiceUnavailable:
                subscription.close()
                raise
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        sent = 0
        stopper: asyncio.Future[bool] = asyncio.ensure_future(self._stopping.wait())
        try:
            await response.prepare(request)
            if query.since < first_live:
                async for record in self._history(query, first_live, query.limit):
                    await self._write(response, sse_message(record.serial, record.to_json_dict()))
                    sent += 1
            while query.limit is None or sent < query.limit:
                if self.bus.dropped(name):
                    # The bus counts the drops (supervisor_events_dropped_total{subscriber}).
                    logger.warning(
                        "/events client %s is too slow (buffer of %d full); disconnecting",
                        request.remote,
                        self.client_buffer,
                    )
                    break
                event = await self._next_event(subscription, stopper)
                if event is None:
                    break
                if isinstance(event, bytes):
                    await self._write(response, event)
                    continue
                if event.serial < query.since or not query.filter.matches(event):
                    continue
                if query.since_time is not None and event.wall_time < query.since_time:
                    continue
                await self._write(response, sse_message(event.serial, event_json(event)))
                sent += 1
        except TimeoutError:
            logger.warning("/events client %s stopped reading; disconnecting", request.remote)
        except ConnectionError:
            pass  # the client went away: nothing to tell it
        finally:
            stopper.cancel()
            subscription.close()
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        async with asyncio.timeout(self.write_timeout):
            await response.write(data)

    async def _next_event(
        self, subscription: BufferedSubscription, stopper: asyncio.Future[bool]
    ) -> Event | bytes | None:
        """The next live event, a heartbeat comment, or None when the stream ends."""
        if stopper.done():
            return None
        with contextlib.suppress(asyncio.QueueEmpty):
            return subscription.get_nowait()  # the common case under load: no task
        getter = asyncio.ensure_future(subscription.get())
        waiting: set[asyncio.Future[Event] | asyncio.Future[bool]] = {getter, stopper}
        done, _ = await asyncio.wait(
            waiting, timeout=self.heartbeat, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in done:
            try:
                return getter.result()
            except StopAsyncIteration:
                return None
        # Cancelling a pending get() leaves any event in the buffer for the next call.
        getter.cancel()
        if stopper in done:
            return None
        return b": keep-alive\n\n"


def _start_serial(path: str, query: EventsQuery, until: int) -> int:
    """The first serial of the history: the latest of ``since``, ``since_time``, ``last``."""
    since = query.since
    if query.since_time is None and query.last is None:
        return since
    with open_journal(path) as reader:
        if query.since_time is not None:
            at = reader.first_serial_at(query.since_time)
            since = max(since, until if at is None else at)
        if query.last is not None:
            if query.last == 0:
                return until
            nth = reader.nth_newest_serial(query.filter, query.last, until=until)
            if nth is not None:
                since = max(since, nth)
    return since


def _read_page(
    path: str, filter_: EventFilter, since: int, until: int, page: int
) -> list[JournalRecord]:
    # Opened, read and closed in the worker thread: a cancelled request can never
    # close a connection another thread is still reading (SQLite would crash).
    with open_journal(path) as reader:
        return list(reader.select(filter_, since=since, until=until, limit=page))


def _restart_counts(path: str, until: int) -> tuple[int, dict[str, int]]:
    # In the worker thread, like _read_page: the connection never crosses threads.
    with open_journal(path) as reader:
        since = reader.last_serial_of_type("SUPERVISOR_DAEMON_START", until=until) or 0
        return since, reader.restart_counts(since=since, until=until)
