"""Replacing a running supervisord with superd on the same supervisord.conf, and going back.

The steps are the ones docs/operations.md ("Upgrading from supervisord") gives an
operator: the real supervisord and superd are started as operators start them
(``DAEMON -c FILE``, daemon mode), on one file that is never rewritten, and driven
with the real supervisorctl from the venv (``status``, ``pid``, ``shutdown``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.ctl_diff import free_port
from tests.integration.superd_harness import wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

# Says which daemon started it (its parent's pid) on stdout, then waits for SIGTERM.
TICKER = """\
import os, signal, sys
print(f"started under {os.getppid()}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
"""

# An event listener (supervisord's protocol): appends "PARENT EVENTNAME PROCESSNAME".
LISTENER = """\
import os, sys
record = sys.argv[1]
while True:
    sys.stdout.write("READY\\n")
    sys.stdout.flush()
    headers = dict(part.split(":", 1) for part in sys.stdin.readline().split())
    payload = sys.stdin.read(int(headers["len"]))
    fields = dict(part.split(":", 1) for part in payload.split("\\n", 1)[0].split())
    with open(record, "a") as out:
        out.write(f"{os.getppid()} {headers['eventname']} {fields.get('processname')}\\n")
    sys.stdout.write("RESULT 2\\nOK")
    sys.stdout.flush()
"""

# supervisord's AUTO log names: NAME-CHANNEL---IDENTIFIER-RANDOM.log
AUTO = re.compile(r"\w+-std(out|err)---supervisor-\S+\.log")

# supervisord's main log line: "2026-12-03 17:36:14,250 INFO ..."
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) ")


def operators_config(tmp: Path) -> Path:
    """A supervisord.conf as an operator has it: daemon mode, a program with a named
    log, one with AUTO logs, an event listener; written once."""
    logs = tmp / "log"
    logs.mkdir(mode=0o755)
    (tmp / "ticker.py").write_text(TICKER)
    (tmp / "listener.py").write_text(LISTENER)
    config = tmp / "supervisord.conf"
    config.write_text(
        f"[unix_http_server]\nfile = {tmp / 'supervisor.sock'}\nchmod = 0700\n\n"
        f"[supervisord]\nlogfile = {logs / 'supervisord.log'}\n"
        f"pidfile = {tmp / 'supervisord.pid'}\nchildlogdir = {logs}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl = unix://{tmp / 'supervisor.sock'}\n\n"
        f"[program:ticker]\ncommand = {sys.executable} {tmp / 'ticker.py'}\n"
        f"stdout_logfile = {logs / 'ticker.out'}\nstartsecs = 0\n\n"
        f"[program:quiet]\ncommand = {sys.executable} {tmp / 'ticker.py'}\nstartsecs = 0\n\n"
        "[eventlistener:listener]\n"
        f"command = {sys.executable} {tmp / 'listener.py'} {tmp / 'events'}\n"
        "events = PROCESS_STATE_RUNNING\n\n"
    )
    return config


def ctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real supervisorctl on ``config``."""
    return subprocess.run(
        [require_command("supervisorctl"), "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status(config: Path) -> dict[str, str]:
    """name -> state, read from ``supervisorctl status`` as an operator reads it."""
    lines = ctl(config, "status").stdout.splitlines()
    return {line.split()[0]: line.split()[1] for line in lines if line.strip()}


def pidfile(config: Path) -> int | None:
    try:
        return int((config.parent / "supervisord.pid").read_text())
    except (OSError, ValueError):
        return None


def files_under(tmp: Path) -> set[str]:
    return {str(path.relative_to(tmp)) for path in tmp.rglob("*")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """Daemons and programs the test started: killed (by pid, start time checked) after."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        with contextlib.suppress(psutil.Error):
            processes.extend(process.children(recursive=True))
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


def start(kind: str, config: Path, started: list[psutil.Process]) -> int:
    """``kind -c config`` as an operator runs it; the launcher exits 0 once detached.
    Returns the daemon's pid (from the pidfile) once every program is RUNNING."""
    launched = subprocess.run(
        [require_command(kind), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert launched.returncode == 0, launched.stderr
    pid: int = wait_for(lambda: pidfile(config), f"{kind}'s pidfile")
    started.append(psutil.Process(pid))
    assert any(kind in part for part in psutil.Process(pid).cmdline())
    everything = {"ticker": "RUNNING", "quiet": "RUNNING", "listener": "RUNNING"}
    wait_for(lambda: status(config) == everything, f"every program RUNNING under {kind}")
    return pid


def shutdown(config: Path, pid: int) -> None:
    """``supervisorctl shutdown``, then until the daemon has exited."""
    done = ctl(config, "shutdown")
    assert done.stdout.strip() == "Shut down", done.stdout + done.stderr
    gone, _ = psutil.wait_procs([psutil.Process(pid)], timeout=30)
    assert gone, "the daemon did not exit"


def log_text(tmp: Path, name: str) -> str:
    return (tmp / "log" / name).read_text()


def test_supervisord_to_superd_and_back_on_the_same_file(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """supervisord stopped with supervisorctl shutdown, superd started on the unchanged
    file: supervisorctl works on the same socket, the logs are appended to in the same
    format, the listener gets its events, the pidfile is superd's; superd stopped, the
    journal is all it leaves, and supervisord runs on the same file again."""
    config = operators_config(tmp_path)
    unchanged = digest(config)
    events = tmp_path / "events"

    supervisord = start("supervisord", config, started)
    wait_for(lambda: f"started under {supervisord}" in log_text(tmp_path, "ticker.out"), "log")
    wait_for(
        lambda: f"{supervisord} PROCESS_STATE_RUNNING ticker" in events.read_text(), "an event"
    )
    sock = tmp_path / "supervisor.sock"
    assert sock.stat().st_mode & 0o777 == 0o700
    # Step 1, while supervisord still runs: superd checks the file, and touches nothing.
    main_log_before_check = log_text(tmp_path, "supervisord.log")
    checked = subprocess.run(
        [require_command("superd"), "--check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"OK: {config}: 3 groups, 3 processes")
    assert ctl(config, "pid").stdout.strip() == str(supervisord)
    assert log_text(tmp_path, "supervisord.log") == main_log_before_check
    shutdown(config, supervisord)
    assert pidfile(config) is None  # supervisord removes its pidfile
    before = files_under(tmp_path)
    main_log = log_text(tmp_path, "supervisord.log")
    ticker_log = log_text(tmp_path, "ticker.out")
    ticker_inode = (tmp_path / "log/ticker.out").stat().st_ino

    superd = start("superd", config, started)
    assert "superd" in " ".join(psutil.Process(superd).cmdline())
    assert ctl(config, "pid").stdout.strip() == str(superd)
    assert sock.stat().st_mode & 0o777 == 0o700  # the same socket, the same mode
    assert psutil.Process(superd).net_connections(kind="inet") == []  # no port of its own
    wait_for(lambda: f"started under {superd}" in log_text(tmp_path, "ticker.out"), "log")
    wait_for(lambda: f"{superd} PROCESS_STATE_RUNNING ticker" in events.read_text(), "an event")
    # The same files, appended to: not truncated, not renamed away.
    assert (tmp_path / "log/ticker.out").stat().st_ino == ticker_inode
    assert log_text(tmp_path, "ticker.out").startswith(ticker_log)
    assert log_text(tmp_path, "supervisord.log").startswith(main_log)
    superd_lines = log_text(tmp_path, "supervisord.log")[len(main_log) :].splitlines()
    assert superd_lines
    assert all(LOG_LINE.match(line) for line in superd_lines), superd_lines
    # AUTO logs: supervisord's names, in the same directory.
    auto = re.compile(r"log/(ticker|quiet|listener)-std(out|err)---supervisor-\S+\.log")
    assert any(auto.fullmatch(name) and "quiet-stdout" in name for name in files_under(tmp_path))
    # supervisord's AUTO logs of the last run are removed at start, as supervisord does.
    assert not {name for name in before if auto.fullmatch(name)} & files_under(tmp_path)
    # What superd adds: its children record next to the pidfile (0600) and the journal.
    children = tmp_path / "supervisord.pid.children"
    wait_for(children.exists, "the children record")
    assert children.stat().st_mode & 0o777 == 0o600
    journal = re.search(r"journal: (\S+) \(next serial", "\n".join(superd_lines))
    assert journal is not None
    assert Path(journal.group(1)) == tmp_path / "log/superd-journal.sqlite3"
    assert (tmp_path / "log/superd-journal.sqlite3").stat().st_mode & 0o777 == 0o600
    wait_for((tmp_path / "log/superd-journal.sqlite3-wal").exists, "the journal's WAL")
    superd_auto = {name for name in files_under(tmp_path) if auto.fullmatch(name)}

    shutdown(config, superd)
    assert pidfile(config) is None
    assert not sock.exists()
    assert not children.exists()  # an orderly shutdown leaves no record
    added = files_under(tmp_path) - before
    # Besides the journal (its -wal and -shm are folded in at shutdown), only AUTO logs.
    assert {name for name in added if not auto.fullmatch(name)} == {"log/superd-journal.sqlite3"}
    assert digest(config) == unchanged

    # Going back: supervisord on the same file, with superd's journal in its childlogdir.
    again = start("supervisord", config, started)
    wait_for(lambda: f"started under {again}" in log_text(tmp_path, "ticker.out"), "log")
    wait_for(lambda: f"{again} PROCESS_STATE_RUNNING ticker" in events.read_text(), "an event")
    assert log_text(tmp_path, "ticker.out").startswith(ticker_log + f"started under {superd}\n")
    assert (tmp_path / "log/superd-journal.sqlite3").exists()  # left alone, harmless
    assert not superd_auto & files_under(tmp_path)  # supervisord removes superd's AUTO logs
    shutdown(config, again)


@pytest.mark.parametrize(
    ("running", "second", "refusal"),
    [
        ("supervisord", "superd", "another program is listening on it"),
        ("superd", "supervisord", "Another program is already listening on a port"),
    ],
)
@pytest.mark.parametrize("foreground", [False, True], ids=["daemon", "nodaemon"])
def test_a_second_daemon_on_the_same_file_refuses_and_steals_nothing(
    tmp_path: Path,
    started: list[psutil.Process],
    running: str,
    second: str,
    refusal: str,
    foreground: bool,
) -> None:
    """Started while the other daemon runs on the same socket and pidfile, each refuses
    with exit status 2 and a message naming the cause, before detaching; the socket,
    the pidfile and the running programs stay the first daemon's. superd refuses before
    it clears AUTO logs; supervisord has removed the running daemon's by then."""
    config = operators_config(tmp_path)
    first = start(running, config, started)
    socket_inode = (tmp_path / "supervisor.sock").stat().st_ino
    ticker = int(ctl(config, "pid", "ticker").stdout)
    auto_logs = auto_log_files(tmp_path)
    assert auto_logs
    refused = subprocess.run(
        [require_command(second), *(["-n"] if foreground else []), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refusal in refused.stderr
    if second == "superd":
        assert str(tmp_path / "supervisor.sock") in refused.stderr
        # It refuses before it clears AUTO logs: the running daemon's stay.
        assert auto_log_files(tmp_path) == auto_logs
        assert ctl(config, "tail", "quiet").returncode == 0
    else:
        # supervisord clears them first: the running daemon's logs are gone.
        assert not auto_logs & auto_log_files(tmp_path)
        assert "no log file" in ctl(config, "tail", "quiet").stdout
    assert pidfile(config) == first
    assert (tmp_path / "supervisor.sock").stat().st_ino == socket_inode
    assert ctl(config, "pid").stdout.strip() == str(first)
    assert ctl(config, "pid", "ticker").stdout.strip() == str(ticker)
    assert status(config) == {"ticker": "RUNNING", "quiet": "RUNNING", "listener": "RUNNING"}
    shutdown(config, first)


def journal_rows(path: Path) -> list[tuple[int, str, int | None]]:
    """(serial, type, pid) of every journaled event, read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT serial, type, pid FROM events ORDER BY serial").fetchall()
    return [(int(serial), str(kind), pid) for serial, kind, pid in rows]


def auto_log_files(tmp: Path) -> set[Path]:
    return {path for path in (tmp / "log").iterdir() if AUTO.fullmatch(path.name)}


def test_a_refused_superd_leaves_the_running_superds_journal_alone(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """A second superd refused on the same file never opens the running superd's
    journal: no false SUPERVISOR_DAEMON_START in it, no serial taken from it, so the
    running superd's next events are all journaled."""
    config = operators_config(tmp_path)
    first = start("superd", config, started)
    journal = tmp_path / "log/superd-journal.sqlite3"
    wait_for(lambda: journal_rows(journal), "the first events journaled")
    refused = subprocess.run(
        [require_command("superd"), "-n", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    assert ctl(config, "restart", "ticker").returncode == 0
    ticker = int(ctl(config, "pid", "ticker").stdout)
    wait_for(
        lambda: ticker and any(row[2] == ticker for row in journal_rows(journal)),
        "the restarted ticker journaled",
    )
    rows = journal_rows(journal)
    assert [row[0] for row in rows] == list(range(len(rows)))
    assert [row[2] for row in rows if row[1] == "SUPERVISOR_DAEMON_START"] == [first]
    assert "duplicate serials" not in log_text(tmp_path, "supervisord.log")
    shutdown(config, first)


def test_superd_cannot_see_the_programs_of_a_killed_supervisord(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """After supervisord is SIGKILLed, superd started on its file takes over the stale
    socket and pidfile but knows nothing of supervisord's programs (supervisord keeps no
    record of them): it starts second copies, and the old ones run on, unreported."""
    config = operators_config(tmp_path)
    supervisord = start("supervisord", config, started)
    old_ticker = psutil.Process(int(ctl(config, "pid", "ticker").stdout))
    # Every program of the killed daemon outlives it: the fixture stops them all.
    started.extend(psutil.Process(supervisord).children(recursive=True))
    os.kill(supervisord, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(supervisord)], timeout=10)
    assert (tmp_path / "supervisor.sock").exists()  # stale, as the killed daemon left it

    superd = start("superd", config, started)
    new_ticker = int(ctl(config, "pid", "ticker").stdout)
    assert new_ticker != old_ticker.pid
    assert old_ticker.is_running()
    assert old_ticker.status() != psutil.STATUS_ZOMBIE
    assert "survivor" not in log_text(tmp_path, "supervisord.log")
    shutdown(config, superd)
    assert old_ticker.is_running()  # not superd's: still running after superd stopped


def test_supervisord_ignores_what_superd_adds_to_the_file(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """A file with superd's own settings (``[exporter:prometheus] listen=``,
    ``[exporter:journal]``, ``survivors``, ``subreaper``) still runs under supervisord,
    which ignores them: going back needs no edit. Only superd opens the metrics port."""
    config = operators_config(tmp_path)
    port = free_port()
    text = config.read_text().replace(
        f"childlogdir = {tmp_path / 'log'}\n",
        f"childlogdir = {tmp_path / 'log'}\nsurvivors = adopt\nsubreaper = true\n",
    ) + (
        f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        f"[exporter:journal]\npath = {tmp_path / 'journal.sqlite3'}\n"
    )
    config.write_text(text)

    superd = start("superd", config, started)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert "supervisor_" in response.read().decode()
    assert (tmp_path / "journal.sqlite3").exists()
    shutdown(config, superd)

    supervisord = start("supervisord", config, started)
    assert ctl(config, "pid").stdout.strip() == str(supervisord)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    shutdown(config, supervisord)
