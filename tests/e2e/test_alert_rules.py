"""The generated rules under Prometheus' own tools, and firing in a real Prometheus.

``promtool check rules`` / ``promtool test rules`` run on the checked-in files; the
e2e test renders the same rules with small thresholds, loads them into a real
Prometheus (the Debian package, started and stopped by pid) that scrapes a real
``superd`` running a crash-looping program, and awaits the alerts on
``/api/v1/alerts``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from exporters.alerts import RULES_PATH, RULES_TEST_PATH, AlertConfig, Thresholds, rules_text
from exporters.notebook import prometheus_alerts
from tests.e2e.prometheus_server import free_port, prometheus
from tests.integration.superd_harness import Superd, base_config
from tests.peers import require_command

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds for the alerts to fire on a loaded 2-core machine

# Small thresholds so the alerts fire within seconds of the crash loop starting.
FAST = AlertConfig(
    thresholds=Thresholds(
        storm_for=1, flapping_restarts=3, flapping_window=60, flapping_for=1, down_for=600
    )
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_command("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_accepts_the_checked_in_rule_file() -> None:
    """``promtool check rules`` finds every recording and alerting rule valid."""
    result = promtool("check", "rules", str(ROOT / RULES_PATH), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 15 rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    """The rendered promtool unit tests (input series -> expected alerts) pass."""
    result = promtool("test", "rules", str(ROOT / RULES_TEST_PATH), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fail_when_a_threshold_drifts(tmp_path: Path) -> None:
    """The unit tests pin the thresholds: a rule file with another threshold fails them."""
    (tmp_path / "supervisor-rules.test.yml").write_text((ROOT / RULES_TEST_PATH).read_text())
    drifted = AlertConfig(thresholds=Thresholds(flapping_restarts=6))
    (tmp_path / "supervisor-rules.yml").write_text(rules_text(drifted))
    result = promtool("test", "rules", "supervisor-rules.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ProcessFlapping" in result.stdout + result.stderr


def test_promtool_accepts_rules_rendered_with_test_thresholds(tmp_path: Path) -> None:
    """Sub-minute ``for:`` and windows still render to valid rules."""
    path = tmp_path / "rules.yml"
    path.write_text(rules_text(FAST))
    result = promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def crash_loop(tmp_path: Path) -> Iterator[tuple[Superd, int]]:
    """superd running a program that dies with status 4 every ~0.2 s; yields its metrics port."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n\n"
        + "[program:crashy]\n"
        + "command = /bin/sh -c 'echo database unreachable >&2; sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        yield superd, port
    finally:
        if superd.process.poll() is None:
            superd.send(signal.SIGTERM)
            superd.wait_exit()
        superd.close()


async def firing_alerts(session: aiohttp.ClientSession, base: str) -> list[dict[str, object]]:
    """Prometheus' firing alerts (empty while it is still starting)."""
    try:
        async with session.get(f"{base}/api/v1/alerts") as response:
            if response.status != 200:
                return []
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return []
    alerts: list[dict[str, object]] = body["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


@pytest.mark.slow
async def test_a_crash_loop_fires_restart_storm_and_flapping_in_prometheus(
    tmp_path: Path, crash_loop: tuple[Superd, int]
) -> None:
    """A real Prometheus with the generated rules fires ProcessRestartStorm and
    ProcessFlapping for the crash-looping program, and nothing for the steady one."""
    _superd, metrics_port = crash_loop
    wanted = {"ProcessRestartStorm", "ProcessFlapping"}
    seen: dict[str, dict[str, object]] = {}
    started = time.time()
    async with (
        prometheus(tmp_path, ("127.0.0.1", metrics_port), rules=rules_text(FAST)) as base,
        aiohttp.ClientSession() as session,
    ):
        try:
            async with asyncio.timeout(DEADLINE):
                while not wanted <= seen.keys():
                    for alert in await firing_alerts(session, base):
                        labels = alert["labels"]
                        assert isinstance(labels, dict)
                        seen.setdefault(str(labels["alertname"]), alert)
                    # Prometheus is an external peer: its HTTP API is all there is to await.
                    await asyncio.sleep(0.5)
        except TimeoutError:
            log = (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"alerts firing: {sorted(seen)}; wanted {sorted(wanted)}\n{log}")
        # The notebook's reader of alert history sees the same alert over the HTTP API.
        history = await asyncio.to_thread(
            prometheus_alerts,
            base,
            start=started - 5,
            end=time.time() + 1,
            step=1,
            alertnames=["ProcessRestartStorm"],
        )
        # supervisorctl's name; the alert fires to the end of the range: still firing.
        assert "crashy" in set(history["process"])
        assert history[history["process"] == "crashy"]["still_firing"].all()
    for name in wanted:
        labels = seen[name]["labels"]
        assert isinstance(labels, dict)
        assert (labels["group"], labels["name"], labels["job"]) == ("crashy", "crashy", "superd")
        annotations = seen[name]["annotations"]
        assert isinstance(annotations, dict)
        assert "crashy:crashy" in str(annotations["summary"])
    assert seen["ProcessRestartStorm"]["labels"]["severity"] == "critical"  # type: ignore[index]
    assert not [a for a in seen.values() if json.dumps(a["labels"]).count('"steady"')], (
        "the steady program must not alert"
    )
