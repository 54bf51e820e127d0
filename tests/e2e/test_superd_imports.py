"""A real superd's memory: what it imports (notification delivery only when configured) and
that it gives a burst's freed heap back.

superd runs in a subprocess exactly as its console script runs it (``cli.superd.main``),
with one addition: at exit it writes the names in ``sys.modules`` to a file. It is
started, asked over XML-RPC until RUNNING, and stopped with SIGTERM (orderly exit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from supervisor_core.ctl.transport import make_server_proxy
from tests.integration.superd_harness import base_config, program_section, wait_for

pytestmark = [pytest.mark.e2e]

MIB = 1 << 20

# superd's console script plus an atexit hook that records the loaded modules.
LAUNCHER = """\
import atexit, os, sys
def record():
    with open(os.environ["MODULES_OUT"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(record)
from supervisor_core.cli.superd import main
sys.argv[0] = "superd"
sys.exit(main())
"""

#: Loaded only for notification delivery: webhook/SMTP channels, smtplib, the outbox.
DELIVERY_MODULES = ("exporters.notify.channels", "exporters.notify.extension", "smtplib")


def run_superd(tmp: Path, text: str) -> set[str]:
    """Start superd on ``text``, wait RUNNING with its program up, stop it; its modules."""
    config = tmp / "supervisord.conf"
    config.write_text(text)
    modules = tmp / "modules.txt"
    with open(tmp / "superd.out", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "-n", "-c", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MODULES_OUT": str(modules)},
            start_new_session=True,
        )
    try:

        def running() -> bool:
            with make_server_proxy(f"unix://{tmp / 'sock'}", None, None) as proxy:
                info = proxy.supervisor.getProcessInfo("one")
            return bool(info["statename"] == "RUNNING")

        wait_for(running, "program one RUNNING")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp / "superd.out").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return set(modules.read_text().split())


def test_superd_without_notify_does_not_import_delivery_code(tmp_path: Path) -> None:
    """A superd whose config has no ``[exporter:notify]`` never loads smtplib or the channels."""
    text = base_config(tmp_path) + program_section("one", tmp_path, priority=1)
    modules = run_superd(tmp_path, text)
    assert "exporters.notify.plugin" in modules  # the factory was discovered
    assert "exporters.prometheus" in modules  # the default exporters are on
    assert modules.isdisjoint(DELIVERY_MODULES), sorted(modules & set(DELIVERY_MODULES))


def test_superd_with_notify_imports_delivery_code(tmp_path: Path) -> None:
    """With ``[exporter:notify]`` the lazily imported extension is loaded and started."""
    text = (
        base_config(tmp_path)
        + "[exporter:notify]\nwebhook_url = http://127.0.0.1:9/hook\n\n"
        + program_section("one", tmp_path, priority=1)
    )
    modules = run_superd(tmp_path, text)
    assert set(DELIVERY_MODULES) <= modules
    assert "notify: http://127.0.0.1:9" in (tmp_path / "main.log").read_text()


# Leaves ~80 MiB of freed malloc chunks under a live one (glibc cannot shrink the heap
# by itself), writes the RSS that results, then runs superd as its console script does.
# superd's own start-up reuses some of those chunks (~30 MiB of imports): without a
# trim the RSS stays above the burst's; with it, it falls far below.
BURST_LAUNCHER = """\
import sys
blocks = [bytearray(1000) for _ in range(80_000)]
keeper = bytearray(1000)
del blocks
with open("/proc/self/statm") as statm:
    resident = int(statm.read().split()[1]) * 4096
with open(sys.argv.pop(1), "w") as out:
    out.write(str(resident))
from supervisor_core.cli.superd import main
sys.argv[0] = "superd"
sys.exit(main())
"""


def test_superd_gives_freed_heap_back_after_a_burst(tmp_path: Path) -> None:
    """Heap freed in a burst is returned to the kernel by superd's TICK_5 trim (RSS drops)."""
    config = tmp_path / "supervisord.conf"
    config.write_text(base_config(tmp_path) + program_section("one", tmp_path, priority=1))
    after_burst = tmp_path / "rss.txt"
    with open(tmp_path / "superd.out", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", BURST_LAUNCHER, str(after_burst), "-n", "-c", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(after_burst.exists, "the burst's RSS")
        wait_for(lambda: after_burst.read_text() != "", "the burst's RSS written")
        high = int(after_burst.read_text())
        daemon = psutil.Process(process.pid)
        # The first TICK_5 comes 5-10 s after start (supervisord skips the first period).
        wait_for(lambda: daemon.memory_info().rss < high - 30 * MIB, "RSS 30 MiB below the burst")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "superd.out").read_text()
    finally:
        if process.poll() is None:
            # TERM first: superd stops its program; a KILL alone would orphan it.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
