"""A real superd killed with SIGKILL, and the next one dealing with the children it left.

Each test runs superd on a config with ``holder`` (a program that holds an exclusive
lock on a file, as a program binding a port holds the port: a second copy fails) and
``plain``, SIGKILLs superd by its pid, then starts a new superd on the same config
and checks what ``[supervisord] survivors`` promises (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor_core.child_record import boot_id, process_identity, read_record
from tests.integration.superd_harness import Superd, base_config, program_section, wait_for
from tests.integration.test_superd_extensions import events, free_port, get, sample

pytestmark = pytest.mark.integration

# Holds an exclusive lock on argv[1] (a second copy exits 3 at once, like a program
# whose port is taken), records "start PID"/"stop PID" in argv[2], never writes output.
HOLDER = """\
import fcntl, os, signal, sys
lock, record = sys.argv[1], sys.argv[2]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
def log(what):
    with open(record, "a") as f:
        f.write(f"{what} {os.getpid()}\\n")
def term(*_):
    log("stop")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
log("start")
while True:
    signal.pause()
"""


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


@pytest.fixture
def orphans(cleanup: list[Superd]) -> Iterator[list[psutil.Process]]:
    """The children a SIGKILLed superd left: killed after the test, whatever became of
    them (adopted or left survivors are nobody's descendants once superd is gone)."""
    processes: list[psutil.Process] = []
    yield processes
    # The superds first: one that saw an adopted orphan die would restart it.
    for daemon in cleanup:
        daemon.close()
    for process in processes:
        # psutil checks the create time: a pid reused since is not killed.
        with contextlib.suppress(psutil.Error):
            process.kill()


# Ignores SIGTERM: only SIGKILL stops it.
STUBBORN = (
    "[program:stubborn]\n"
    f"command = {sys.executable} -c 'import signal; signal.signal(signal.SIGTERM, "
    "signal.SIG_IGN); [signal.pause() for _ in iter(int, 1)]'\n"
    "startsecs = 0\nstopwaitsecs = 1\npriority = 3\n\n"
)
# A listener that answers READY once, then waits without reading or writing: it
# outlives superd (a listener that reads its stdin would see EOF and exit).
LISTENER = (
    "[eventlistener:listener]\n"
    f'command = {sys.executable} -c \'import signal, sys; sys.stdout.write("READY\\n"); '
    "sys.stdout.flush(); [signal.pause() for _ in iter(int, 1)]'\n"
    "events = TICK_60\nstartsecs = 0\n\n"
)
# ready = notify, never says READY=1: it stays STARTING (and runs) until ready_timeout.
NOTIFY = (
    "[program:notify]\n"
    f"command = {sys.executable} -c 'import signal; [signal.pause() for _ in iter(int, 1)]'\n"
    "ready = notify\nready_timeout = 600\npriority = 3\n\n"
)


def config(
    tmp: Path, port: int, survivors: str | None, *, extra: str = "", plain: bool = True
) -> str:
    """holder and plain (unless not ``plain``), an inet server on ``port``, ``extra``
    sections, and ``survivors = ...`` when given."""
    (tmp / "holder.py").write_text(HOLDER)
    base = base_config(tmp)
    if survivors is not None:
        base = base.replace(
            "identifier = itest\n", f"identifier = itest\nsurvivors = {survivors}\n"
        )
    return (
        base
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + "[program:holder]\n"
        + f"command = {sys.executable} {tmp / 'holder.py'} {tmp / 'lock'} {tmp / 'holds'}\n"
        + "priority = 1\nstartsecs = 1\nstartretries = 1\nstopwaitsecs = 5\n\n"
        + (program_section("plain", tmp, priority=2) if plain else "")
        + extra
    )


def holds(tmp: Path) -> list[str]:
    """What the holders wrote: "start PID" / "stop PID" lines."""
    path = tmp / "holds"
    return path.read_text().splitlines() if path.exists() else []


def info(superd: Superd, name: str) -> dict[str, object]:
    result: dict[str, object] = superd.call("getProcessInfo", name)
    return result


def kill_superd(superd: Superd) -> dict[str, int]:
    """SIGKILL superd once its programs run; returns their pids, which outlive it."""
    wait_for(
        lambda: (
            superd.states().keys() >= {"holder", "plain"}
            and {superd.states()[name] for name in ("holder", "plain")} == {"RUNNING"}
        ),
        "holder and plain RUNNING",
    )
    pids = {name: int(str(info(superd, name)["pid"])) for name in ("holder", "plain")}
    os.kill(superd.process.pid, signal.SIGKILL)
    superd.process.wait(timeout=10)
    for pid in pids.values():
        assert process_identity(pid) is not None  # orphans keep running
    return pids


def survivor_events(port: int) -> list[dict[str, object]]:
    return [e for e in events(port) if e["type"] == "PROCESS_SURVIVOR"]


def metric(port: int, action: str) -> float | None:
    return sample(
        get(f"http://127.0.0.1:{port}/metrics"), f'supervisor_survivors_total{{action="{action}"}}'
    )


def start_again(
    tmp: Path, survivors: str | None, cleanup: list[Superd], **options: Any
) -> tuple[Superd, int]:
    port = free_port()
    superd = Superd(tmp, config(tmp, port, survivors, **options), "-n")
    cleanup.append(superd)
    superd.wait_running()
    return superd, port


def first_run(
    tmp: Path, cleanup: list[Superd], orphans: list[psutil.Process], extra: str = ""
) -> dict[str, int]:
    """superd on holder, plain and ``extra``, SIGKILLed once they run: the pids it left
    (added to ``orphans``)."""
    superd = Superd(tmp, config(tmp, free_port(), None, extra=extra), "-n")
    cleanup.append(superd)
    superd.wait_running()
    wait_for(lambda: all(i["pid"] for i in superd.call("getAllProcessInfo")), "every pid")
    pids = {str(i["name"]): int(i["pid"]) for i in superd.call("getAllProcessInfo")}
    orphans.extend(psutil.Process(pid) for pid in pids.values())
    return {**pids, **kill_superd(superd)}


def test_kill_stops_the_survivors_before_starting_fresh_copies(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """survivors = kill (the default): each survivor gets its stopsignal and is gone
    before its program starts again, so the lock-holding program comes up RUNNING;
    a warning, a PROCESS_SURVIVOR event and the metric say so."""
    old = first_run(tmp_path, cleanup, orphans, STUBBORN)
    superd, port = start_again(tmp_path, None, cleanup, extra=STUBBORN)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING", "stubborn": "RUNNING"})
    new = {name: int(str(info(superd, name)["pid"])) for name in ("holder", "plain")}
    for name in ("holder", "plain"):
        assert new[name] != old[name]
        assert process_identity(old[name]) is None
    # The survivor stopped (SIGTERM, its handler ran) before the new holder started.
    assert holds(tmp_path) == [
        f"start {old['holder']}",
        f"stop {old['holder']}",
        f"start {new['holder']}",
    ]
    found = {(e["processname"], e["pid"], e["action"]) for e in survivor_events(port)}
    assert found == {
        ("holder", old["holder"], "kill"),
        ("plain", old["plain"], "kill"),
        ("stubborn", old["stubborn"], "kill"),
    }
    assert metric(port, "kill") == 3.0
    assert metric(port, "adopt") == 0.0
    log = superd.main_log()
    assert f"survivor of a killed superd: holder pid {old['holder']} (running for" in log
    assert f"survivor holder pid {old['holder']} stopped" in log
    # One that ignores its stopsignal gets SIGKILL after stopwaitsecs.
    assert (
        f"survivor stubborn pid {old['stubborn']} still running after 1 s: sending SIGKILL" in log
    )
    assert f"survivor stubborn pid {old['stubborn']} killed" in log
    assert process_identity(old["stubborn"]) is None


def test_adopt_takes_the_survivor_on_as_the_running_process(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """survivors = adopt: the survivor is the program's RUNNING process (same pid, no
    second copy, 'adopted' in its description); stop signals it and a start spawns anew."""
    old = first_run(tmp_path, cleanup, orphans)
    adopted_at = int(time.time())
    superd, port = start_again(tmp_path, "adopt", cleanup)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    holder = info(superd, "holder")
    assert holder["pid"] == old["holder"]
    assert int(str(holder["start"])) >= adopted_at  # uptime counts from the adoption
    starting = [e for e in events(port) if e["type"] == "PROCESS_STATE_STARTING"]
    # (the journal keeps the first run's autostarts too: they have no origin)
    assert {e.get("origin") for e in starting} - {None} == {
        f"adopted pid {old['holder']} of a killed superd",
        f"adopted pid {old['plain']} of a killed superd",
    }
    # Its stdin was the killed superd's pipe: NO_FILE, as for a closed stdin.
    with pytest.raises(xmlrpc.client.Fault) as fault:
        superd.call("sendProcessStdin", "holder", "hello\n")
    assert fault.value.faultCode == 20
    assert info(superd, "plain")["pid"] == old["plain"]
    assert f"adopted from a killed superd (pid {old['holder']})" in str(holder["description"])
    assert holds(tmp_path) == [f"start {old['holder']}"]  # no duplicate was spawned
    assert {e["action"] for e in survivor_events(port)} == {"adopt"}
    assert metric(port, "adopt") == 2.0
    # Stopping signals the adopted process; its exit is seen although it is not our child.
    superd.call("stopProcess", "holder")
    assert info(superd, "holder")["statename"] == "STOPPED"
    assert process_identity(old["holder"]) is None
    assert holds(tmp_path)[-1] == f"stop {old['holder']}"
    superd.call("startProcess", "holder")
    fresh = info(superd, "holder")
    assert fresh["statename"] == "RUNNING"
    assert fresh["pid"] != old["holder"]
    assert "adopted" not in str(fresh["description"])


def test_adopted_survivor_that_dies_is_restarted(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """An adopted survivor killed from outside is seen exiting (through its pidfd) and
    autorestart spawns a fresh copy."""
    old = first_run(tmp_path, cleanup, orphans)
    superd, _port = start_again(tmp_path, "adopt", cleanup)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    os.kill(old["plain"], signal.SIGKILL)
    wait_for(
        lambda: (
            info(superd, "plain")["statename"] == "RUNNING"
            and info(superd, "plain")["pid"] not in (0, old["plain"])
        ),
        "plain restarted",
    )


def test_leave_reports_the_survivor_and_starts_as_supervisord_would(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """survivors = leave: superd starts a second copy as supervisord would (the holder's
    fails on the lock), the description says why, and the note goes when the survivor exits."""
    old = first_run(tmp_path, cleanup, orphans)
    superd, port = start_again(tmp_path, "leave", cleanup)
    wait_for(lambda: info(superd, "holder")["statename"] == "FATAL", "the duplicate holder fails")
    assert f"survivor of a killed superd: holder pid {old['holder']}" in superd.main_log()
    description = str(info(superd, "holder")["description"])
    assert f"a killed superd's pid {old['holder']} still runs (survivors = leave)" in description
    assert process_identity(old["holder"]) is not None
    assert {(e["pid"], e["action"]) for e in survivor_events(port)} == {
        (old["holder"], "leave"),
        (old["plain"], "leave"),
    }
    assert metric(port, "leave") == 2.0
    # Still recorded as superd's: found again after another kill -9.
    record = read_record(str(tmp_path / "superd.pid.children"))
    assert record is not None
    assert old["holder"] in {entry.pid for entry in record.children}
    os.kill(old["holder"], signal.SIGTERM)
    wait_for(
        lambda: "still runs" not in str(info(superd, "holder")["description"]),
        "the note goes with the survivor",
    )
    # Survivors are looked for at start only: a reload finds none (plain's still runs).
    superd.send(signal.SIGHUP)
    wait_for(lambda: superd.main_log().count("received SIGHUP") == 1, "the reload")
    superd.wait_running()
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    assert process_identity(old["plain"]) is not None
    assert len(survivor_events(port)) == 2
    # An orderly shutdown keeps the survivor left running in the record: the next
    # superd finds it again.
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0
    record = read_record(str(tmp_path / "superd.pid.children"))
    assert record is not None
    assert [entry.pid for entry in record.children] == [old["plain"]]


def test_a_recycled_pid_is_not_a_survivor(tmp_path: Path, cleanup: list[Superd]) -> None:
    """A recorded pid that is alive with another start time (a recycled pid), or an
    entry of another boot, is not a survivor: nothing is reported or signalled."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = process_identity(bystander.pid)
        assert identity is not None
        record = {
            "format": "superd-children/1",
            "boot_id": boot_id(),
            "superd": None,
            "children": [[bystander.pid, identity.starttime + 1, "holder", "holder", 0.0]],
        }
        (tmp_path / "superd.pid.children").write_text(json.dumps(record))
        superd, port = start_again(tmp_path, "kill", cleanup)
        superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
        assert bystander.poll() is None
        assert survivor_events(port) == []
        assert metric(port, "kill") == 0.0
        assert "survivor" not in superd.main_log()
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
        # Another boot's record: the same pid with its real start time is not ours either.
        record["boot_id"] = "another-boot"
        record["children"] = [[bystander.pid, identity.starttime, "holder", "holder", 0.0]]
        (tmp_path / "superd.pid.children").write_text(json.dumps(record))
        superd, port = start_again(tmp_path, "kill", cleanup)
        superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
        assert bystander.poll() is None
        assert survivor_events(port) == []
    finally:
        bystander.kill()
        bystander.wait()


def test_a_clean_shutdown_leaves_no_record(tmp_path: Path, cleanup: list[Superd]) -> None:
    """While superd runs its children are recorded; after an orderly shutdown the record
    is gone, so the next start finds no survivors."""
    superd = Superd(tmp_path, config(tmp_path, free_port(), None), "-n")
    cleanup.append(superd)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    path = tmp_path / "superd.pid.children"
    pids = set(superd.pids())
    wait_for(
        lambda: (r := read_record(str(path))) and {e.pid for e in r.children} == pids, "recorded"
    )
    assert path.stat().st_mode & 0o777 == 0o600
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0
    assert not path.exists()
    superd, port = start_again(tmp_path, None, cleanup)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    assert survivor_events(port) == []


def test_adopt_kills_what_it_cannot_adopt(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """survivors = adopt kills the survivors it cannot take on: a program no longer
    configured, an event listener (its protocol ran over the killed superd's pipes)
    and a ready = notify program (its NOTIFY_SOCKET was the killed superd's)."""
    old = first_run(tmp_path, cleanup, orphans, LISTENER + NOTIFY)
    superd, port = start_again(tmp_path, "adopt", cleanup, extra=LISTENER + NOTIFY, plain=False)
    wait_for(lambda: info(superd, "holder")["statename"] == "RUNNING", "holder adopted")
    assert info(superd, "holder")["pid"] == old["holder"]
    actions = {e["processname"]: e["action"] for e in survivor_events(port)}
    assert actions == {"holder": "adopt", "plain": "kill", "listener": "kill", "notify": "kill"}
    for name in ("plain", "listener", "notify"):
        assert process_identity(old[name]) is None
    # plain is configured no more: SIGTERM (which its handler records) stopped it.
    assert "stop plain" in (tmp_path / "record").read_text()
    assert info(superd, "listener")["pid"] not in (0, old["listener"])
    assert metric(port, "adopt") == 1.0
    assert metric(port, "kill") == 3.0


def test_an_adopted_survivors_exit_is_reported_without_a_known_status(
    tmp_path: Path, cleanup: list[Superd], orphans: list[psutil.Process]
) -> None:
    """An adopted survivor is not superd's child: its exit comes with the status the
    kernel still shows (killed by SIGKILL here) or exit status 255 when its new parent
    reaped it first."""
    old = first_run(tmp_path, cleanup, orphans)
    superd, port = start_again(tmp_path, "adopt", cleanup)
    superd.wait_states({"holder": "RUNNING", "plain": "RUNNING"})
    os.kill(old["plain"], signal.SIGKILL)
    exited = wait_for(
        lambda: [
            e
            for e in events(port)
            if e["type"] == "PROCESS_STATE_EXITED" and e["pid"] == old["plain"]
        ],
        "the adopted process' exit",
    )
    assert exited[0]["returncode"] in (-signal.SIGKILL, 255)
