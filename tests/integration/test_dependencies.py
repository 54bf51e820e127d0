"""depends_on and ready= with real children and a real superd: order, waits, watchdog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.prometheus_server import free_port
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A database-like program: ready (in the given mode) two seconds after it starts; it
# writes "db ready" to the record just before it is, and "db stop" on SIGTERM.
DB = """\
import os, signal, socket, sys, time
mode, record, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def log(what):
    with open(record, "a") as f:
        f.write(what + "\\n")
def term(*_):
    log("db stop")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
time.sleep(2)
if mode == "notify":
    log("db ready")
    address = os.environ["NOTIFY_SOCKET"]
    target = "\\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\\nSTATUS=accepting", target)
    while True:
        signal.pause()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
log("db ready")
while True:
    conn, _ = server.accept()
    if mode == "http":
        conn.recv(65536)
        conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    conn.close()
"""


def config(tmp: Path, mode: str, port: int, *, extra_app: str = "") -> str:
    (tmp / "db.py").write_text(DB)
    ready = {
        "notify": "notify",
        "tcp": f"tcp:127.0.0.1:{port}",
        "http": f"http:http://127.0.0.1:{port}/health",
    }[mode]
    record = tmp / "record"
    return base_config(tmp) + (
        f"[program:db]\ncommand = {sys.executable} {tmp / 'db.py'} {mode} {record} {port}\n"
        f"ready = {ready}\nready_timeout = 30\nready_interval = 0.2\nstopwaitsecs = 5\n\n"
        f"[program:app]\ncommand = /bin/sh -c 'echo app start >> {record}; "
        f'trap "echo app stop >> {record}; exit 0" TERM; while :; do sleep 0.1; done\'\n'
        f"depends_on = db\nstartsecs = 0\nstopwaitsecs = 5\n{extra_app}\n"
    )


def record(tmp: Path) -> list[str]:
    path = tmp / "record"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("mode", ["notify", "tcp", "http"])
def test_the_app_starts_only_after_the_database_is_ready(tmp_path: Path, mode: str) -> None:
    """The dependent's first line comes after the dependency said (or was found) ready;
    meanwhile status says what it waits for; a shutdown stops the app first."""
    superd = Superd(tmp_path, config(tmp_path, mode, free_port()))
    try:
        superd.wait_running()
        info = wait_for(
            lambda: (
                superd.call("getProcessInfo", "app")["description"] == "Not started, waiting for db"
                and superd.call("getProcessInfo", "app")
            ),
            "app waiting for db",
        )
        assert info["statename"] == "STOPPED"
        wait_for(lambda: superd.states() == {"db": "RUNNING", "app": "RUNNING"}, "both RUNNING")
        wait_for(lambda: "app start" in record(tmp_path), "the app's first line")
        assert record(tmp_path)[:2] == ["db ready", "app start"]
        superd.send(__import__("signal").SIGTERM)
        assert superd.wait_exit() == 0
        assert record(tmp_path)[2:] == ["app stop", "db stop"]
    finally:
        superd.close()


def test_stopping_a_dependency_stops_its_dependents_first(tmp_path: Path) -> None:
    """stop db: app gets its stop first (cause dependency), then db; start app: db too."""
    superd = Superd(tmp_path, config(tmp_path, "tcp", free_port()))
    try:
        wait_for(lambda: superd.states() == {"db": "RUNNING", "app": "RUNNING"}, "both RUNNING")
        superd.call("stopProcess", "db")
        assert superd.states() == {"db": "STOPPED", "app": "STOPPED"}
        assert record(tmp_path)[-2:] == ["app stop", "db stop"]
        stops = wait_for(
            lambda: (
                len(journal_events(tmp_path, "PROCESS_STATE_STOPPED")) >= 2
                and journal_events(tmp_path, "PROCESS_STATE_STOPPING")[-2:]
            ),
            "journaled stops",
        )
        assert [(e["processname"], e["cause"], e.get("origin")) for e in stops] == [
            ("app", "dependency", "db is stopping"),
            ("db", "operator", stops[1].get("origin")),
        ]
        # An explicit start of app brings its stopped dependency along, then waits.
        assert superd.call("startProcess", "app") is True
        assert superd.states() == {"db": "RUNNING", "app": "RUNNING"}
        # app is RUNNING at once (startsecs = 0): its shell writes its line when it runs.
        wait_for(lambda: record(tmp_path)[-2:] == ["db ready", "app start"], "db, then app")
    finally:
        superd.close()


def test_a_fatal_dependency_leaves_the_dependent_waiting_visibly(tmp_path: Path) -> None:
    """A dependency that cannot start: the dependent stays STOPPED, waiting for db (FATAL)."""
    text = base_config(tmp_path) + (
        "[program:db]\ncommand = /bin/sh -c 'exit 1'\nstartretries = 0\nstartsecs = 1\n\n"
        "[program:app]\ncommand = /bin/sleep 100\ndepends_on = db\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text)
    try:
        wait_for(lambda: superd.states()["db"] == "FATAL", "db FATAL")
        wait_for(
            lambda: (
                superd.call("getProcessInfo", "app")["description"]
                == "Not started, waiting for db (FATAL)"
            ),
            "app waiting for a FATAL db",
        )
        assert superd.states()["app"] == "STOPPED"
    finally:
        superd.close()


def test_a_silent_watchdog_restarts_the_program(tmp_path: Path) -> None:
    """A notify program that stops sending WATCHDOG=1 is killed and restarted."""
    program = tmp_path / "dog.py"
    program.write_text(
        "import os, socket, time\n"
        "a = os.environ['NOTIFY_SOCKET']\n"
        "t = '\\0' + a[1:] if a.startswith('@') else a\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.sendto(b'READY=1', t)\n"
        "for _ in range(3):\n    time.sleep(0.3)\n    s.sendto(b'WATCHDOG=1', t)\n"
        "time.sleep(100)\n"
    )
    text = base_config(tmp_path) + (
        f"[program:dog]\ncommand = {sys.executable} {program}\nready = notify\n"
        "watchdog_timeout = 1\nautorestart = true\n"
    )
    superd = Superd(tmp_path, text)
    try:
        first = wait_for(lambda: superd.states() == {"dog": "RUNNING"} and superd.pids(), "dog")
        wait_for(lambda: superd.pids() not in ([], first), "a restarted dog", deadline=30)
        assert "watchdog: dog sent no WATCHDOG=1 for 1 seconds" in superd.stdout_text()
    finally:
        superd.close()


def test_check_config_rejects_a_cycle_with_file_and_line(tmp_path: Path) -> None:
    """superd --check-config exits 2 and names depends_on at file:line for a cycle."""
    text = base_config(tmp_path) + (
        "[program:a]\ncommand = /bin/true\ndepends_on = b\n\n"
        "[program:b]\ncommand = /bin/true\ndepends_on = a\n"
    )
    path = tmp_path / "cycle.conf"
    path.write_text(text)
    superd = Path(sys.executable).parent / "superd"
    done = subprocess.run(
        [str(superd), "-c", str(path), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    line = text.splitlines().index("depends_on = b") + 1
    assert f"{path}:{line}: [program:a] depends_on: dependency cycle: a -> b -> a" in done.stderr


def journal_events(tmp: Path, *types: str) -> list[dict[str, object]]:
    """The daemon's journal (its default place under childlogdir), as JSON objects."""
    from exporters.journal import open_journal

    with open_journal(str(tmp / "superd-journal.sqlite3")) as reader:
        return [record.to_json_dict() for record in reader.events(types=list(types))]


def test_an_idle_dependency_is_brought_along_by_an_explicit_start(tmp_path: Path) -> None:
    """autostart=false db: app waits for it at start-up; `start app` starts db first
    (cause dependency), db is found ready by a command probe, then app starts; stop all
    stops app before db; the journal has the waits and every cause."""
    flag = tmp_path / "db-ready"
    record_file = tmp_path / "record"
    text = base_config(tmp_path) + (
        "[program:db]\n"
        f"command = /bin/sh -c 'sleep 1; touch {flag}; echo db ready >> {record_file}; "
        f'trap "echo db stop >> {record_file}; exit 0" TERM; while :; do sleep 0.1; done\'\n'
        f"autostart = false\nready = command:test -e {flag}\nready_interval = 0.2\n\n"
        "[program:app]\n"
        f"command = /bin/sh -c 'echo app start >> {record_file}; "
        f'trap "echo app stop >> {record_file}; exit 0" TERM; while :; do sleep 0.1; done\'\n'
        "depends_on = db\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text)
    try:
        wait_for(
            lambda: (
                superd.call("getProcessInfo", "app")["description"]
                == "Not started, waiting for db (STOPPED)"
            ),
            "app waiting for an idle db",
        )
        assert superd.states() == {"db": "STOPPED", "app": "STOPPED"}
        superd.call("stopProcess", "app")  # calls the held start off
        assert superd.call("getProcessInfo", "app")["description"] == "Not started"
        assert superd.call("startProcess", "app") is True
        assert superd.states() == {"db": "RUNNING", "app": "RUNNING"}
        assert record(tmp_path) == ["db ready", "app start"]
        results = superd.call("stopAllProcesses")
        assert {r["name"]: r["description"] for r in results} == {"app": "OK", "db": "OK"}
        assert record(tmp_path)[2:] == ["app stop", "db stop"]
        wait_for(
            lambda: len(journal_events(tmp_path, "PROCESS_STATE_STOPPED")) == 2,
            "the journaled stops",
        )
        starts = journal_events(tmp_path, "PROCESS_STATE_STARTING", "PROCESS_STATE_RUNNING")
        assert [(e["processname"], e["to_state"], e["cause"]) for e in starts] == [
            ("db", "STARTING", "dependency"),
            ("db", "RUNNING", "ready"),
            ("app", "STARTING", "operator"),
            ("app", "RUNNING", "startsecs"),
        ]
        assert starts[0]["origin"] == "needed by app"
        waits = journal_events(tmp_path, "PROCESS_DEPENDENCY")
        assert [(e["processname"], e["waiting_for"], e["released"]) for e in waits] == [
            ("app", ["db"], False),
            ("app", [], False),  # the stop called it off
            ("app", ["db"], False),
            ("app", [], True),
        ]
        stops = journal_events(tmp_path, "PROCESS_STATE_STOPPING")
        # stop all asks for app itself (it comes first), then for db, held until app stopped.
        assert [(e["processname"], e["cause"]) for e in stops] == [
            ("app", "operator"),
            ("db", "operator"),
        ]
    finally:
        superd.close()


def test_not_ready_in_time_is_a_failed_start(tmp_path: Path) -> None:
    """A program that never opens its port is killed after ready_timeout: BACKOFF with
    cause ready_timeout, then FATAL, spawnerr saying why."""
    text = base_config(tmp_path) + (
        f"[program:mute]\ncommand = /bin/sleep 100\nready = tcp:127.0.0.1:{free_port()}\n"
        "ready_timeout = 1\nready_interval = 0.2\nstartretries = 0\n"
    )
    superd = Superd(tmp_path, text)
    try:
        wait_for(lambda: superd.states() == {"mute": "FATAL"}, "mute FATAL")
        info = superd.call("getProcessInfo", "mute")
        assert info["spawnerr"] == "Not ready within 1 seconds (ready_timeout)"
        backoff = wait_for(
            lambda: journal_events(tmp_path, "PROCESS_STATE_BACKOFF"), "the journaled BACKOFF"
        )
        assert [(e["cause"], e["signal_name"]) for e in backoff] == [("ready_timeout", "SIGKILL")]
    finally:
        superd.close()
