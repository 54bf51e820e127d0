"""The fleet-overview notebook, executed by papermill on a real ipykernel, against a real fleet.

Two real superd processes (two "hosts": two ``instance`` labels) run the same crash
loop ``crashy`` beside a steady program, and host B a second, slow crash loop
``worker`` (started late, stopped before its third restart: no storm); one real
Prometheus (Debian's) scrapes both every second. Once both hosts' storm detectors
report a storm of crashy, an operator stops the crash loops and Prometheus scrapes
the final counts; then papermill runs the notebook against that Prometheus. The
summary it prints must hold each host's restarts as Prometheus' own
``supervisor_process_restarts_total`` increased over the same range, crashy's two
storms as one shared storm across both hosts, and the rate plot must be drawn.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.prometheus_server import free_port, prometheus
from tests.e2e.test_notebook_prometheus import query
from tests.e2e.test_postmortem_notebook import metric
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "fleet-overview.ipynb"
DEADLINE = 120.0  # two superds and a Prometheus on 2 shared cores
RESTARTS = 'supervisor_process_restarts_total{{group="{0}",name="{0}"}}'
STORM = 'supervisor_process_restart_storm{group="crashy",name="crashy"}'


def host_config(tmp: Path, port: int, *, worker: bool) -> str:
    """One host: crashy's crash loop, a steady program and, with ``worker``, a slow loop."""
    text = (
        base_config(tmp)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n\n"
    )
    if worker:
        text += (
            "[program:worker]\ncommand = /bin/sh -c 'sleep 0.2; exit 3'\nstartsecs = 0\n"
            "autorestart = true\nautostart = false\nbackoff_initial = 3\nbackoff_factor = 1\n\n"
        )
    return text


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[tuple[Superd, int]]]:
    """Two superds (host A without worker, host B with it) and their metrics ports."""
    with ExitStack() as stack:
        started = []
        for name, worker in (("a", False), ("b", True)):
            home = tmp_path / name
            home.mkdir()
            port = free_port()
            daemon = Superd(home, host_config(home, port, worker=worker), "-n")
            stack.callback(daemon.close)
            started.append((daemon, port))
        for daemon, _port in started:
            daemon.wait_running()
        yield started


async def run_notebook(
    base: str, start: float, end: float, workdir: Path
) -> list[dict[str, object]]:
    """The papermill command executes the notebook on Prometheus at ``base`` (as a user
    would run it, in its own process); returns every cell output."""
    executed = workdir / "fleet-overview.out.ipynb"
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "papermill"),
        str(NOTEBOOK),
        str(executed),
        "-p", "prometheus_url", base,
        "-p", "period", repr(end - start),
        "-p", "until", repr(end),
        "-p", "bucket", "1min",
        "-k", "python3",
        "--cwd", str(workdir),
        "--no-progress-bar",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=DEADLINE)
    assert process.returncode == 0, output.decode(errors="replace")
    notebook = json.loads(executed.read_text())
    return [output for cell in notebook["cells"] for output in cell.get("outputs", [])]


def test_the_notebook_is_checked_in_without_outputs_and_with_a_parameters_cell() -> None:
    """papermill finds the tagged parameters cell (URL, period of a week, top, bucket); no
    cell carries outputs from a past run."""
    notebook = json.loads(NOTEBOOK.read_text())
    tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    for line in ("prometheus_url = ", "period = 7 * 86400.0", "top = 5", 'bucket = "1h"'):
        assert line in source
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


async def test_the_fleet_overview_of_two_real_hosts(
    hosts: list[tuple[Superd, int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's summary lists both hosts, each host's top restarting programs with
    exactly the increase of supervisor_process_restarts_total Prometheus has, crashy's
    storms on both hosts as one shared storm, and it draws the restart-rate plot."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    targets = ", ".join(f"'127.0.0.1:{port}'" for _daemon, port in hosts)
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n  - job_name: superd\n"
        f"    static_configs: [{{targets: [{targets}]}}]\n"
    )
    instances = [f"127.0.0.1:{port}" for _daemon, port in hosts]
    start = time.time() - 5
    async with prometheus(tmp_path, ("", 0), config_text=config) as base:

        def storming_everywhere() -> bool:
            found = query(base, STORM)
            return {str(s["metric"]["instance"]) for s in found if s["value"][1] == "1"} == set(  # type: ignore[index]
                instances
            )

        def crashy_restarts() -> dict[str, float]:
            found = query(base, RESTARTS.format("crashy"))
            return {str(s["metric"]["instance"]): float(s["value"][1]) for s in found}  # type: ignore[index]

        # Prometheus is an external peer: its HTTP API is all there is to await.
        first = await asyncio.to_thread(
            wait_for, lambda: len(crashy_restarts()) == 2 and crashy_restarts(), "scrapes", DEADLINE
        )
        # Restarts Prometheus sees happen (not only ones before its first scrape).
        await asyncio.to_thread(
            wait_for,
            lambda: all(crashy_restarts()[i] >= first[i] + 5 for i in instances),
            "5 more restarts of crashy on each host",
            DEADLINE,
        )
        await asyncio.to_thread(wait_for, storming_everywhere, "crashy storms seen", DEADLINE)
        for daemon, _port in hosts:
            daemon.call("stopProcess", "crashy")
        daemon_b = hosts[1][0]
        daemon_b.call("startProcess", "worker", False)
        worker_b = RESTARTS.format("worker")
        await asyncio.to_thread(
            wait_for,
            lambda: any(float(s["value"][1]) >= 1 for s in query(base, worker_b)),  # type: ignore[index]
            "a restart of worker scraped",
            DEADLINE,
        )
        # 3 s between its restarts: stopped well before a third (the storm burst).
        daemon_b.call("stopProcess", "worker")
        finals = {
            (instance, name): metric(port, RESTARTS.format(name))
            for instance, (_d, port) in zip(instances, hosts, strict=True)
            for name in ("crashy", "worker", "steady")
        }

        def all_scraped() -> bool:
            for (instance, name), value in finals.items():
                found = [
                    s
                    for s in query(base, RESTARTS.format(name))
                    if s["metric"]["instance"] == instance  # type: ignore[index]
                ]
                if value is None:
                    if found:
                        return False
                elif not found or float(found[0]["value"][1]) != value:  # type: ignore[index]
                    return False
            return True

        await asyncio.to_thread(wait_for, all_scraped, "the final counts scraped", DEADLINE)
        end = time.time() + 1
        increases: dict[tuple[str, str], int] = {}
        for name in ("crashy", "worker", "steady"):
            for series in query(base, RESTARTS.format(name), start=start, end=end, step=1.0):
                values = [float(v) for _, v in series["values"]]  # type: ignore[union-attr]
                instance = str(series["metric"]["instance"])  # type: ignore[index]
                increases[(instance, name)] = round(values[-1] - values[0])
        outputs = await run_notebook(base, start, end, tmp_path)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs, default=str))
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "".join("".join(o.get("text", [])) for o in outputs)  # type: ignore[arg-type]
    (line,) = [line for line in text.splitlines() if line.startswith("FLEET SUMMARY ")]
    summary = json.loads(line.removeprefix("FLEET SUMMARY "))
    host_a, host_b = instances
    assert summary["hosts"] == sorted(instances)
    assert increases[(host_a, "crashy")] >= 5
    assert increases[(host_b, "crashy")] >= 5
    assert increases[(host_b, "worker")] >= 1
    expected_top = {
        host: sorted(
            [
                [name, count]
                for (instance, name), count in increases.items()
                if instance == host and count > 0
            ],
            key=lambda pair: (-pair[1], pair[0]),
        )
        for host in instances
    }
    assert summary["top"] == expected_top
    assert summary["restarts"] == {
        host: sum(c for (i, _n), c in increases.items() if i == host) for host in instances
    }
    (shared,) = summary["shared_storms"]
    assert sorted(zip(shared["hosts"], shared["processes"], strict=True)) == sorted(
        [(host_a, "crashy"), (host_b, "crashy")]
    )
    assert shared["end"] is not None  # both were stopped, and Prometheus saw the gauge fall
    assert 0 < shared["restarts"] <= increases[(host_a, "crashy")] + increases[(host_b, "crashy")]
    assert "Shared storm from " in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]  # type: ignore[operator]
    assert len(images) == 1
