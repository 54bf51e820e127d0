"""A real Prometheus (Debian's ``prometheus``) for e2e tests, started and stopped by pid."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.peers import require_command

#: Seconds Prometheus may take to answer ``/-/ready`` (TSDB open, config loaded).
READY_TIMEOUT = 60.0


async def wait_ready(base: str, process: asyncio.subprocess.Process) -> None:
    """Until ``/-/ready`` answers 200: before that the API answers 503 in plain text.

    Bounded by ``READY_TIMEOUT``; fails at once if Prometheus exits.
    """
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"prometheus exited with {process.returncode}")
            try:
                async with session.get(f"{base}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"prometheus at {base} not ready in {READY_TIMEOUT} s")
            await asyncio.sleep(0.1)  # Prometheus has no readiness push: poll, bounded


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def prometheus(
    tmp_path: Path,
    target: tuple[str, int],
    *,
    rules: str | None = None,
    config_text: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[str]:
    """Prometheus scraping ``target`` every second (evaluating ``rules`` if given).

    ``config_text`` replaces the generated prometheus.yml (``target`` is then unused;
    relative ``rule_files`` are found in ``tmp_path``); ``extra_args`` go to the
    command line (``--web.enable-remote-write-receiver``). Yields its base URL once
    ``/-/ready`` answers (queries before that get a 503, not an empty result); stops it
    (TERM, then KILL after 30 s) on exit.
    """
    binary = require_command("prometheus")
    rule_files = ""
    if rules is not None:
        (tmp_path / "rules.yml").write_text(rules)
        rule_files = f"rule_files: ['{tmp_path / 'rules.yml'}']\n"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        config_text
        if config_text is not None
        else "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        + rule_files
        + "scrape_configs:\n"
        "  - job_name: superd\n"
        f"    static_configs: [{{targets: ['{target[0]}:{target[1]}']}}]\n"
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            *extra_args,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base, process)
            yield base
        finally:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()
