"""A real superd reaps orphaned grandchildren: as a child subreaper (``subreaper=true``)
and as PID 1 of a PID namespace (``unshare``), without touching its programs' own exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor_core.ctl.transport import make_server_proxy
from tests.integration.superd_harness import (
    DEADLINE,
    Superd,
    base_config,
    program_section,
    wait_for,
)
from tests.integration.test_superd_extensions import events, free_port
from tests.peers import missing_peer, require_command

pytestmark = pytest.mark.integration

ORPHANS = 8

# A program whose middle process (a shell) starts ORPHANS background sleeps and exits
# at once: the sleeps are orphaned. On SIGUSR1 the program kills them and exits 7 in
# the same instant, so their exits and its own race to superd.
FAMILY = """\
import os, signal, subprocess, sys
pidfile, count = sys.argv[1], int(sys.argv[2])
script = 'for i in $(seq "$1"); do sleep 1000 & echo $! >> "$0"; done'
subprocess.run(["/bin/sh", "-c", script, pidfile + ".tmp", str(count)], check=True)
os.rename(pidfile + ".tmp", pidfile)
def finish(*_):
    for line in open(pidfile):
        os.kill(int(line), signal.SIGTERM)
    sys.exit(7)
signal.signal(signal.SIGUSR1, finish)
while True:
    signal.pause()
"""


def family_section(tmp: Path) -> str:
    """``[program:family]`` running FAMILY; its orphans' pids go to ``tmp/orphans``."""
    (tmp / "family.py").write_text(FAMILY)
    return (
        f"[program:family]\n"
        f"command = {sys.executable} {tmp / 'family.py'} {tmp / 'orphans'} {ORPHANS}\n"
        "startsecs = 0\nautorestart = false\n\n"
    )


def orphan_pids(tmp: Path) -> list[int]:
    """The orphans' pids, once the middle process has written all of them."""
    path = tmp / "orphans"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def parent_of(pid: int) -> int | None:
    """``PPid`` in /proc/PID/status (as seen from our PID namespace), None once gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid in /proc/{pid}/status")


def reaped(pid: int, parent: int) -> bool:
    """``pid`` is no longer a child of ``parent`` (gone, so reaped: not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is the state, fields[1] the parent: a reused pid has another parent.
    return int(fields[1]) != parent


def process_events(port: int) -> list[dict[str, object]]:
    """The PROCESS_STATE_* events superd published so far."""
    return [e for e in events(port) if str(e["type"]).startswith("PROCESS_STATE_")]


def kill_leftovers(pids: list[int]) -> None:
    """Kill the orphans a failed test left running (psutil checks they are still ours)."""
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.name() == "sleep":
                process.kill()
        except psutil.Error:
            continue


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        kill_leftovers(orphan_pids(daemon.tmp))
        daemon.close()


def test_a_subreaper_adopts_and_reaps_orphans_without_taking_its_programs_exits(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """With ``subreaper=true`` the orphans of a program's middle process become superd's
    children and are reaped when they exit (no zombie, no event), while the program's
    own exit, racing theirs, keeps its status (7) and its events."""
    port = free_port()
    text = (
        base_config(tmp_path).replace("[supervisord]\n", "[supervisord]\nsubreaper = true\n")
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + family_section(tmp_path)
    )
    superd = Superd(tmp_path, text)
    cleanup.append(superd)
    superd.wait_states({"family": "RUNNING"})
    program_pid = superd.call("getProcessInfo", "family")["pid"]
    orphans = wait_for(lambda: orphan_pids(tmp_path), "the orphans' pids")
    assert len(orphans) == ORPHANS
    wait_for(
        lambda: all(parent_of(pid) == superd.process.pid for pid in orphans),
        "every orphan reparented to superd",
    )
    assert "child subreaper: reaping orphaned processes" in superd.main_log()

    superd.call("signalProcess", "family", "USR1")
    superd.wait_states({"family": "EXITED"})
    wait_for(
        lambda: all(reaped(pid, superd.process.pid) for pid in orphans),
        "every orphan reaped",
    )

    info = superd.call("getProcessInfo", "family")
    assert info["exitstatus"] == 7
    seen = wait_for(lambda: (found := process_events(port))[2:] and found, "3 events journaled")
    assert [(e["processname"], e["to_state"]) for e in seen] == [
        ("family", "STARTING"),
        ("family", "RUNNING"),
        ("family", "EXITED"),
    ]
    assert {e["pid"] for e in seen if e["to_state"] != "STARTING"} == {program_pid}
    assert seen[-1]["expected"] == 0
    # Logged right after each reap: the line may trail the pid's disappearance a little.
    wait_for(
        lambda: all(
            f"reaped orphan pid {pid} (terminated by SIGTERM)" in superd.main_log()
            for pid in orphans
        ),
        "every reap logged",
    )
    assert superd.call("getState")["statename"] == "RUNNING"
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0


def test_a_subreaper_leaves_command_probes_their_exit_status(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """With ``subreaper = true``, ``ready = command:`` probes still count: failing ones
    (exit 1) keep the program STARTING, a passing one makes it RUNNING, and no probe is
    reaped as an orphan (the forced race is in test_command_probes_keep_their_exit_status)."""
    (tmp_path / "probe.sh").write_text(
        f"echo probe >> {tmp_path / 'probes'}\ntest -e {tmp_path / 'go'}\n"
    )
    text = (
        base_config(tmp_path).replace("[supervisord]\n", "[supervisord]\nsubreaper = true\n")
        + program_section("gated", tmp_path, priority=1)
        + f"ready = command:/bin/sh {tmp_path / 'probe.sh'}\n"
        + "ready_interval = 0.05\nready_timeout = 60\n"
    )
    superd = Superd(tmp_path, text)
    cleanup.append(superd)
    probes = tmp_path / "probes"
    wait_for(lambda: probes.exists() and len(probes.read_text().split()) >= 20, "20 probes")
    assert superd.states() == {"gated": "STARTING"}
    assert "entered RUNNING" not in superd.main_log()
    (tmp_path / "go").touch()
    superd.wait_states({"gated": "RUNNING"})
    assert "reaped orphan" not in superd.main_log()


def test_without_subreaper_orphans_are_not_superds(tmp_path: Path, cleanup: list[Superd]) -> None:
    """Without the option (and not PID 1) superd is no subreaper: the orphans go to
    whichever ancestor is, as they would under supervisord."""
    text = base_config(tmp_path) + family_section(tmp_path)
    superd = Superd(tmp_path, text)
    cleanup.append(superd)
    superd.wait_states({"family": "RUNNING"})
    orphans = wait_for(lambda: orphan_pids(tmp_path), "the orphans' pids")
    # The middle process is gone once the program runs its loop; the orphans' parent is
    # fixed from then on.
    wait_for(lambda: all(parent_of(pid) != superd.process.pid for pid in orphans), "reparented")
    assert "reaping orphaned processes" not in superd.main_log()


GRANDCHILDREN = 3


def orphans_reaped(port: int) -> float | None:
    """``supervisor_orphans_reaped_total`` in a scrape of superd's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "supervisor_orphans_reaped_total":
                return float(sample.value)
    return None


def terminated(pid: int) -> bool:
    """``pid`` has exited (a zombie its new parent did not reap yet, or gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(("subreaper", "counted"), [(True, GRANDCHILDREN), (False, 0)])
def test_orphans_reaped_are_counted_on_metrics(
    subreaper: bool, counted: int, tmp_path: Path, cleanup: list[Superd]
) -> None:
    """``supervisor_orphans_reaped_total`` is served from the start at 0 and counts each
    double-forked grandchild superd reaps as a subreaper, never a program's own exit;
    without ``subreaper=true`` the orphans are not superd's and it stays 0."""
    port = free_port()
    # Each subshell forks a short sleep, writes its pid and exits: the sleep is orphaned.
    forker = (
        f"for i in $(seq {GRANDCHILDREN}); do (sleep 0.3 & echo $! >> {tmp_path / 'orphans'}); "
        "done; exec sleep 1000"
    )
    text = (
        base_config(tmp_path).replace(
            "[supervisord]\n", f"[supervisord]\nsubreaper = {str(subreaper).lower()}\n"
        )
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[program:oneshot]\ncommand = /bin/true\nstartsecs = 0\nautorestart = false\n\n"
        + f"[program:forker]\ncommand = /bin/sh -c '{forker}'\nstartsecs = 0\n"
        + "autostart = false\n\n"
    )
    superd = Superd(tmp_path, text)
    cleanup.append(superd)
    superd.wait_states({"oneshot": "EXITED", "forker": "STOPPED"})
    assert wait_for(lambda: orphans_reaped(port) is not None, "the counter served") is True
    assert orphans_reaped(port) == 0  # a program's own exit is no orphan

    superd.call("startProcess", "forker")
    grandchildren = wait_for(
        lambda: (pids := orphan_pids(tmp_path))[GRANDCHILDREN - 1 :] and pids, "their pids"
    )
    wait_for(lambda: all(terminated(pid) for pid in grandchildren), "every grandchild exited")
    if counted:
        wait_for(lambda: orphans_reaped(port) == counted, f"{counted} orphans counted")
        assert all(reaped(pid, superd.process.pid) for pid in grandchildren)
    assert orphans_reaped(port) == counted
    assert superd.call("getProcessInfo", "forker")["statename"] == "RUNNING"
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0


def test_subreaper_option_is_checked(tmp_path: Path) -> None:
    """A bad ``subreaper`` value is a config error naming file:line, section and option."""
    text = base_config(tmp_path).replace("[supervisord]\n", "[supervisord]\nsubreaper = maybe\n")
    config = tmp_path / "supervisord.conf"
    config.write_text(text)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "superd"), "-c", str(config), "--check-config"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 2
    line = text.splitlines().index("subreaper = maybe") + 1
    assert f"{config}:{line}: [supervisord] subreaper:" in done.stderr


# --------------------------------------------------------------------------- PID 1


def unshare_or_skip() -> list[str]:
    """``unshare`` making a PID namespace as an unprivileged user, or skip/fail."""
    unshare = require_command("unshare")
    argv = [unshare, "--pid", "--fork", "--mount-proc", "--map-root-user"]
    probe = subprocess.run(
        [*argv, "/bin/sh", "-c", "echo $$"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        missing_peer(f"unprivileged PID namespaces are not available: {probe.stderr.strip()}")
    return argv


class Pid1Superd(Superd):
    """superd started as PID 1 of a new PID namespace (``unshare --pid --fork``)."""

    def __init__(
        self,
        tmp: Path,
        text: str,
        unshare: list[str],
        *,
        command: list[str] | None = None,
        socket: Path | None = None,
    ) -> None:
        """Write ``text`` and run ``superd -c`` on it (or ``command``) under ``unshare``;
        ``socket`` is its unix socket (default: ``tmp/sock``, as in ``base_config``)."""
        self.socket = socket if socket is not None else tmp / "sock"
        self.tmp = tmp
        self.config = tmp / "supervisord.conf"
        self.config.write_text(text)
        self.stdout_path = tmp / "superd.stdout"
        self.stderr_path = tmp / "superd.stderr"
        if command is None:
            command = [str(Path(sys.executable).parent / "superd"), "-c", str(self.config)]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.unshare = subprocess.Popen(
                [*unshare, *command],
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        # superd's pid as seen from here; inside its namespace it is 1.
        self.outer_pid: int = wait_for(self._child, "superd under unshare")

    def call(self, method: str, *args: Any) -> Any:
        """Call ``supervisor.<method>(*args)`` over its unix socket."""
        with make_server_proxy(f"unix://{self.socket}", None, None) as proxy:
            return getattr(proxy.supervisor, method)(*args)

    def sleeping_children(self, count: int) -> list[int] | None:
        """superd's ``count`` children running ``sleep`` (pids seen from here), or None."""
        children = psutil.Process(self.outer_pid).children()
        pids = [child.pid for child in children if child.name() == "sleep"]
        return pids if len(pids) == count else None

    def _child(self) -> int | None:
        children = psutil.Process(self.unshare.pid).children()
        return children[0].pid if children else None

    def send(self, sig: signal.Signals) -> None:
        """Signal superd (from the parent namespace, like a container engine)."""
        os.kill(self.outer_pid, sig)

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        """superd's exit status (unshare exits with its child's)."""
        return self.unshare.wait(timeout=timeout)

    def close(self) -> None:
        """Kill superd if a test left it running: the kernel then kills its namespace."""
        if self.unshare.poll() is None:
            with_children = psutil.Process(self.unshare.pid).children()
            for child in with_children:
                child.kill()
            self.unshare.wait(timeout=DEADLINE)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_as_pid_1_superd_reaps_orphans_and_shuts_down_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """As PID 1 of a PID namespace superd reaps orphans without ``subreaper=true``;
    SIGTERM or SIGINT from outside (a container engine's stop) stops its programs
    gracefully and superd exits 0; the kernel then kills the orphans still running."""
    unshare = unshare_or_skip()
    text = base_config(tmp_path) + program_section("a", tmp_path, priority=1)
    text += family_section(tmp_path)
    superd = Pid1Superd(tmp_path, text, unshare)
    try:
        superd.wait_states({"a": "RUNNING", "family": "RUNNING"})
        wait_for(lambda: superd.record() == ["start a"], "a started")
        # The pids in the file are the namespace's; find ours through the parent link.
        outer: list[int] = wait_for(
            lambda: superd.sleeping_children(ORPHANS), "the orphans reparented to PID 1"
        )
        assert len(outer) == ORPHANS
        victim, survivors = outer[0], outer[1:]
        os.kill(victim, signal.SIGTERM)
        wait_for(lambda: reaped(victim, superd.outer_pid), "the killed orphan reaped")
        assert "running as PID 1: reaping orphaned processes" in superd.main_log()
        wait_for(lambda: "reaped orphan pid" in superd.main_log(), "the reap logged")
        assert superd.states() == {"a": "RUNNING", "family": "RUNNING"}

        superd.send(sig)
        assert superd.wait_exit() == 0
        assert superd.record() == ["start a", "stop a"]
        assert f"received {sig.name} indicating exit request" in superd.main_log()
        wait_for(lambda: all(not psutil.pid_exists(pid) for pid in survivors), "orphans gone")
    finally:
        superd.close()


# --------------------------------------------------------------------------- the reaper


def scenario(name: str) -> dict[str, object]:
    """Run one of orphan_reaper_scenarios.py in a fresh interpreter; its JSON result."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("orphan_reaper_scenarios.py")), name],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_claimed_exit_ahead_of_an_orphan_is_left_to_its_owner() -> None:
    """The sweep stops at an exited child an owner claimed (its status stays the owner's:
    3) and reaps the orphan behind it once the owner releases the claim."""
    assert scenario("claimed_head_blocks_then_resumes") == {
        "first_sweep": 0,
        "blocked": True,
        "owned_returncode": 3,
        "reaped": 1,
        "last_pid_is_orphan": True,
        "last_returncode": 5,
        "claimed": 0,
    }


def test_one_sigchld_for_many_exits_reaps_them_all() -> None:
    """40 orphans exiting together are all reaped (SIGCHLD is not queued per child)."""
    assert scenario("sigchld_reaps_a_burst") == {"reaped": 40, "left": []}


def test_the_claiming_spawner_leaves_exits_to_the_spawner() -> None:
    """A spawned child's exit status reaches its handle (9); a child whose handle was
    closed while it ran is reaped by the reaper when it exits; no claim outlives them."""
    assert scenario("spawner_children_keep_their_status") == {
        "quick_returncode": 9,
        "claimed_while_running": 1,
        "reaped": 1,
        "last_pid_is_abandoned": True,
        "last_returncode": -15,
        "claimed_after": 0,
    }


def test_a_stale_claim_does_not_keep_a_zombie() -> None:
    """A claim whose owner already reaped its child does not protect a later zombie."""
    assert scenario("stale_claim_does_not_block") == {"reaped": 1, "claimed": 0}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_as_pid_1_a_stop_signal_during_start_up_ends_superd(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A stop signal that reaches PID 1 while superd still reads its configuration (here
    a FIFO nobody writes) makes it exit 0 at once, rather than being dropped by the kernel."""
    unshare = unshare_or_skip()
    fifo = tmp_path / "supervisord.fifo"
    os.mkfifo(fifo)
    superd_command = [str(Path(sys.executable).parent / "superd"), "-c", str(fifo)]
    superd = Pid1Superd(tmp_path, "", unshare, command=superd_command)
    try:
        wchan = Path(f"/proc/{superd.outer_pid}/wchan")
        # Blocked opening the FIFO: past the imports, in start-up proper.
        wait_for(lambda: wchan.read_text() == "wait_for_partner", "superd opening the FIFO")
        superd.send(sig)
        assert superd.wait_exit() == 0
        assert f"superd: {sig.name} before start-up finished: exiting" in superd.stderr_text()
    finally:
        superd.close()


def test_as_pid_1_superd_stays_in_the_foreground(tmp_path: Path) -> None:
    """As PID 1 superd never daemonizes (its exit would end the namespace): with
    ``nodaemon = false`` and no ``-n`` it still serves as PID 1 until told to stop."""
    unshare = unshare_or_skip()
    text = base_config(tmp_path, nodaemon=False) + program_section("a", tmp_path, priority=1)
    superd = Pid1Superd(tmp_path, text, unshare)
    try:
        superd.wait_states({"a": "RUNNING"})
        wait_for(lambda: superd.record() == ["start a"], "a started")
        assert superd.unshare.poll() is None
        assert superd.call("getPID") == 1
        assert "daemonizing" not in superd.main_log()
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
        assert superd.record() == ["start a", "stop a"]
    finally:
        superd.close()


def test_command_probes_keep_their_exit_status() -> None:
    """A failing command probe stays failed with a sweep forced between its child's exit
    and its own reaping, because the probe claims its child; without the claim the same
    sweep takes the exit and the probe passes (the hazard the claim prevents)."""
    assert scenario("probes_keep_their_exit_status") == {
        "claimed": {"ready": False, "orphans_reaped": 0},
        "unclaimed": {"ready": True, "orphans_reaped": 1},
    }
