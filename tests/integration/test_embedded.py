"""``supervisor_core.embedded``: a superd in the caller's loop, started and stopped by a block."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from supervisor_core.config import ConfigError
from supervisor_core.embedded import embedded
from supervisor_core.lifecycle import ProcessState

pytestmark = pytest.mark.integration


def config(tmp_path: Path, program: str = "command = /bin/sh -c 'exec sleep 3600'") -> str:
    """A config with one program ``steady`` and logs under ``tmp_path``."""
    return (
        f"[supervisord]\nchildlogdir = {tmp_path}\n\n[program:steady]\n{program}\nstartsecs = 0\n"
    )


async def test_an_error_in_the_block_stops_the_programs_and_propagates(tmp_path: Path) -> None:
    """An exception raised inside the block reaches the caller after every child is gone."""
    pids: list[int] = []

    async def fail_inside() -> None:
        async with embedded(config(tmp_path)) as sup:
            async with asyncio.timeout(30):
                await sup.wait_state("steady", ProcessState.RUNNING)
            pids.append(sup.process("steady").pid)
            assert psutil.pid_exists(pids[0])
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await fail_inside()
    assert len(pids) == 1
    assert not psutil.pid_exists(pids[0])


async def test_a_bad_config_names_its_line_and_starts_nothing(tmp_path: Path) -> None:
    """A config error is raised before anything starts, naming the file and line."""
    with pytest.raises(ConfigError, match=r"supervisord\.conf:6: \[program:steady\] autorestart"):
        async with embedded(config(tmp_path, "command = /bin/true\nautorestart = perhaps")):
            pytest.fail("the block must not run")


async def test_a_path_is_read_like_superd_reads_it(tmp_path: Path) -> None:
    """A supervisord.conf path is loaded from disk; start and stop act as an operator's,
    with the origin ``embedded`` on their events."""
    path = tmp_path / "supervisord.conf"
    path.write_text(config(tmp_path) + "autostart = false\n")
    async with embedded(path) as sup, asyncio.timeout(30):
        requested: list[tuple[str, str | None]] = []
        sup.bus.subscribe(
            lambda event: requested.append((event.data.cause.value, event.data.origin)),
            name="test",
            types=("PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPING"),
        )
        assert sup.process("steady").state is ProcessState.STOPPED
        sup.start("steady")
        assert await sup.wait_state("steady", ProcessState.RUNNING) is ProcessState.RUNNING
        assert psutil.Process(sup.process("steady").pid).is_running()
        sup.stop("steady")
        await sup.wait_state("steady", ProcessState.STOPPED)
    assert requested == [("operator", "embedded"), ("operator", "embedded")]


async def test_wait_state_sees_a_state_the_process_leaves_at_once(tmp_path: Path) -> None:
    """Under autorestart EXITED is followed by STARTING at once; wait_state still sees it."""
    crash = "command = /bin/sh -c 'sleep 0.2; exit 3'\nautorestart = true"
    async with embedded(config(tmp_path, crash)) as sup, asyncio.timeout(30):
        for _ in range(3):
            assert await sup.wait_state("steady", ProcessState.EXITED) is ProcessState.EXITED
