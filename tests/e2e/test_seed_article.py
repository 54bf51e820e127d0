"""The supervisord set-up of a typical how-to article, run against superd as its reader would.

The article (a Chinese blog post on supervisor and superlance) writes
``/etc/supervisord.conf`` with ``[include] files = supervisord.d/*.ini``, one
program ini with ``#`` comments and ``redirect_stderr``, one event listener ini
subscribed to ``PROCESS_STATE_EXITED,PROCESS_STATE_FATAL,TICK_5`` that mails, turns on
the web page with a password, and then runs ``supervisorctl status/stop/start/
restart/reload``, opens the web page and ``kill -9``s the program to see it come back
and the mail arrive. Here the same steps run against superd, in daemon mode (as the
article starts it) and with ``-n``, with the real supervisorctl and superlance.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.e2e.listeners.harness import HERE
from tests.integration.superd_harness import wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SLOTS = "import time\nprint('slots server up', flush=True)\nwhile True:\n    time.sleep(1)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_article_files(tmp: Path, port: int, *, nodaemon: bool) -> Path:
    """The article's main config, its two include files and the program; returns the main file."""
    (tmp / "supervisord.d").mkdir()
    (tmp / "stdlog").mkdir()
    (tmp / "slots_server.py").write_text(SLOTS)
    main = tmp / "supervisord.conf"
    main.write_text(
        "; Sample supervisor config file.\n\n"
        f"[unix_http_server]\nfile={tmp}/supervisor.sock   ; (the path to the socket file)\n"
        ";chmod=0700                 ; sockef file mode (default 0700)\n\n"
        f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=user\npassword=123\n\n"
        f"[supervisord]\nlogfile={tmp}/supervisord.log  ; (main log file)\n"
        "logfile_maxbytes=50MB       ; (max main logfile bytes b4 rotation;default 50MB)\n"
        "logfile_backups=10          ; (num of main logfile rotation backups;default 10)\n"
        "loglevel=info               ; (log level;default info; others: debug,warn,trace)\n"
        f"pidfile={tmp}/supervisord.pid ; (supervisord pidfile;default supervisord.pid)\n"
        f"nodaemon={'true' if nodaemon else 'false'}  ; (start in foreground if true)\n"
        "minfds=1024                 ; (min. avail startup file descriptors;default 1024)\n"
        "minprocs=200                ; (min. avail process descriptors;default 200)\n"
        f"childlogdir={tmp}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl=unix://{tmp}/supervisor.sock ; use a unix:// URL\n\n"
        "[include]\nfiles = supervisord.d/*.ini\n"
    )
    (tmp / "supervisord.d" / "slots.ini").write_text(
        "#项目名\n[program:slots]\n#脚本目录\n"
        f"directory={tmp}\n#脚本执行命令\ncommand={sys.executable} {tmp}/slots_server.py\n\n"
        "autostart=true\nautorestart=true\nstartsecs=1\n\n#脚本运行的用户身份 \nuser = root\n\n"
        "stopsignal=TERM\n\n#日志输出 \n"
        f"stderr_logfile={tmp}/stdlog/blog_stderr.log \n"
        f"stdout_logfile={tmp}/stdlog/blog_stdout.log \n"
        "redirect_stderr = true\nstdout_logfile_maxbytes = 50MB\nstdout_logfile_backups = 10\n"
    )
    sendmail = f"{sys.executable} {HERE / 'sendmail_stub.py'} {tmp / 'mail'}"
    (tmp / "supervisord.d" / "listener.ini").write_text(
        "[eventlistener:supervisor-event-listener]\n"
        f"command={require_command('crashmail')} -a -m ops@example.com -s '{sendmail}'\n"
        "events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL,TICK_5\n"
        f"stdout_logfile={tmp}/listener_stdout.log\nstderr_logfile={tmp}/listener_stderr.log\n"
        "user=root\n"
    )
    return main


def ctl(main: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_command("supervisorctl"), "-c", str(main), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status(main: Path) -> dict[str, tuple[str, int]]:
    """name -> (state, pid) from ``supervisorctl status``."""
    result: dict[str, tuple[str, int]] = {}
    for line in ctl(main, "status").stdout.splitlines():
        fields = line.split()
        pid = int(fields[3].rstrip(",")) if len(fields) > 3 and fields[2] == "pid" else 0
        result[fields[0]] = (fields[1], pid)
    return result


def slots_pid(main: Path) -> int:
    state, pid = status(main).get("slots", ("", 0))
    return pid if state == "RUNNING" else 0


@pytest.mark.parametrize("mode", ["daemon", "-n"])
def test_the_articles_setup_and_commands(tmp_path: Path, mode: str) -> None:
    """status/stop/start/restart/reload, the web page, kill -9 and the crash mail all work."""
    port = free_port()
    main = write_article_files(tmp_path, port, nodaemon=mode == "-n")
    out = (tmp_path / "superd.out").open("wb")
    launcher = subprocess.Popen(
        [require_command("superd"), "-c", str(main)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    try:
        if mode == "daemon":
            assert launcher.wait(timeout=30) == 0
        pid = wait_for(lambda: int((tmp_path / "supervisord.pid").read_text()), "pidfile")
        first = wait_for(lambda: slots_pid(main), "slots RUNNING")
        listener = status(main)["supervisor-event-listener"]
        assert listener[0] == "RUNNING"

        assert ctl(main, "stop", "slots").stdout == "slots: stopped\n"
        assert ctl(main, "start", "slots").stdout == "slots: started\n"
        assert ctl(main, "restart", "slots").stdout == "slots: stopped\nslots: started\n"
        stop_all = ctl(main, "stop", "all").stdout.splitlines()
        assert sorted(stop_all) == ["slots: stopped", "supervisor-event-listener: stopped"]
        start_all = ctl(main, "start", "all").stdout.splitlines()
        assert sorted(start_all) == ["slots: started", "supervisor-event-listener: started"]
        assert "slots server up" in (tmp_path / "stdlog" / "blog_stdout.log").read_text()

        request = urllib.request.Request(f"http://127.0.0.1:{port}/")
        request.add_header("Authorization", "Basic " + base64.b64encode(b"user:123").decode())
        with urllib.request.urlopen(request, timeout=30) as page:
            html = page.read().decode()
        assert page.status == 200
        assert "slots" in html
        assert "supervisor-event-listener" in html
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        assert denied.value.code == 401
        denied.value.close()

        assert ctl(main, "reload").stdout == "Restarted supervisord\n"
        before = wait_for(lambda: slots_pid(main), "slots RUNNING after the reload")
        assert before != first
        os.kill(before, signal.SIGKILL)  # the article's kill -9
        after = wait_for(lambda: slots_pid(main) not in (0, before) and slots_pid(main), "back")
        assert after != before
        mail = wait_for(
            lambda: (tmp_path / "mail").exists() and (tmp_path / "mail").read_text(),
            "crashmail's mail",
            deadline=60,
        )
        assert f"Process slots in group slots exited unexpectedly (pid {before})" in mail
        assert int((tmp_path / "supervisord.pid").read_text()) == pid  # the same daemon

        assert ctl(main, "shutdown").stdout == "Shut down\n"
        if mode == "-n":
            assert launcher.wait(timeout=30) == 0  # our child: reaped here
        else:
            wait_for(lambda: not psutil.pid_exists(pid), "superd to exit")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=30)
        pidfile = tmp_path / "supervisord.pid"
        if pidfile.exists():
            daemon = int(pidfile.read_text())
            if psutil.pid_exists(daemon):
                os.kill(daemon, signal.SIGKILL)
