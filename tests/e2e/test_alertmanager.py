"""The shipped prometheus.yml and alertmanager.yml with a real Prometheus and Alertmanager.

``amtool check-config`` and ``promtool check config`` accept the shipped files. Then a
real superd runs a crash loop, a real Prometheus (the shipped prometheus.yml, with
only targets and intervals changed) evaluates the rules, and a real Alertmanager (the
shipped alertmanager.yml, with only addresses and group_wait changed) routes them: the
webhook receiver gets one notification grouped by instance, group and name, holding
ProcessRestartStorm, while ProcessFlapping for the same process is inhibited; the
critical route also mails it to an aiosmtpd sink.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from exporters.alerts import AlertConfig, Thresholds, rules_text
from tests.e2e.alertmanager_server import alertmanager
from tests.e2e.prometheus_server import free_port, prometheus
from tests.integration.notify_peers import SmtpSink, WebhookReceiver
from tests.integration.superd_harness import Superd, base_config
from tests.peers import require_command

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DEADLINE = 90.0

# The storm alert fires about a second into the crash loop; flapping needs ten
# restarts first, so the storm is in Alertmanager before flapping can be.
FAST = AlertConfig(
    thresholds=Thresholds(
        storm_for=1, flapping_restarts=10, flapping_window=60, flapping_for=1, down_for=600
    )
)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_amtool_accepts_the_shipped_alertmanager_config() -> None:
    """``amtool check-config`` passes on deploy/alertmanager/alertmanager.yml."""
    result = run(require_command("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout


def test_promtool_accepts_the_shipped_prometheus_config() -> None:
    """``promtool check config`` passes on deploy/prometheus/prometheus.yml and its rules."""
    result = run(require_command("promtool"), "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_amtool_routes_a_storm_to_mail_and_webhook_grouped_per_process() -> None:
    """The routing tree sends a critical process alert to mail+webhook, grouped per process."""
    result = run(
        require_command("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        "--verify.receivers=ops-mail-and-webhook",
        "alertname=ProcessRestartStorm",
        "severity=critical",
        "instance=a:9001",
        "group=web",
        "name=web",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def prometheus_config(metrics_port: int, alertmanager_url: str) -> str:
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        alertmanager_url.removeprefix("http://")
    ]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_port}"]
    return yaml.safe_dump(config)


def alertmanager_config(webhook_url: str, smtp_port: int) -> str:
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text())
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["route"]["group_wait"] = "5s"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    return yaml.safe_dump(config)


@pytest.fixture
def crash_loop(tmp_path: Path) -> Iterator[int]:
    """superd running a program that dies with status 4 every ~0.2 s; yields its metrics port."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + "[program:crashy]\n"
        + "command = /bin/sh -c 'echo database unreachable >&2; sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        yield port
    finally:
        if superd.process.poll() is None:
            superd.send(signal.SIGTERM)
            superd.wait_exit()
        superd.close()


async def am_alerts(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    try:
        async with session.get(f"{base}/api/v2/alerts") as response:
            if response.status != 200:
                return []
            alerts: list[dict[str, Any]] = await response.json()
            return alerts
    except aiohttp.ClientConnectionError:
        return []


@pytest.mark.slow
async def test_a_crash_loop_reaches_the_webhook_as_one_grouped_notification(
    tmp_path: Path, crash_loop: int
) -> None:
    """Storm + flapping for one process: one notification (the storm); flapping inhibited."""
    (tmp_path / "supervisor-rules.yml").write_text(rules_text(FAST))
    with WebhookReceiver() as receiver, SmtpSink() as sink:
        async with (
            alertmanager(tmp_path, alertmanager_config(receiver.url("/alerts"), sink.port)) as am,
            prometheus(tmp_path, ("", 0), config_text=prometheus_config(crash_loop, am)),
            aiohttp.ClientSession() as session,
        ):
            await asyncio.to_thread(
                receiver.wait_for, lambda items: len(items) >= 1, "a notification", DEADLINE
            )
            # Flapping fires too, but only as an inhibited alert in Alertmanager.
            try:
                async with asyncio.timeout(DEADLINE):
                    while True:
                        alerts = {a["labels"]["alertname"]: a for a in await am_alerts(session, am)}
                        flapping = alerts.get("ProcessFlapping")
                        if flapping is not None and flapping["status"]["inhibitedBy"]:
                            break
                        await asyncio.sleep(0.5)  # Alertmanager's HTTP API is all there is
            except TimeoutError:
                log = (tmp_path / "alertmanager.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"ProcessFlapping never inhibited: {sorted(alerts)}\n{log}")
            assert flapping["status"]["state"] == "suppressed"
            await asyncio.to_thread(
                sink.wait_for, lambda items: len(items) >= 1, "a mail", DEADLINE
            )
        (notification,) = receiver.items()
        body = notification.json()
        assert body["receiver"] == "ops-mail-and-webhook"
        assert body["groupLabels"] == {
            "instance": f"127.0.0.1:{crash_loop}",
            "group": "crashy",
            "name": "crashy",
        }
        assert [a["labels"]["alertname"] for a in body["alerts"]] == ["ProcessRestartStorm"]
        annotations = body["alerts"][0]["annotations"]
        assert annotations["runbook_url"] == "docs/runbooks.md#processrestartstorm"
        assert len(sink.items()) == 1
    assert len(receiver.items()) == 1  # nothing more arrived while the peers ran
