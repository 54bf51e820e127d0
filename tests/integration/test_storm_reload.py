"""HUP, reread and update in the middle of a restart storm; a crash at the fd limit (issue 19).

A real superd runs three programs in a crash loop (a storm each) beside a steady one;
while they storm, it gets SIGHUP twice and the real ``supervisorctl update`` twice
(adding and removing programs). Afterwards: superd still serves, no child is left a
zombie or orphaned, its file descriptors are back where they were, and
``/metrics`` counts exactly the restarts the journal holds for every process. And a
child killed while idle connections fill the fd table is respawned.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.fuzzing import free_port
from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

CRASHERS = ("crash_0", "crash_1", "crash_2")
# Each run lives a moment, then fails: an endless crash loop at a few restarts a second.
CRASH = (
    "[program:{name}]\ncommand = /bin/sh -c 'sleep 0.2; exit 1'\n"
    "startsecs = 0\nautorestart = true\n\n"
)
STEADY = "[program:{name}]\ncommand = /bin/sleep 86400\nstartsecs = 0\nstopwaitsecs = 2\n\n"
FD_SLACK = 8  # a reload re-creates listening sockets; anything beyond this is a leak


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def config(tmp: Path, port: int, extra: tuple[str, ...]) -> str:
    """The crashers, ``steady``, and the ``extra`` steady programs."""
    text = base_config(tmp) + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
    text += "".join(CRASH.format(name=name) for name in CRASHERS)
    return text + "".join(STEADY.format(name=name) for name in ("steady", *extra))


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body.decode()


def restarts_on_metrics(text: str) -> dict[str, float]:
    """``group:name`` -> supervisor_process_restarts_total."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("supervisor_process_restarts_total{"):
            labels, value = line.rsplit(" ", 1)
            pairs = dict(
                part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(",")
            )
            found[f"{pairs['group'].strip(chr(34))}:{pairs['name'].strip(chr(34))}"] = float(value)
    return found


def restarts_in_journal(base: str) -> dict[str, int]:
    """``group:name`` -> automatic restarts the journal holds since the daemon started."""
    body = json.loads(get(f"{base}/events/restarts"))
    return {f"{r['groupname']}:{r['processname']}": r["restarts"] for r in body["restarts"]}


def zombies(pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(pid).children(recursive=True)
        if child.status() == psutil.STATUS_ZOMBIE
    ]


def test_hup_and_update_during_a_storm_leave_no_zombie_no_leak_and_agree(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """Two SIGHUPs and two ``supervisorctl update`` during a storm of three crash loops:
    superd keeps serving, leaves no zombie, no fd behind, and its /metrics restarts
    equal the journal's for every process."""
    supervisorctl = require_command("supervisorctl")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Superd(tmp_path, config(tmp_path, port, ()))
    cleanup.append(daemon)
    daemon.wait_running()
    storming = {f"{n}:{n}" for n in CRASHERS}

    def storm() -> bool:
        current = json.loads(get(f"{base}/storms"))["current"]
        return storming <= {f"{s['group']}:{s['name']}" for s in current if s["scope"] == "process"}

    wait_for(storm, "all three crash loops storming")
    superd = psutil.Process(daemon.process.pid)
    fds_before = superd.num_fds()

    def update(extra: tuple[str, ...]) -> None:
        daemon.config.write_text(config(tmp_path, port, extra))
        result = subprocess.run(
            [supervisorctl, "-c", str(daemon.config), "update"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def running(wanted: set[str]) -> Callable[[], bool]:
        def check() -> bool:
            return wanted <= {n for n, state in daemon.states().items() if state == "RUNNING"}

        return check

    for round_, extra in enumerate([("extra_0", "extra_1"), ("extra_1",)]):
        daemon.send(signal.SIGHUP)
        wait_for(lambda: daemon.call("getState")["statename"] == "RUNNING", "serving after HUP")
        wait_for(storm, f"the storm again after HUP {round_}")
        update(extra)
        wait_for(running({"steady", *extra}), "the updated programs RUNNING")
    assert set(daemon.states()) == {*CRASHERS, "steady", "extra_1"}
    # End the storm, then everything must settle and agree.
    for name in CRASHERS:
        daemon.call("stopProcess", name)
    wait_for(lambda: not zombies(daemon.process.pid), "no zombie child")
    assert daemon.call("getState")["statename"] == "RUNNING"
    pids = set(daemon.pids())
    children = {child.pid for child in superd.children(recursive=True)}
    assert children == pids, "a child superd does not know of, or one it lost"
    wait_for(lambda: superd.num_fds() <= fds_before + FD_SLACK, "fds back to where they were")
    journal = restarts_in_journal(base)
    assert {f"{n}:{n}" for n in CRASHERS} <= set(journal)
    metrics = restarts_on_metrics(get(f"{base}/metrics"))
    assert {k: v for k, v in metrics.items() if v} == journal
    assert "Traceback" not in daemon.stdout_text()
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit() == 0


def test_idle_connections_never_take_the_fds_a_child_needs(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """Under ``ulimit -n 300`` (``minfds = 300``), 400 idle connections held on the inet
    port never exhaust superd's fds: the connections over the listener's cap get 503,
    nothing logs "Too many open files", a killed child is respawned and a stopped one
    starts (issue 19, item 5: the child went FATAL there)."""
    port = free_port()
    text = base_config(tmp_path) + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
    text = text.replace("nodaemon = true\n", "nodaemon = true\nminfds = 300\n")
    text += STEADY.format(name="a") + STEADY.format(name="b") + "autostart = false\n\n"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))  # superd inherits it
    try:
        daemon = Superd(tmp_path, text)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    cleanup.append(daemon)
    daemon.wait_states({"a": "RUNNING", "b": "STOPPED"})
    assert resource.prlimit(daemon.process.pid, resource.RLIMIT_NOFILE)[0] == 300
    held: list[socket.socket] = []
    try:
        for _ in range(400):  # bounded; beyond the cap they get 503 or wait in the backlog
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        assert len(held) > 300
        (pid,) = daemon.pids()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: daemon.pids() not in ([], [pid]), "a respawned")
        assert daemon.call("startProcess", "b") is True
        assert daemon.states() == {"a": "RUNNING", "b": "RUNNING"}
        busy = 0
        for conn in held:
            conn.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # one superd holds open, idle
                busy += conn.recv(64).startswith(b"HTTP/1.1 503")
        assert busy > 0
    finally:
        for conn in held:
            conn.close()
    log = daemon.stdout_text()
    assert "Too many open files" not in log
    assert "spawnerr" not in log
