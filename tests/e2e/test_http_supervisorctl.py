"""The real supervisorctl against our control plane (with a fake control behind it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.http import AuthPolicy, make_app, serving
from tests.peers import require_command
from tests.unit.http.fake_control import FakeControl, make_fake, running

pytestmark = pytest.mark.e2e


@dataclass
class Ctl:
    """Runs supervisorctl against one server URL."""

    exe: str
    config: str
    url: str
    credentials: tuple[str, ...] = ()

    async def __call__(self, *args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            self.exe,
            "-c",
            self.config,
            "-s",
            self.url,
            *self.credentials,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode()


def write(path: str, data: bytes, mode: str = "wb") -> None:
    with open(path, mode) as f:
        f.write(data)


def prepare(tmp_path: Path) -> tuple[FakeControl, str, str]:
    exe = require_command("supervisorctl")
    config = tmp_path / "ctl.conf"
    config.write_text("[supervisorctl]\n")
    fake = make_fake(str(tmp_path))
    running(fake.process("worker"), pid=4321)
    return fake, exe, str(config)


@pytest.fixture
async def over_tcp(tmp_path: Path) -> AsyncIterator[tuple[FakeControl, Ctl]]:
    fake, exe, config = prepare(tmp_path)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0, username="admin", password="pw")
    app = make_app(fake, auth=AuthPolicy.from_configs(unix=None, inet=inet))
    async with serving(app, inet=inet) as bound:
        assert bound.inet is not None
        url = f"http://127.0.0.1:{bound.inet[1]}"
        yield fake, Ctl(exe, config, url, ("-u", "admin", "-p", "pw"))


async def test_status_over_tcp(over_tcp: tuple[FakeControl, Ctl]) -> None:
    """`supervisorctl status` prints every process with its state and description."""
    _, ctl = over_tcp
    code, out = await ctl("status")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "RUNNING" in lines["worker"]
    assert "pid 4321, uptime 0:01:02" in lines["worker"]
    assert "STOPPED" in lines["web:web_0"]
    assert "Not started" in lines["web:web_1"]
    assert "broken" in lines
    assert code == 3  # supervisorctl's status exit code when some process is not running


async def test_commands_over_tcp(over_tcp: tuple[FakeControl, Ctl], tmp_path: Path) -> None:
    """start, stop, signal, pid, version, avail and tail behave as against supervisord."""
    fake, ctl = over_tcp
    assert await ctl("start", "web:*") == (0, "web:web_0: started\nweb:web_1: started\n")
    _, out = await ctl("start", "broken")
    assert "ERROR (abnormal termination)" in out
    assert await ctl("stop", "worker") == (0, "worker: stopped\n")
    _, out = await ctl("stop", "worker")
    assert "ERROR (not running)" in out
    assert await ctl("signal", "HUP", "web:web_0") == (0, "web:web_0: signalled\n")
    assert await ctl("pid") == (0, "4242\n")
    assert (await ctl("version"))[1].strip() == "4.3.0"
    _, out = await ctl("avail")
    assert "extra" in out
    assert "avail" in out
    write(fake.process("worker").stdout_logfile, b"hello from worker\n")
    assert await ctl("tail", "worker") == (0, "hello from worker\n\n")
    _, out = await ctl("start", "nope")
    assert "ERROR (no such process)" in out


async def test_wrong_password_is_refused(over_tcp: tuple[FakeControl, Ctl]) -> None:
    """supervisorctl with a wrong password reports the server's 401."""
    _, ctl = over_tcp
    ctl.credentials = ("-u", "admin", "-p", "wrong")
    _, out = await ctl("status")
    assert "Server requires authentication" in out


async def test_status_over_unix_socket(tmp_path: Path) -> None:
    """`supervisorctl -s unix://...` reaches the same API over the unix socket."""
    fake, exe, config = prepare(tmp_path)
    sock = str(tmp_path / "supervisor.sock")
    async with serving(make_app(fake), unix=UnixHttpServerConfig(file=sock)):
        ctl = Ctl(exe, config, f"unix://{sock}")
        code, out = await ctl("status", "worker")
        assert code == 0
        assert out.split()[:2] == ["worker", "RUNNING"]
        assert "pid 4321" in out
        code, out = await ctl("status")
        assert {line.split()[0] for line in out.splitlines()} == {
            "broken",
            "web:web_0",
            "web:web_1",
            "worker",
        }


async def test_tail_follow_over_logtail(over_tcp: tuple[FakeControl, Ctl]) -> None:
    """`supervisorctl tail -f` streams /logtail: the history first, then appended lines."""
    fake, ctl = over_tcp
    log = fake.process("worker").stdout_logfile
    write(log, b"first line\n")
    process = await asyncio.create_subprocess_exec(
        ctl.exe,
        "-c",
        ctl.config,
        "-s",
        ctl.url,
        *ctl.credentials,
        "tail",
        "-f",
        "worker",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        seen = b""
        while b"first line" not in seen:
            seen += await asyncio.wait_for(process.stdout.readline(), 60)
        write(log, b"second line\n", "ab")
        while b"second line" not in seen:
            seen += await asyncio.wait_for(process.stdout.readline(), 60)
    finally:
        process.terminate()
        await process.wait()
