"""A real Prometheus (Debian's ``prometheus``) for the load scenario, and what it recorded.

Started on 127.0.0.1 with a temporary config that scrapes one target every second, and
stopped by pid. Scrape latency is Prometheus's own ``scrape_duration_seconds``, read
back over its HTTP API (``/api/v1/query``) for the window; a scrape that failed
(``up == 0``, e.g. the 1 s timeout) is counted, and its duration is the time it gave up.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.daemons import ScenarioFailed, free_port
from bench.scenarios import Samples
from bench.stats import median, percentile

#: Bound of one query to Prometheus's API.
QUERY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PromServer:
    """A running Prometheus: its base URL and pid."""

    url: str
    pid: int
    #: The scraped target's base URL.
    target: str


@contextlib.contextmanager
def prometheus(workdir: Path, port: int) -> Iterator[PromServer]:
    """A real Prometheus scraping ``127.0.0.1:port`` every second; yields its URL and pid.

    Started in ``workdir`` and stopped by pid (TERM, KILL after 30 s).
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise ScenarioFailed("no prometheus binary (Debian package 'prometheus')")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: superd\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    web_port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{web_port}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield PromServer(
            url=f"http://127.0.0.1:{web_port}", pid=process.pid, target=f"http://127.0.0.1:{port}"
        )
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def prom_query(base: str, query: str, at: float | None = None) -> list[dict[str, Any]]:
    """The ``result`` of an instant query; [] when Prometheus does not answer yet."""
    params = {"query": query} | ({} if at is None else {"time": f"{at:.3f}"})
    url = f"{base}/api/v1/query?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT) as response:
            body = response.read()
    except OSError:  # not listening yet, HTTP errors (URLError and HTTPError are OSErrors)
        return []
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def wait_scraped(base: str, timeout: float) -> None:
    """Wait until Prometheus has scraped the target successfully once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = prom_query(base, 'up{job="superd"}')
        if result and result[0]["value"][1] == "1":
            return
        time.sleep(0.5)
    raise ScenarioFailed(f"Prometheus did not scrape the listen port within {timeout:.0f} s")


def scrape_figures(base: str, start_wall: float, end_wall: float) -> Samples:
    """Scrape latency (Prometheus's ``scrape_duration_seconds``) and failed scrapes."""
    span = max(1, round(end_wall - start_wall))
    durations = [
        float(value)
        for series in prom_query(
            base, f'scrape_duration_seconds{{job="superd"}}[{span}s]', end_wall
        )
        for _, value in series["values"]
    ]
    ups = [
        float(value)
        for series in prom_query(base, f'up{{job="superd"}}[{span}s]', end_wall)
        for _, value in series["values"]
    ]
    if not durations:
        raise ScenarioFailed("Prometheus recorded no scrape_duration_seconds in the window")
    return {
        "scrape_p50_ms": [1000 * median(durations)],
        "scrape_p99_ms": [1000 * percentile(durations, 99)],
        "scrape_max_ms": [1000 * max(durations)],
        "scrapes_per_s": [len(durations) / span],
        "scrapes_failed": [float(sum(1 for up in ups if up != 1.0))],
    }
