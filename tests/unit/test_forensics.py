"""Exit forensics: the OOM verdict from counters, the stderr tail buffer, event encodings."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from supervisor_core.clock import Instant
from supervisor_core.config.model import ProcessConfig
from supervisor_core.events import (
    Event,
    ProcessStateExited,
    ProcessStateRunning,
    listener_payload,
    to_json_dict,
)
from supervisor_core.forensics import (
    OomCounters,
    judge_oom,
    oom_counter_paths,
    read_oom_counters,
    read_oom_counters_at_spawn,
)
from supervisor_core.lifecycle import Cause, ProcessState, Requester
from supervisor_core.logs.tail import TailBuffer, last_lines
from supervisor_core.states import (
    Exited,
    ExitForensics,
    OperatorStart,
    ProcessRecord,
    Publish,
    Spawned,
    step,
)

BEFORE = OomCounters(cgroup=3, system=10, cgroup_file="/sys/fs/cgroup/x/memory.events")


@pytest.mark.parametrize(
    ("after", "returncode", "verdict"),
    [
        (BEFORE, 1, (False, None)),
        (BEFORE, -15, (False, None)),
        (
            OomCounters(cgroup=4, system=11, cgroup_file=BEFORE.cgroup_file),
            -9,
            (True, "/sys/fs/cgroup/x/memory.events: oom_kill +1 during the run"),
        ),
        (
            OomCounters(cgroup=3, system=12, cgroup_file=BEFORE.cgroup_file),
            -9,
            (True, "/proc/vmstat: oom_kill +2 during the run (system-wide: best guess)"),
        ),
        (BEFORE, -9, (False, "SIGKILL, but no oom_kill counter rose during the run")),
        (None, -9, (None, "no OOM counters were read for this run")),
    ],
)
def test_oom_verdicts(
    after: OomCounters | None, returncode: int, verdict: tuple[bool | None, str | None]
) -> None:
    """Only SIGKILL deaths can be OOM kills; a rising counter says which evidence."""
    assert judge_oom(BEFORE, after, returncode) == verdict


def test_oom_verdict_without_counters() -> None:
    """A machine without any counter gives None ("cannot tell")."""
    empty = OomCounters()
    verdict, evidence = judge_oom(empty, empty, -9)
    assert verdict is None
    assert evidence is not None


def test_cgroup_paths_v1_and_v2(tmp_path: Path) -> None:
    """/proc/self/cgroup lines resolve to memory.events (v2) or memory.oom_control (v1)."""
    missing = tmp_path / "cgroup"
    missing.write_text("0::/nowhere-that-exists-xyz\n")
    assert oom_counter_paths(str(missing)) is None
    assert oom_counter_paths(str(tmp_path / "absent")) is None


def test_tail_buffer_keeps_the_last_bytes_and_lines() -> None:
    """Chunks of any split; the buffer keeps limit bytes; lines come out oldest first."""
    tail = TailBuffer(limit=32)
    tail.feed(b"one\ntw")
    tail.feed(b"o\nthree\r\n")
    assert last_lines(tail.data(), 2, truncated=tail.truncated) == ("two", "three")
    tail.feed(b"x" * 40 + b"\nlast")
    assert tail.truncated
    assert len(tail.data()) == 32
    # The first, cut line is dropped; the unterminated last one counts.
    assert last_lines(tail.data(), 5, truncated=True) == ("last",)
    tail.clear()
    assert last_lines(tail.data(), 5) == ()
    assert last_lines(b"a\n", 0) == ()
    assert last_lines(b"\xff\n", 1) == ("\ufffd",)


def _exited(forensics: ExitForensics | None) -> ProcessStateExited:
    """The EXITED event the state machine publishes for a SIGKILL death with ``forensics``."""
    config = ProcessConfig(name="cat", program_name="cat", group_name="pets", command="/bin/cat")
    record = ProcessRecord(config=config)
    facts = (OperatorStart(requester=Requester(cause=Cause.OPERATOR)), Spawned(pid=7))
    for fact in facts:
        record, _ = step(record, fact, Instant(1.0, 2.0))
    record, effects = step(record, Exited(returncode=-9, forensics=forensics), Instant(3.0, 4.0))
    (data,) = [
        e.event
        for e in effects
        if isinstance(e, Publish) and isinstance(e.event, ProcessStateExited)
    ]
    assert isinstance(data, ProcessStateExited)
    return data


def test_forensics_stay_out_of_the_listener_payload() -> None:
    """The supervisord payload is byte-identical with and without forensics."""
    plain = _exited(None)
    rich = _exited(ExitForensics(core_dumped=True, oom_killed=True, stderr_tail=("boom",)))
    expected = "processname:cat groupname:pets from_state:RUNNING expected:0 pid:7"
    assert listener_payload(plain) == listener_payload(rich) == expected


def test_forensics_in_json_only_when_an_exit_caused_the_change() -> None:
    """to_json_dict carries core_dumped/oom_killed/stderr_tail from exits, nothing otherwise."""
    rich = _exited(
        ExitForensics(core_dumped=True, oom_killed=True, oom_evidence="x", stderr_tail=("a", "b"))
    )
    as_json = to_json_dict(Event(serial=1, wall_time=2.0, monotonic_time=1.0, data=rich))
    assert as_json["stderr_tail"] == ["a", "b"]
    assert (as_json["core_dumped"], as_json["oom_killed"], as_json["oom_evidence"]) == (
        True,
        True,
        "x",
    )
    assert json.loads(json.dumps(as_json)) == as_json
    running = ProcessStateRunning(
        processname="c", groupname="p", from_state=ProcessState.STARTING, cause=Cause.STARTSECS
    )
    plain = to_json_dict(Event(serial=2, wall_time=2.0, monotonic_time=1.0, data=running))
    assert "stderr_tail" not in plain
    assert "oom_killed" not in plain


def test_counters_are_re_read_from_the_same_file(tmp_path: Path) -> None:
    """The counter file stays open; a later read sees the value the file holds then."""
    counters = tmp_path / "memory.events"
    counters.write_bytes(b"low 0\noom 3\noom_kill 2\n")
    assert read_oom_counters(str(counters)).cgroup == 2
    with counters.open("r+b") as handle:  # same inode, as cgroupfs regenerates it
        handle.write(b"low 0\noom 3\noom_kill 7\n")
    assert read_oom_counters(str(counters)).cgroup == 7
    counters.write_bytes(b"oom_kill 5")  # first line, no trailing newline
    assert read_oom_counters(str(counters)).cgroup == 5
    counters.write_bytes(b"oom_kill_disable 0\nunder_oom 0\n")
    assert read_oom_counters(str(counters)).cgroup is None
    assert read_oom_counters(str(tmp_path / "absent")).cgroup is None


def test_a_spawn_may_reuse_a_recent_system_reading_a_death_never(tmp_path: Path) -> None:
    """The "before" system counter may be a reading up to max_age old; others read afresh."""
    cgroup, system = tmp_path / "memory.events", tmp_path / "vmstat"
    cgroup.write_bytes(b"oom_kill 1\n")
    system.write_bytes(b"pgfault 9\noom_kill 3\n")
    assert read_oom_counters(str(cgroup), system_file=str(system)).system == 3
    system.write_bytes(b"pgfault 9\noom_kill 5\n")
    cgroup.write_bytes(b"oom_kill 2\n")
    # A spawn right after: the system reading is recent, the cgroup one always fresh.
    at_spawn = read_oom_counters(str(cgroup), system_file=str(system), max_age=3600.0)
    assert (at_spawn.cgroup, at_spawn.system) == (2, 3)
    # After a SIGKILL death (max_age 0): read afresh.
    after = read_oom_counters(str(cgroup), system_file=str(system))
    assert (after.cgroup, after.system) == (2, 5)
    assert read_oom_counters_at_spawn().cgroup_file == oom_counter_paths()


def test_a_cgroup_rise_is_the_verdict_of_real_reads(tmp_path: Path) -> None:
    """Counters read before and after a run whose cgroup counter rose judge it OOM-killed."""
    counters = tmp_path / "memory.events"
    counters.write_bytes(b"oom 0\noom_kill 4\n")
    before = read_oom_counters(str(counters))
    counters.write_bytes(b"oom 1\noom_kill 5\n")
    after = read_oom_counters(str(counters))
    assert judge_oom(before, after, -signal.SIGKILL) == (
        True,
        f"{counters}: oom_kill +1 during the run",
    )
