"""Load (and soak): N programs, C of them in a crash storm, every client at once, for W s.

The config: ``N - C`` sleepers (supervisord's defaults, AUTO logs) and ``C`` programs
that crash ``CRASH_AFTER_S`` after every start (``sh -c 'sleep 1; exit 1'``,
``startsecs=0``, ``autorestart=true``: restarted at once, forever), plus
``[exporter:prometheus] listen=`` on a free loopback port (supervisord ignores the
section); the journal, the web page and the storm detector are on by default in superd.

Once every sleeper is RUNNING, for a window of W seconds:

- ``R`` XML-RPC clients (aiohttp, one process with the harness), each in a loop:
  ``getAllProcessInfo`` every tenth call (the first one included), otherwise
  ``getState`` or ``getProcessInfo`` of a random program, with a think time of
  ``RPC_THINK_S`` (uniformly 0.5-1.5 times it) between calls; latency of each call
  (request and full body), its HTTP status and the absence of ``<fault>`` checked,
  failures counted;
- ``S`` SSE clients on ``/events`` in a process of their own (``bench/sse_clients.py``):
  event lag (arrival minus the event's own ``monotonic_time``), events lost or
  duplicated per client, reconnects;
- a real Prometheus (Debian's ``prometheus``) scraping the ``listen`` port every second;
  scrape latency is Prometheus's own ``scrape_duration_seconds`` over the window, read
  from its HTTP API, with the scrapes that failed (``up == 0``);
- the daemon's RSS sampled every ``rss_interval`` s (start, end, max, least-squares slope
  in MiB per minute over the whole window and over its second half) and its CPU.

After the window the bus's next serial ``S1`` is read (``X-Next-Serial``); every SSE
client must have received every serial from its first up to ``S1 - 1``, and the
journal (``/events`` JSON lines) must hold every one of them too ("share" = 1).

supervisord has no ``/metrics``, ``/events`` or exporters: it gets the same programs,
the same storm and the same RPC clients; the SSE, event and scrape figures are "—".

``--soak`` runs this scenario alone for ``--soak-minutes`` (30) and checks the late
RSS slope against a stated bound (``soak_verdict``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import psutil

from bench.config import ProgramSpec
from bench.daemons import (
    RPC_ERRORS,
    DaemonSpec,
    RunningDaemon,
    ScenarioFailed,
    cpu_between,
    free_port,
    process_states,
    read_cpu,
    running_daemon,
    sleeper_command,
)
from bench.load_figures import MIB, rss_figures, sse_figures, wait_between
from bench.prometheus_peer import PromServer, prometheus, scrape_figures, wait_scraped
from bench.scenarios import Profile, Samples
from bench.stats import MetricSpec, percentile

SLEEPER_PREFIX = "sleep_"
CRASH_PREFIX = "crash_"
#: A crashing program runs this long, then exits 1.
CRASH_AFTER_S = 1.0
#: Mean pause of an RPC client between two calls (uniformly 0.5-1.5 times this).
RPC_THINK_S = 0.5
#: Every this many calls of a client, one is getAllProcessInfo.
FULL_LIST_EVERY = 10
#: The harness' own scrape of the listen port (no 1 s timeout, unlike Prometheus').
OWN_SCRAPE_S = 5.0
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
#: Default bound of the soak's late RSS slope (MiB per minute).
SOAK_MAX_SLOPE = 0.25
#: Bounds (not figures).
REQUEST_TIMEOUT = 30.0
STARTUP_TIMEOUT_BASE = 60.0
PROMETHEUS_READY_TIMEOUT = 60.0
SSE_READY_TIMEOUT = 60.0
SSE_RESULT_TIMEOUT = 120.0
JOURNAL_READ_TIMEOUT = 300.0
BENCH = Path(__file__).resolve().parent.parent
SSE_CLIENTS = BENCH / "sse_clients.py"


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcCall:
    """One kind of XML-RPC call the clients make: a label and its encoded body."""

    method: str
    body: bytes


def _calls(names: Sequence[str]) -> tuple[RpcCall, list[RpcCall]]:
    full = RpcCall(
        method="getAllProcessInfo",
        body=xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode(),
    )
    small = [
        RpcCall(method="getState", body=xmlrpc.client.dumps((), "supervisor.getState").encode())
    ]
    small += [
        RpcCall(
            method="getProcessInfo",
            body=xmlrpc.client.dumps((name,), "supervisor.getProcessInfo").encode(),
        )
        for name in names
    ]
    return full, small


@dataclass(slots=True)
class RpcResults:
    """Latencies (seconds) per method and failed calls, pooled over every client."""

    latencies: dict[str, list[float]]
    errors: list[str]
    #: Latencies of the harness' own ``/metrics`` scrapes.
    scrapes: list[float]


async def _rpc_client(
    session: aiohttp.ClientSession,
    *,
    url: str,
    calls: tuple[RpcCall, list[RpcCall]],
    until: float,
    rng: random.Random,
    results: RpcResults,
) -> None:
    full, small = calls
    headers = {"Content-Type": "text/xml"}
    await asyncio.sleep(rng.uniform(0, RPC_THINK_S))  # spread the clients' phases
    index = 0
    while time.perf_counter() < until:
        call = full if index % FULL_LIST_EVERY == 0 else rng.choice(small)
        if call.method == "getProcessInfo" and index % 2 == 0:
            call = small[0]  # half of the small calls are getState
        index += 1
        started = time.perf_counter()
        try:
            async with session.post(url, data=call.body, headers=headers) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            results.errors.append(f"{call.method}: {type(error).__name__}: {error}")
        else:
            elapsed = time.perf_counter() - started
            if response.status != 200 or b"<fault>" in body:
                results.errors.append(f"{call.method}: HTTP {response.status}: {body[:120]!r}")
            else:
                results.latencies.setdefault(call.method, []).append(elapsed)
        await asyncio.sleep(RPC_THINK_S * rng.uniform(0.5, 1.5))


async def _sample_rss(
    running: RunningDaemon, started: float, interval: float, until: float
) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    while True:
        now = time.perf_counter()
        points.append((now - started, float(running.rss_bytes())))
        if now >= until:
            return points
        await asyncio.sleep(min(interval, max(0.0, until - now)))


async def _own_scrapes(
    session: aiohttp.ClientSession, url: str, until: float, results: RpcResults
) -> None:
    """GET ``url`` as Prometheus asks for it, every ``OWN_SCRAPE_S``, timed without a 1 s cap."""
    headers = {"Accept": OPENMETRICS, "Accept-Encoding": "gzip"}
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            results.errors.append(f"/metrics: {type(error).__name__}: {error}")
        else:
            if response.status == 200:
                results.scrapes.append(time.perf_counter() - started)
            else:
                results.errors.append(f"/metrics: HTTP {response.status}")
        await asyncio.sleep(max(0.0, OWN_SCRAPE_S - (time.perf_counter() - started)))


async def _window(
    running: RunningDaemon,
    names: Sequence[str],
    *,
    clients: int,
    seconds: float,
    interval: float,
    scrape_url: str | None,
) -> tuple[RpcResults, list[tuple[float, float]], float]:
    """The RPC clients, the own scrapes and the RSS sampler for ``seconds``."""
    results = RpcResults(latencies={}, errors=[], scrapes=[])
    calls = _calls(names)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        until = started + seconds
        rng = random.Random(19)
        sampler = asyncio.create_task(_sample_rss(running, started, interval, until))
        if scrape_url is not None:
            scraper = asyncio.create_task(_own_scrapes(session, scrape_url, until, results))
        await asyncio.gather(
            *(
                _rpc_client(
                    session,
                    url=running.layout.rpc_url,
                    calls=calls,
                    until=until,
                    rng=random.Random(rng.random()),
                    results=results,
                )
                for _ in range(clients)
            )
        )
        rss = await sampler
        if scrape_url is not None:
            await scraper
        elapsed = time.perf_counter() - started
    return results, rss, elapsed


async def _get(
    url: str, *, seconds: float = REQUEST_TIMEOUT
) -> tuple[int, Mapping[str, str], bytes]:
    client_timeout = aiohttp.ClientTimeout(total=seconds)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(url) as response,
    ):
        return response.status, dict(response.headers), await response.read()


def _next_serial(base: str) -> int:
    status, headers, body = asyncio.run(_get(f"{base}/events?last=0"))
    if status != 200 or "X-Next-Serial" not in headers:
        raise ScenarioFailed(f"GET /events?last=0: HTTP {status}: {body[:200]!r}")
    return int(headers["X-Next-Serial"])


async def _count_lines(url: str) -> int:
    timeout = aiohttp.ClientTimeout(total=JOURNAL_READ_TIMEOUT)
    count = 0
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        if response.status != 200:
            raise ScenarioFailed(f"GET {url}: HTTP {response.status}")
        async for chunk in response.content.iter_chunked(1 << 16):
            count += chunk.count(b"\n")
    return count


def journal_events(base: str, first: int, end: int) -> int:
    """Events the journal holds with serials in ``[first, end)`` (streamed, not parsed)."""
    return asyncio.run(_count_lines(f"{base}/events?since={first}&limit={max(0, end - first)}"))


class SseClients:
    """The SSE client process (``bench/sse_clients.py``), started and stopped by pid."""

    def __init__(self, url: str, clients: int, max_seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SSE_CLIENTS), url, str(clients), str(max_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def wait_ready(self, timeout: float) -> None:
        """Wait for the ``ready`` line (every stream open)."""
        line = _readline(self._stdout(), timeout)
        if line.strip() != "ready":
            raise ScenarioFailed(f"SSE clients not ready: {line!r} {self._stderr_tail()}")

    def finish(self, target: int, timeout: float) -> dict[str, Any]:
        """Send the target serial; return the clients' JSON result."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{target}\n")
        self.process.stdin.flush()
        line = _readline(self._stdout(), timeout)
        if not line:
            raise ScenarioFailed(f"SSE clients gave no result: {self._stderr_tail()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def _stderr_tail(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return " ".join(self.process.stderr.read()[-400:].split())

    def stop(self) -> None:
        """Stop the process if it is still running (by pid)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def _readline(stream: IO[str], timeout: float) -> str:
    """One line from a child's pipe, or "" after ``timeout`` seconds (a thread reads it)."""
    box: list[str] = []

    def read() -> None:
        box.append(stream.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def run_queue_wait(pid: int) -> dict[int, int]:
    """Nanoseconds each thread of ``pid`` has waited for a CPU (``schedstat``'s second field).

    On a shared machine this says how much of a latency is the daemon waiting its turn.
    """
    waits: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                waits[int(task.name)] = int((task / "schedstat").read_text().split()[1])
    return waits


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def _after_window(what: str) -> Iterator[None]:
    try:
        yield
    except (ScenarioFailed, aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
        print(f"  load: {what}: no figures: {type(error).__name__}: {error}", file=sys.stderr)


def log_rss_series(points: Sequence[tuple[float, float]], rows: int = 12) -> None:
    """About ``rows`` evenly spaced RSS samples on stderr, to see the curve's shape."""
    if not points:
        return
    step = max(1, len(points) // rows)
    shown = [*points[::step], points[-1]] if (len(points) - 1) % step else points[::step]
    series = ", ".join(f"{t:.0f}s {rss / MIB:.1f}" for t, rss in shown)
    print(f"  load: RSS (MiB): {series}", file=sys.stderr)


#: The statistics of a latency figure: its key's part and its label's.
_STATISTICS = {"p50": "median", "p99": "p99", "max": "max"}
#: The processes besides the daemon whose CPU is reported: figure key -> label.
_COMPANION_CPU = {
    "client_cpu_pct": "the RPC clients (harness)",
    "sse_cpu_pct": "the SSE client process",
    "prometheus_cpu_pct": "Prometheus",
}


def _statistic(stat: str, seconds: Sequence[float]) -> float:
    return max(seconds) if stat == "max" else percentile(seconds, 50.0 if stat == "p50" else 99.0)


def _latency_specs(
    key: str, first: str, rest: str, stats: Sequence[str] = ("p50", "p99", "max")
) -> tuple[MetricSpec, ...]:
    """``{key}_{stat}_ms`` figures: the first labelled ``first``, the others ``rest``."""
    return tuple(
        MetricSpec(
            key=f"{key}_{stat}_ms",
            label=f"{rest if index else first}, {_STATISTICS[stat]}",
            unit="ms",
        )
        for index, stat in enumerate(stats)
    )


def _latency_samples(key: str, seconds: Sequence[float], stats: Sequence[str]) -> Samples:
    """The ``{key}_{stat}_ms`` figures of latencies in ``seconds``."""
    return {f"{key}_{stat}_ms": [1000 * _statistic(stat, seconds)] for stat in stats}


def _higher(key: str, label: str, unit: str) -> MetricSpec:
    """A figure where more is better (a rate, a share)."""
    return MetricSpec(key=key, label=label, unit=unit, lower_is_better=False)


class Load:
    """Everything at once: a crash storm, RPC clients, SSE clients and a Prometheus."""

    name = "load"
    title = "load"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.load_programs
        self.crashing = min(profile.load_crashing, profile.load_programs)
        self.sse_clients = profile.load_sse_clients
        self.rpc_clients = profile.load_rpc_clients
        self.duration = profile.load_duration
        self.soak = profile.load_soak
        self.rss_interval = max(1.0, self.duration / 600)
        n, c, r, s = self.programs, self.crashing, self.rpc_clients, self.sse_clients
        where = f"{n} programs, {c} crashing, {r} RPC clients"
        self.metrics: tuple[MetricSpec, ...] = (
            *(
                MetricSpec(
                    key=f"rpc_{stat}_ms", label=f"{where}: RPC {_STATISTICS[stat]}", unit="ms"
                )
                for stat in ("p50", "p99")
            ),
            MetricSpec(
                key="full_p99_ms", label="getAllProcessInfo p99 (every 10th call)", unit="ms"
            ),
            _higher("rpc_calls_per_s", "RPC calls answered/s", "1/s"),
            MetricSpec(
                key="rpc_errors", label="RPC calls failed (fault, HTTP error, timeout)", unit=""
            ),
            _higher(
                "restarts_per_s", f"storm: restarts/s ({c} / {CRASH_AFTER_S:g} s ideal)", "1/s"
            ),
            _higher("events_per_s", "events published/s", "1/s"),
            *_latency_specs("lag", f"event lag to {s} SSE clients", "event lag"),
            _higher("sse_share_min", "events received ÷ published, worst SSE client", "×"),
            MetricSpec(key="sse_lost", label="events lost (all SSE clients)", unit=""),
            MetricSpec(key="sse_duplicates", label="events duplicated (all SSE clients)", unit=""),
            MetricSpec(key="sse_reconnects", label="SSE streams ended by the server", unit=""),
            _higher("journal_share", "journal events ÷ published (/events)", "×"),
            *_latency_specs("scrape", "Prometheus scrape (1 s)", "Prometheus scrape"),
            *_latency_specs(
                "own_scrape",
                f"harness's own scrape every {OWN_SCRAPE_S:g} s (no timeout)",
                "harness's own scrape",
                stats=("p50", "max"),
            ),
            _higher("scrapes_per_s", "Prometheus scrapes/s recorded", "1/s"),
            MetricSpec(key="scrapes_failed", label="Prometheus scrapes failed (up=0)", unit=""),
            MetricSpec(key="cpu_pct", label="daemon CPU", unit="% core"),
            MetricSpec(
                key="cpu_wait_pct",
                label="daemon threads waiting for a CPU (run queue; a shared machine)",
                unit="% core",
            ),
            *(
                MetricSpec(key=key, label=f"CPU of {what}", unit="% core")
                for key, what in _COMPANION_CPU.items()
            ),
            MetricSpec(key="rss_start_mib", label="daemon RSS at the window's start", unit="MiB"),
            MetricSpec(key="rss_end_mib", label="daemon RSS at the window's end", unit="MiB"),
            MetricSpec(key="rss_max_mib", label="daemon RSS, max", unit="MiB"),
            MetricSpec(
                key="rss_slope_mib_per_min", label="RSS slope, whole window", unit="MiB/min"
            ),
            MetricSpec(
                key="rss_late_slope_mib_per_min", label="RSS slope, second half", unit="MiB/min"
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Sizes, window, think time and (soak) the slope bound."""
        params: dict[str, Any] = {
            "programs": self.programs,
            "crashing": self.crashing,
            "crash_after_s": CRASH_AFTER_S,
            "sse_clients": self.sse_clients,
            "rpc_clients": self.rpc_clients,
            "rpc_think_s": RPC_THINK_S,
            "window_s": self.duration,
            "rss_interval_s": self.rss_interval,
        }
        if self.soak is not None:
            params["soak_max_slope_mib_per_min"] = self.soak
        return params

    def _program_specs(self, starts: Path) -> list[ProgramSpec]:
        sleepers = self.programs - self.crashing
        width = max(3, len(str(self.programs)))
        specs = [
            ProgramSpec(name=f"{SLEEPER_PREFIX}{i:0{width}d}", command=sleeper_command())
            for i in range(sleepers)
        ]
        crash = f'/bin/sh -c "echo >> {starts}; sleep {CRASH_AFTER_S:g}; exit 1"'
        specs += [
            ProgramSpec(
                name=f"{CRASH_PREFIX}{i:0{width}d}",
                command=crash,
                autorestart="true",
                startsecs=0,
            )
            for i in range(self.crashing)
        ]
        return specs

    def _wait_started(self, running: RunningDaemon, starts: Path, timeout: float) -> None:
        """Every sleeper RUNNING and every crashing program started at least once."""
        sleepers = self.programs - self.crashing
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if running.exited() is not None:
                raise ScenarioFailed(f"daemon exited while starting: {running.output_tail()}")
            with contextlib.suppress(*RPC_ERRORS):
                states = process_states(running)
                up = sum(
                    1 for n, s in states.items() if n.startswith(SLEEPER_PREFIX) and s == "RUNNING"
                )
                if up >= sleepers and _lines(starts) >= self.crashing:
                    return
            time.sleep(0.2)
        raise ScenarioFailed(f"programs not all started within {timeout:.0f} s")

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start the config, open every client, measure the window, check deliveries."""
        with tempfile.TemporaryDirectory(prefix="superbench-load-") as tmp:
            workdir, starts = Path(tmp), Path(tmp) / "starts"
            listen = free_port()
            extra = f"[exporter:prometheus]\nlisten = 127.0.0.1:{listen}\n"
            programs = self._program_specs(starts)
            with (
                running_daemon(daemon, programs, extra) as running,
                contextlib.ExitStack() as stack,
            ):
                self._wait_started(running, starts, STARTUP_TIMEOUT_BASE + 0.2 * self.programs)
                base = running.layout.rpc_url.rsplit("/", 1)[0]
                status, _, _ = asyncio.run(_get(f"{base}/events?last=0"))
                exporters = status == 200
                prom = sse = None
                if exporters:
                    prom = stack.enter_context(prometheus(workdir, listen))
                    sse = SseClients(f"{base}/events", self.sse_clients, self.duration + 600)
                    stack.callback(sse.stop)
                    wait_scraped(prom.url, PROMETHEUS_READY_TIMEOUT)
                    sse.wait_ready(SSE_READY_TIMEOUT)
                return self._measure(running, base, starts, prom, sse)

    def _measure(
        self,
        running: RunningDaemon,
        base: str,
        starts: Path,
        prom: PromServer | None,
        sse: SseClients | None,
    ) -> Samples:
        names = [f"{name}:{name}" for name in (p.name for p in self._program_specs(starts))]
        first_serial = _next_serial(base) if sse is not None else 0
        start_wall = time.time()
        # The clients share the machine's cores with the daemon: their CPU is reported too.
        companions = {"client_cpu_pct": psutil.Process()}
        if prom is not None:
            companions["prometheus_cpu_pct"] = psutil.Process(prom.pid)
        if sse is not None:
            companions["sse_cpu_pct"] = psutil.Process(sse.process.pid)
        companion_before = {key: read_cpu(p) for key, p in companions.items()}
        starts_before, cpu_before = _lines(starts), running.cpu_reading()
        wait_before = run_queue_wait(running.pid)
        results, rss, elapsed = asyncio.run(
            _window(
                running,
                names,
                clients=self.rpc_clients,
                seconds=self.duration,
                interval=self.rss_interval,
                scrape_url=None if prom is None else f"{prom.target}/metrics",
            )
        )
        starts_after, cpu_after = _lines(starts), running.cpu_reading()
        wait_after = run_queue_wait(running.pid)
        companion_after = {key: read_cpu(p) for key, p in companions.items()}
        end_wall = time.time()
        if running.exited() is not None:
            raise ScenarioFailed(f"daemon exited during the window: {running.output_tail()}")
        every = [x for values in results.latencies.values() for x in values]
        if not every:
            raise ScenarioFailed(f"no RPC call succeeded: {results.errors[:3]}")
        if results.errors:
            print(
                f"  {len(results.errors)} RPC calls failed, e.g. {results.errors[:3]}",
                file=sys.stderr,
            )
        samples: Samples = {
            **_latency_samples("rpc", every, ("p50", "p99")),
            "rpc_calls_per_s": [len(every) / elapsed],
            "rpc_errors": [float(len(results.errors))],
            "restarts_per_s": [(starts_after - starts_before) / elapsed],
            "cpu_pct": [100 * cpu_between(cpu_before, cpu_after) / elapsed],
            "cpu_wait_pct": [100 * wait_between(wait_before, wait_after) / elapsed],
        }
        for key, before in companion_before.items():
            used = companion_after[key].ticks_seconds - before.ticks_seconds
            samples[key] = [100 * used / elapsed]
        if results.scrapes:
            samples.update(_latency_samples("own_scrape", results.scrapes, ("p50", "max")))
        full = results.latencies.get("getAllProcessInfo")
        if full:
            samples.update(_latency_samples("full", full, ("p99",)))
        samples.update({k: [v] for k, v in rss_figures(rss).items()})
        log_rss_series(rss)
        # A soak's RSS figures must survive a failure of what is read after the window:
        # such a failure is logged and its figures are left out ("—"), never guessed.
        with _after_window("SSE clients and journal"):
            if sse is not None:
                end, end_at = _next_serial(base), time.time()
                result = sse.finish(end, SSE_RESULT_TIMEOUT)
                sse_samples, first = sse_figures(result, end)
                sse_samples["events_per_s"] = [(end - first_serial) / (end_at - start_wall)]
                samples.update(sse_samples)
                journal = journal_events(base, first, end)
                samples["journal_share"] = [journal / max(1, end - first)]
        with _after_window("Prometheus"):
            if prom is not None:
                samples.update(scrape_figures(prom.url, start_wall, end_wall))
        return samples

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
