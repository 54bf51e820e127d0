"""Restart storms, damping and exit forensics with real children (``python -c`` snippets).

Every wait is on a bus event bounded by ``asyncio.wait_for``; timing assertions are
generous lower/upper bounds on event timestamps, never sleeps.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from exporters.journal import Journal, open_journal
from exporters.storms import (
    ProcessStormBegin,
    ProcessStormEnd,
    StormExporterSettings,
    StormMonitor,
    StormSettings,
)
from supervisor_core.config.model import AutoRestart, ChannelConfig
from supervisor_core.events import (
    Event,
    ProcessStateEvent,
    ProcessStateExited,
    ProcessStateStarting,
)
from supervisor_core.forensics import oom_counter_paths
from supervisor_core.lifecycle import Cause
from supervisor_core.testing import TEST_OPERATOR
from tests.integration.test_process import WAIT, Env, has, py

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    environment = Env(tmp_path)
    yield environment
    await environment.aclose()


def state_events(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.name == name and isinstance(e.data, ProcessStateEvent)]


async def test_crash_loop_then_fix_gives_one_storm_begin_and_one_end(
    env: Env, tmp_path: Path
) -> None:
    """Crashing 0.2 s after RUNNING begins exactly one storm; once fixed, exactly one end."""
    flag = tmp_path / "broken"
    flag.touch()
    journal = Journal.open(str(tmp_path / "journal.sqlite3"))
    journal.attach(env.bus, announce=False)
    monitor = StormMonitor(
        StormExporterSettings(detector=StormSettings(burst=3, window=2.0)), clock=env.clock
    )
    monitor.install(env.bus)
    code = (
        "import os, sys, time\n"
        "time.sleep(0.2)\n"
        f"if os.path.exists({str(flag)!r}):\n"
        "    sys.stderr.write('loading config\\nValueError: broken config\\n')\n"
        "    sys.exit(3)\n"
        "time.sleep(3600)\n"
    )
    runtime = env.runtime(py(code), startsecs=0, autorestart=AutoRestart.TRUE)
    try:
        runtime.start_nowait(TEST_OPERATOR)
        await env.waiter.until(has("PROCESS_STORM_BEGIN"))
        flag.unlink()
        await env.waiter.until(has("PROCESS_STORM_END"), limit=WAIT + 10)
        # Let the healthy run go on a little: no further storm event may follow.
        await env.waiter.until(has("PROCESS_STATE_RUNNING", 4))
    finally:
        monitor.close()
    events = env.waiter.events
    assert env.waiter.count("PROCESS_STORM_BEGIN") == 1
    assert env.waiter.count("PROCESS_STORM_END") == 1
    begin = next(e.data for e in events if isinstance(e.data, ProcessStormBegin))
    end = next(e.data for e in events if isinstance(e.data, ProcessStormEnd))
    assert (begin.groupname, begin.processname) == ("grp", "proc")
    assert begin.exit_codes == (3,)
    assert begin.restarts == 3
    assert end.reason == "recovered"
    assert end.restarts >= 3
    assert end.median_run_duration is not None
    assert 0.2 <= end.median_run_duration < 2.0
    assert end.end is not None
    assert end.end >= end.start
    # Every crash carries its stderr tail (no log file: read in user space).
    crashes = [e.data for e in events if isinstance(e.data, ProcessStateExited)]
    assert crashes
    assert all(c.stderr_tail == ("loading config", "ValueError: broken config") for c in crashes)
    assert all(c.oom_killed is False and c.core_dumped is False for c in crashes)
    await journal.flush()
    await journal.aclose()
    with open_journal(str(tmp_path / "journal.sqlite3")) as reader:
        types = [r.type for r in reader.events(types=["STORM"])]
    assert types == ["PROCESS_STORM_BEGIN", "PROCESS_STORM_END"]


def storm_monitor(env: Env, *, burst: int = 3, window: float = 5.0) -> StormMonitor:
    monitor = StormMonitor(
        StormExporterSettings(detector=StormSettings(burst=burst, window=window)), clock=env.clock
    )
    monitor.install(env.bus)
    return monitor


async def test_a_damped_crash_loop_is_a_storm_of_its_automatic_restarts(env: Env) -> None:
    """Damped restarts are restarts: a storm begins at the 3rd, and counts every one of them."""
    monitor = storm_monitor(env)
    runtime = env.runtime(
        py("import sys, time; time.sleep(0.1); sys.exit(1)"),
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        backoff_initial=0.3,
        backoff_factor=1.0,
        backoff_max=0.3,
    )
    try:
        runtime.start_nowait(TEST_OPERATOR)
        await env.waiter.until(has("PROCESS_STORM_BEGIN"))
        await env.waiter.until(has("PROCESS_STATE_STARTING", 6))
        runtime.stop_nowait(TEST_OPERATOR)  # ends the storm: stopped
        await env.waiter.until(has("PROCESS_STORM_END"))
    finally:
        monitor.close()
    events = env.waiter.events
    starts = [e.data for e in events if isinstance(e.data, ProcessStateStarting)]
    assert starts[0].cause is Cause.OPERATOR
    assert {s.cause for s in starts[1:]} == {Cause.DAMPED}
    begin = next(e.data for e in events if isinstance(e.data, ProcessStormBegin))
    end = next(e.data for e in events if isinstance(e.data, ProcessStormEnd))
    assert begin.restarts == 3
    assert end.reason == "stopped"
    assert end.restarts == sum(s.cause.is_automatic_restart for s in starts)
    assert end.exit_codes == (1,)


async def test_a_crash_loop_restarted_by_an_operator_is_no_storm(env: Env) -> None:
    """autorestart=false and an operator starting it again after each crash: never a storm."""
    monitor = storm_monitor(env)
    runtime = env.runtime(py("import sys; sys.exit(1)"), startsecs=0, autorestart=AutoRestart.FALSE)
    try:
        for crashes in range(1, 7):
            runtime.start_nowait(TEST_OPERATOR)
            await env.waiter.until(has("PROCESS_STATE_EXITED", crashes))
    finally:
        monitor.close()
    # The monitor publishes from inside the bus' dispatch of the exit, before we resume.
    assert env.waiter.count("PROCESS_STATE_EXITED") == 6
    assert env.waiter.count("PROCESS_STORM_BEGIN") == 0
    assert monitor.current() == ()


async def test_stderr_tail_of_a_spliced_log_file(env: Env, tmp_path: Path) -> None:
    """With stderr going to a log file (spliced in the kernel), the tail is read back from it."""
    log = tmp_path / "proc-stderr.log"
    code = (
        "import sys\n"
        "sys.stderr.write('old line\\n' * 50 + 'Traceback\\nKeyError: x\\n')\n"
        "sys.exit(2)"
    )
    runtime = env.runtime(
        py(code),
        startsecs=0,
        autorestart=AutoRestart.FALSE,
        stderr=ChannelConfig(logfile=str(log)),
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_EXITED"))
    exited = state_events(env.waiter.events, "PROCESS_STATE_EXITED")[0].data
    assert isinstance(exited, ProcessStateExited)
    assert exited.stderr_tail is not None
    assert exited.stderr_tail[-2:] == ("Traceback", "KeyError: x")
    assert len(exited.stderr_tail) == 20


async def test_backoff_delays_follow_the_configured_sequence(env: Env) -> None:
    """Restarts after RUNNING -> EXITED wait 0.3, 0.6, 1.2, 1.2 s (backoff_max), measured."""
    runtime = env.runtime(
        py("import sys; sys.exit(1)"),
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        backoff_initial=0.3,
        backoff_factor=2.0,
        backoff_max=1.2,
        backoff_reset=30.0,
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_STARTING", 5))
    runtime.stop_nowait(TEST_OPERATOR)  # EXITED with a restart pending, or STARTING/RUNNING
    events = [e for e in env.waiter.events if isinstance(e.data, ProcessStateEvent)]
    delays = []
    for index, event in enumerate(events):
        if event.name == "PROCESS_STATE_EXITED" and index + 1 < len(events):
            following = events[index + 1]
            if following.name == "PROCESS_STATE_STARTING":
                delays.append(following.monotonic_time - event.monotonic_time)
    expected = [0.3, 0.6, 1.2, 1.2]
    assert len(delays) == 4
    for measured, configured in zip(delays, expected, strict=True):
        assert configured - 1e-3 <= measured < configured + 0.5


async def test_start_limit_ends_fatal_after_exactly_burst_starts(env: Env) -> None:
    """startlimit_burst=3: the third crash sends the process FATAL, after exactly 3 spawns."""
    runtime = env.runtime(
        py("import sys; sys.exit(1)"),
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        startlimit_burst=3,
        startlimit_interval=60.0,
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_FATAL"))
    assert env.spawner.spawns == 3
    assert env.waiter.count("PROCESS_STATE_STARTING") == 3
    assert "Start limit reached: 3 starts within 60 seconds" in runtime.snapshot().spawnerr


async def test_without_new_options_it_restarts_at_once_forever(env: Env) -> None:
    """supervisord's behaviour: every exit from RUNNING restarts in the same step, no limit."""
    runtime = env.runtime(py("import sys; sys.exit(1)"), startsecs=0, autorestart=AutoRestart.TRUE)
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_EXITED", 6))
    runtime.stop_nowait(TEST_OPERATOR)
    events = [e for e in env.waiter.events if isinstance(e.data, ProcessStateEvent)]
    exits = [i for i, e in enumerate(events) if e.name == "PROCESS_STATE_EXITED"][:6]
    for index in exits:
        following = events[index + 1]
        assert following.name == "PROCESS_STATE_STARTING"
        assert following.monotonic_time == events[index].monotonic_time  # the same step
    assert env.waiter.count("PROCESS_STATE_FATAL") == 0
    assert env.waiter.count("PROCESS_STATE_BACKOFF") == 0


# --------------------------------------------------------------------------- OOM


def _memory_cgroup(tmp_name: str) -> Iterator[Path]:
    """A child memory cgroup (v2, else v1) limited to 64 MiB, or a skip saying why."""
    counters = oom_counter_paths()
    if counters is None:
        pytest.skip(
            "no cgroup memory controller with an oom_kill counter here "
            "(depends on the kernel/cgroup setup; skipping is expected on such machines, CI too)"
        )
    parent = Path(counters).parent
    child = parent / tmp_name
    try:
        child.mkdir()
        if (child / "memory.max").exists():  # cgroup v2
            (child / "memory.max").write_text(str(64 << 20))
            if (child / "memory.swap.max").exists():
                (child / "memory.swap.max").write_text("0")
        else:  # cgroup v1
            (child / "memory.limit_in_bytes").write_text(str(64 << 20))
            if (child / "memory.memsw.limit_in_bytes").exists():
                (child / "memory.memsw.limit_in_bytes").write_text(str(64 << 20))
    except OSError as error:
        with_reason = f"cannot create a limited memory cgroup under {parent}: {error}"
        if child.exists():
            child.rmdir()
        pytest.skip(
            f"{with_reason} (depends on the kernel/cgroup setup and privileges; "
            "skipping is expected on such machines, CI too)"
        )
    try:
        yield child
    finally:
        # Still busy: the kernel frees it once the last task is gone.
        with contextlib.suppress(OSError):
            child.rmdir()


@pytest.fixture
def memory_cgroup() -> Iterator[Path]:
    yield from _memory_cgroup(f"superd-oom-test-{os.getpid()}")


async def test_oom_killed_child_is_reported_as_such(env: Env, memory_cgroup: Path) -> None:
    """A child over its cgroup memory limit is SIGKILLed by the OOM killer and reported so."""
    procs = memory_cgroup / "cgroup.procs"
    hog = "data = b'x' * (512 << 20)\nprint(len(data))"
    script = f"echo $$ > {procs} && exec {sys.executable} -c {shlex.quote(hog)}"
    command = f"/bin/sh -c {shlex.quote(script)}"
    runtime = env.runtime(command, startsecs=0, autorestart=AutoRestart.FALSE)
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_EXITED"))
    exited = state_events(env.waiter.events, "PROCESS_STATE_EXITED")[0].data
    assert isinstance(exited, ProcessStateExited)
    if exited.returncode != -9:
        pytest.skip(
            f"the memory limit did not end the child with SIGKILL (returncode "
            f"{exited.returncode}): the kernel/cgroup setup does not enforce it here"
        )
    assert exited.oom_killed is True, exited.oom_evidence
    assert exited.oom_evidence is not None
    assert "oom_kill +" in exited.oom_evidence
