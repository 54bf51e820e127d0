"""N Server-Sent-Events clients on superd's ``/events`` stream, in a process of their own.

Run by the ``load`` scenario (``bench/scenarios/load.py``) so that parsing thousands of
events a second does not share an event loop (and a GIL) with the 100 RPC clients::

    python bench/sse_clients.py URL CLIENTS MAX_SECONDS

Protocol on the pipes: one line ``ready`` on stdout once every client has its stream
open (HTTP 200 with ``text/event-stream``); then the parent writes one line on stdin,
the serial ``S`` the bus will give its next event at the end of the window; every
client reads until it has seen serial ``S - 1`` (bounded by ``DRAIN_TIMEOUT``) and the
process prints one JSON object on stdout and exits.

Each client subscribes with ``last=0`` (live events only) and, from the first serial it
receives, expects every following serial once and in order: a serial above the
expected one counts the skipped ones as lost, one below counts a duplicate. A stream
the server ends (a slow client's buffer overflowed) is reopened with ``Last-Event-ID``
(counted in ``reconnects``), as ``superctl events -f`` does. Event lag is
``time.monotonic()`` at the arrival of the ``data:`` line minus the event's own
``monotonic_time`` (one system-wide clock on Linux); a uniform reservoir of at most
``RESERVOIR`` lags is kept for the percentiles, with the exact count and maximum.

Every wait is bounded: ``MAX_SECONDS`` for the whole process, ``CONNECT_TIMEOUT`` for a
stream to open, ``DRAIN_TIMEOUT`` after the target serial is known.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field

import aiohttp

CONNECT_TIMEOUT = 30.0
DRAIN_TIMEOUT = 60.0
MAX_RECONNECTS = 100
RESERVOIR = 200_000


@dataclass(slots=True)
class ClientStats:
    """What one SSE client saw."""

    first: int = -1
    expected: int = -1
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Lags:
    """Event lags of every client: exact count and maximum, a uniform reservoir of values."""

    count: int = 0
    maximum: float = 0.0
    sample: list[float] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(19))

    def add(self, lag: float) -> None:
        """Record one lag (Vitter's algorithm R keeps the reservoir uniform)."""
        self.count += 1
        self.maximum = max(self.maximum, lag)
        if len(self.sample) < RESERVOIR:
            self.sample.append(lag)
        else:
            slot = self.rng.randrange(self.count)
            if slot < RESERVOIR:
                self.sample[slot] = lag


class Target:
    """The serial every client must reach, set once the parent sends it."""

    def __init__(self) -> None:
        self.serial: int | None = None
        self.known = asyncio.Event()


def _record(stats: ClientStats, lags: Lags, payload: bytes) -> None:
    now = time.monotonic()
    event = json.loads(payload)
    lags.add(now - float(event["monotonic_time"]))
    serial = int(event["serial"])
    if stats.first < 0:
        stats.first = serial
        stats.expected = serial
    if serial < stats.expected:
        stats.duplicates += 1
        return
    stats.lost += serial - stats.expected
    stats.received += 1
    stats.expected = serial + 1


def _done(stats: ClientStats, target: Target) -> bool:
    return target.serial is not None and stats.expected >= target.serial


async def _read_stream(
    response: aiohttp.ClientResponse, stats: ClientStats, lags: Lags, target: Target
) -> bool:
    """Read one open stream until it ends (False) or the target serial is reached (True)."""
    while True:
        line = await response.content.readline()
        if not line:
            return False
        if line.startswith(b"data:"):
            _record(stats, lags, line[5:].strip())
            if _done(stats, target):
                return True


async def client(
    session: aiohttp.ClientSession,
    *,
    url: str,
    stats: ClientStats,
    lags: Lags,
    target: Target,
    opened: asyncio.Event,
) -> None:
    """One SSE client: open, read, reopen with Last-Event-ID when the server ends it."""
    headers = {"Accept": "text/event-stream"}
    while stats.reconnects <= MAX_RECONNECTS:
        query = "?last=0" if stats.expected < 0 else ""
        if stats.expected >= 0:
            headers["Last-Event-ID"] = str(stats.expected - 1)
        try:
            async with session.get(url + query, headers=headers) as response:
                kind = response.headers.get("Content-Type", "")
                if response.status != 200 or not kind.startswith("text/event-stream"):
                    stats.errors.append(f"HTTP {response.status} {kind}")
                    return
                opened.set()
                if await _read_stream(response, stats, lags, target):
                    return
        except (aiohttp.ClientError, ConnectionError) as error:
            # The server ended the stream mid-message: reopen, as a browser would.
            stats.errors.append(f"{type(error).__name__}: {error}")
        if _done(stats, target):
            return
        stats.reconnects += 1


async def run(url: str, clients: int, max_seconds: float) -> dict[str, object]:
    """Run ``clients`` SSE clients until the target serial or ``max_seconds``."""
    target = Target()
    lags = Lags()
    stats = [ClientStats() for _ in range(clients)]
    opened = [asyncio.Event() for _ in range(clients)]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = [
            asyncio.create_task(
                client(session, url=url, stats=s, lags=lags, target=target, opened=o)
            )
            for s, o in zip(stats, opened, strict=True)
        ]
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await asyncio.gather(*(event.wait() for event in opened))
        print("ready", flush=True)
        line = await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline), max_seconds
        )
        target.serial = int(line)
        target.known.set()
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        for task, client_stats in zip(tasks, stats, strict=True):
            if task in pending:
                client_stats.errors.append("target serial not reached in time")
            elif task.exception() is not None:
                client_stats.errors.append(f"{type(task.exception()).__name__}: {task.exception()}")
    return {
        "target": target.serial,
        "clients": [asdict(s) for s in stats],
        "lag_count": lags.count,
        "lag_max": lags.maximum,
        "lag_sample": lags.sample,
    }


def main(argv: list[str]) -> int:
    """``URL CLIENTS MAX_SECONDS``: run the clients, print ``ready`` then the JSON result."""
    url, clients, max_seconds = argv[0], int(argv[1]), float(argv[2])
    result = asyncio.run(run(url, clients, max_seconds))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
