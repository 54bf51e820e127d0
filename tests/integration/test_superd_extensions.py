"""superd drives the shipped exporters as extensions: /metrics, the journal and /events."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.superd_harness import Superd, base_config, program_section, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode()


def sample(metrics: str, prefix: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


def events(port: int, since: int = 0) -> list[dict[str, object]]:
    text = get(f"http://127.0.0.1:{port}/events?since={since}")
    return [json.loads(line) for line in text.splitlines() if line]


def config_with_inet(tmp: Path, port: int, extra: str = "") -> str:
    return (
        base_config(tmp)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + program_section("a", tmp, priority=1, extra="autorestart = true")
        + extra
    )


def test_metrics_and_events_are_served_and_count_a_restart(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """A killed program shows as one restart on /metrics; /events lists the transitions."""
    port = free_port()
    superd = Superd(tmp_path, config_with_inet(tmp_path, port), "-n")
    cleanup.append(superd)
    superd.wait_states({"a": "RUNNING"})
    old_pid = superd.call("getProcessInfo", "a")["pid"]
    os.kill(old_pid, signal.SIGKILL)
    wait_for(
        lambda: superd.call("getProcessInfo", "a")["pid"] not in (0, old_pid),
        "a restarted with a new pid",
    )
    restarts = 'supervisor_process_restarts_total{group="a",name="a"}'
    wait_for(lambda: sample(get(f"http://127.0.0.1:{port}/metrics"), restarts) == 1.0, "1 restart")
    names = [e["type"] for e in events(port)]
    assert names[0] == "SUPERVISOR_DAEMON_START"
    assert names.count("PROCESS_STATE_EXITED") == 1
    assert (tmp_path / "superd-journal.sqlite3").exists()  # default: in childlogdir
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0


def test_journal_serials_continue_after_sigkill(tmp_path: Path, cleanup: list[Superd]) -> None:
    """After superd is SIGKILLed, the next run continues the serial and says what it missed."""
    port = free_port()
    text = config_with_inet(tmp_path, port)
    first = Superd(tmp_path, text, "-n")
    cleanup.append(first)
    first.wait_states({"a": "RUNNING"})
    wait_for(lambda: any(e["type"] == "PROCESS_STATE_RUNNING" for e in events(port)), "journaled")
    before = events(port)
    children = first.pids()
    first.process.send_signal(signal.SIGKILL)
    first.wait_exit()
    for pid in children:  # orphans of the killed daemon: ours to stop
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    (tmp_path / "sock").unlink(missing_ok=True)

    second = Superd(tmp_path, text, "-n")
    cleanup.append(second)
    second.wait_states({"a": "RUNNING"})
    after = events(port)
    serials = [e["serial"] for e in after]
    assert serials == list(range(len(after)))  # one gap-free sequence across both runs
    start = next(e for e in after if e["serial"] > before[-1]["serial"])
    assert start["type"] == "SUPERVISOR_DAEMON_START"
    assert start["previous_serial"] is not None
    assert int(str(start["previous_serial"])) >= before[-1]["serial"]
    second.send(signal.SIGTERM)
    assert second.wait_exit() == 0


def test_journal_can_be_turned_off(tmp_path: Path, cleanup: list[Superd]) -> None:
    """``[exporter:journal] enabled=false``: no journal file and no /events; /metrics stays."""
    port = free_port()
    text = config_with_inet(tmp_path, port, "[exporter:journal]\nenabled = false\n")
    superd = Superd(tmp_path, text, "-n")
    cleanup.append(superd)
    superd.wait_states({"a": "RUNNING"})
    with pytest.raises(urllib.error.HTTPError) as info:
        get(f"http://127.0.0.1:{port}/events")
    info.value.close()  # the error carries the open response
    assert info.value.code == 404
    assert "supervisor_info" in get(f"http://127.0.0.1:{port}/metrics")
    assert not (tmp_path / "superd-journal.sqlite3").exists()
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0


def test_check_config_reports_exporter_sections_with_file_and_line(tmp_path: Path) -> None:
    """Bad exporter options fail --check-config (exit 2) naming file:line, like program options."""
    text = (
        base_config(tmp_path)
        + program_section("a", tmp_path, priority=1)
        + "[exporter:journal]\nretention = forever\n\n[exporter:prometheus]\nlisten = nowhere\n"
    )
    config = tmp_path / "supervisord.conf"
    config.write_text(text)
    superd = str(Path(sys.executable).parent / "superd")
    result = subprocess.run(
        [superd, "--check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = text.splitlines()
    retention_line = lines.index("retention = forever") + 1
    listen_line = lines.index("listen = nowhere") + 1
    assert f"{config}:{retention_line}: [exporter:journal] retention:" in result.stderr
    assert f"{config}:{listen_line}: [exporter:prometheus] listen:" in result.stderr
