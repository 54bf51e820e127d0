"""Daemon mode (no ``-n``) started as supervisord users start it: ``cd DIR && superd -c FILE``.

The real supervisord is the reference for what a relative ``-c`` means after
daemonizing; the real supervisorctl is the client. Both daemons detach, so each is
found through its pidfile and stopped through ``supervisorctl shutdown``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.superd_harness import Superd, base_config, program_section, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

RPC = (
    "[rpcinterface:supervisor]\n"
    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
)


def daemon_config(tmp: Path, *programs: str) -> str:
    """A daemon-mode config (nodaemon=false) both daemons accept, with these programs."""
    return (
        base_config(tmp, nodaemon=False)
        + RPC
        + "".join(program_section(name, tmp, priority=i + 1) for i, name in enumerate(programs))
    )


def ctl(config: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real supervisorctl, non-interactive."""
    return subprocess.run(
        [require_command("supervisorctl"), "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def pidfile_pid(tmp: Path) -> int | None:
    try:
        return int((tmp / "superd.pid").read_text())
    except (OSError, ValueError):
        return None


def process_states(config: Path) -> dict[str, str]:
    """name -> state from ``supervisorctl status`` (the way an operator reads it)."""
    out = ctl(config, "status").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


@contextlib.contextmanager
def daemonized(kind: str, tmp: Path, text: str) -> Iterator[Path]:
    """Start ``kind`` from ``tmp`` with the relative ``-c supervisord.conf``; yield the config.

    The launcher must exit 0 (the daemon detached); on the way out the daemon is shut
    down through supervisorctl, or killed by its pid if that fails.
    """
    config = tmp / "supervisord.conf"
    if kind == "superd":
        launcher = Superd(tmp, text, cwd=tmp)
        assert launcher.wait_exit() == 0, launcher.stderr_text()
    else:
        config.write_text(text)
        result = subprocess.run(
            [require_command("supervisord"), "-c", "supervisord.conf"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    pid = wait_for(lambda: pidfile_pid(tmp), f"{kind} wrote its pidfile")
    try:
        yield config
    finally:
        ctl(config, "shutdown")
        with contextlib.suppress(psutil.NoSuchProcess):
            daemon = psutil.Process(pid)
            _, alive = psutil.wait_procs([daemon], timeout=20)
            for process in alive:
                os.kill(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["supervisord", "superd"])
def test_relative_config_rereads_and_reloads_after_daemonizing(tmp_path: Path, kind: str) -> None:
    """With a relative ``-c`` and no ``-n``, reread sees a changed file and reload applies it."""
    with daemonized(kind, tmp_path, daemon_config(tmp_path, "a")) as config:
        wait_for(lambda: process_states(config) == {"a": "RUNNING"}, "a RUNNING")
        config.write_text(daemon_config(tmp_path, "a", "b"))
        reread = ctl(config, "reread")
        assert (reread.returncode, reread.stdout) == (0, "b: available\n")
        reload = ctl(config, "reload")
        assert (reload.returncode, reload.stdout) == (0, "Restarted supervisord\n")
        wait_for(
            lambda: process_states(config) == {"a": "RUNNING", "b": "RUNNING"},
            "a and b RUNNING after the reload",
        )
        # Where children start without directory=: supervisord does not chdir when it
        # daemonizes, superd goes to / (docs/compatibility.md).
        child = int(ctl(config, "pid", "a").stdout)
        assert psutil.Process(child).cwd() == ("/" if kind == "superd" else str(tmp_path))


def test_reload_that_cannot_read_the_config_fails_loudly(tmp_path: Path) -> None:
    """A reload whose file is gone or broken: CANT_REREAD, exit 1, CRIT logged, nothing changed."""
    with daemonized("superd", tmp_path, daemon_config(tmp_path, "a")) as config:
        wait_for(lambda: process_states(config) == {"a": "RUNNING"}, "a RUNNING")
        pid_a = ctl(config, "pid", "a").stdout.strip()
        kept = tmp_path / "kept.conf"
        config.rename(kept)
        gone = ctl(kept, "reload")
        assert gone.returncode == 1
        assert "CANT_REREAD" in gone.stdout + gone.stderr
        assert "Restarted" not in gone.stdout
        kept.write_text(daemon_config(tmp_path, "a", "b").replace("startsecs = 0", "startsecs = x"))
        config.symlink_to(kept)
        broken = ctl(kept, "reload")
        assert broken.returncode == 1
        assert "CANT_REREAD" in broken.stdout + broken.stderr
        assert "startsecs" in broken.stdout + broken.stderr
        ours = subprocess.run(
            [require_command("superctl"), "-c", str(kept), "reload"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ours.returncode == 1
        assert ours.stdout.startswith("ERROR: CANT_REREAD: ")
        assert "startsecs" in ours.stdout
        os.kill(int((tmp_path / "superd.pid").read_text()), signal.SIGHUP)
        wait_for(
            lambda: (tmp_path / "main.log").read_text().count("restart refused") == 4,
            "the HUP refused in the main log",
        )
        reread = ctl(kept, "reread")
        assert reread.returncode != 0
        assert reread.stdout.startswith("ERROR: CANT_REREAD:")

        log = (tmp_path / "main.log").read_text()
        assert log.count(" CRIT restart refused") == 4, log
        assert process_states(kept) == {"a": "RUNNING"}
        assert ctl(kept, "pid", "a").stdout.strip() == pid_a
