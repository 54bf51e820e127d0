"""A real Alertmanager (Debian's ``prometheus-alertmanager``) for e2e tests, stopped by pid."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.e2e.prometheus_server import free_port
from tests.peers import require_command


@asynccontextmanager
async def alertmanager(tmp_path: Path, config: str) -> AsyncIterator[str]:
    """Alertmanager on 127.0.0.1 with ``config`` (clustering off); yields its base URL."""
    binary = require_command("prometheus-alertmanager")
    path = tmp_path / "alertmanager.yml"
    path.write_text(config)
    port = free_port()
    with (tmp_path / "alertmanager.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one instance, loopback only
            stdout=log,
            stderr=log,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()
