"""superd's start-up heap is frozen before the event loop starts (launch cost)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# Runs superd's real ``main`` with ``run_daemon`` replaced by a probe that reports the
# collector's state at the moment the event loop would start serving.
_PROBE = textwrap.dedent(
    """
    import gc, json, sys
    import supervisor_core.runner as runner
    from supervisor_core.cli import superd

    async def probe(config, run):
        for extension in run.extensions:
            await extension.aclose()
        print(json.dumps({"frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
        return 0

    runner.run_daemon = probe
    code = superd.main(["-n", "-c", sys.argv[1]])
    print(json.dumps({"code": code, "enabled_after": gc.isenabled()}))
    """
)


def test_startup_heap_is_frozen_and_collector_on_when_the_loop_starts(tmp_path: Path) -> None:
    """When the daemon's loop starts, start-up objects are frozen and the collector runs again."""
    config = tmp_path / "supervisord.conf"
    config.write_text(
        textwrap.dedent(
            f"""
            [supervisord]
            logfile={tmp_path / "superd.log"}
            pidfile={tmp_path / "superd.pid"}
            childlogdir={tmp_path}
            nodaemon=true

            [program:idle]
            command=/bin/sleep 60
            autostart=false
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    at_loop, after = lines
    # Tens of thousands of objects: modules, classes, functions, the config.
    assert at_loop["frozen"] > 10_000
    assert at_loop["enabled"] is True
    assert after == {"code": 0, "enabled_after": True}
