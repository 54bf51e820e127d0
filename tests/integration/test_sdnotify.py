"""sd_notify both ways, over real AF_UNIX datagram sockets and real child processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from supervisor_core.sdnotify import NotifyServer, SystemdNotifier, parse_message
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = pytest.mark.integration

SEND = (
    "import os, socket, sys\n"
    "address = os.environ['NOTIFY_SOCKET']\n"
    "target = '\\0' + address[1:] if address.startswith('@') else address\n"
    "with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:\n"
    "    s.sendto(sys.argv[1].encode(), target)\n"
)


def _run_sender(address: str, message: str) -> int:
    """Run a real child that sends ``message``; returns its pid once it exited."""
    env = {**os.environ, "NOTIFY_SOCKET": address}
    child = subprocess.run([sys.executable, "-c", SEND, message], env=env, timeout=30, check=True)
    assert child.returncode == 0
    return 0


async def test_messages_are_routed_by_the_senders_pid_and_strangers_dropped() -> None:
    """The kernel-stamped sender pid picks the process; an unknown pid's message is dropped."""
    loop = asyncio.get_running_loop()
    server = NotifyServer()
    server.open(loop)
    got: list[Mapping[str, str]] = []
    arrived = asyncio.Event()

    def on_message(fields: Mapping[str, str]) -> None:
        got.append(fields)
        arrived.set()

    try:
        # The registered pid is this test process: we send from a socket of our own.
        server.register(os.getpid(), on_message)
        target = b"\0" + server.address[1:].encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"READY=1\nSTATUS=warming up\nbogus line", target)
        async with asyncio.timeout(10):
            await arrived.wait()
        assert dict(got[0]) == {"READY": "1", "STATUS": "warming up"}
        # A child that is not registered (a grandchild, another program) is refused.
        await asyncio.to_thread(_run_sender, server.address, "READY=1")
        # Datagrams are read in arrival order: once ours (sent after the child exited)
        # is in, the child's has been judged.
        arrived.clear()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"WATCHDOG=1", target)
        async with asyncio.timeout(10):
            await arrived.wait()
        assert [dict(fields) for fields in got[1:]] == [{"WATCHDOG": "1"}]
        assert server.dropped == 1
    finally:
        server.close()


def test_parse_message_keeps_assignments_only() -> None:
    """KEY=VALUE lines are kept (values may hold '='), anything else is dropped."""
    assert dict(parse_message(b"READY=1\nSTATUS=a=b\n\nnot an assignment\nlower=1")) == {
        "READY": "1",
        "STATUS": "a=b",
    }


def test_systemd_notifier_speaks_to_a_path_socket(tmp_path: Path) -> None:
    """superd's client sends READY=1 with a STATUS to a path NOTIFY_SOCKET; inactive without."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(10)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
        notifier.send("READY=1\nSTATUS=3 processes")
        assert listener.recv(4096) == b"READY=1\nSTATUS=3 processes"
    assert SystemdNotifier({}).send("READY=1") is False


def test_superd_reports_ready_then_stopping_to_systemd(tmp_path: Path) -> None:
    """A real superd under a test NOTIFY_SOCKET says READY=1 after its autostarts,
    RELOADING=1 and READY=1 again on SIGHUP, then STOPPING=1 on SIGTERM; its children
    never see superd's NOTIFY_SOCKET."""
    path = str(tmp_path / "systemd-notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(30)
    env_dump = tmp_path / "env.txt"
    text = base_config(tmp_path) + (
        f"[program:child]\ncommand = /bin/sh -c 'env > {env_dump}; exec sleep 100'\nstartsecs = 0\n"
    )
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = path
    try:
        superd = Superd(tmp_path, text)
    finally:
        if old is None:
            os.environ.pop("NOTIFY_SOCKET")
        else:
            os.environ["NOTIFY_SOCKET"] = old
    try:
        ready = listener.recv(4096).decode()
        assert ready.startswith("READY=1\nSTATUS=")
        wait_for(env_dump.exists, "the child's environment")
        wait_for(lambda: "SUPERVISOR_ENABLED" in env_dump.read_text(), "the env dump")
        assert "NOTIFY_SOCKET" not in env_dump.read_text()
        superd.send(__import__("signal").SIGHUP)  # a reload: RELOADING=1, then READY=1 again
        assert listener.recv(4096).decode().startswith("RELOADING=1")
        assert listener.recv(4096).decode().startswith("READY=1\nSTATUS=")
        superd.send(__import__("signal").SIGTERM)
        assert listener.recv(4096).decode().startswith("STOPPING=1")
        assert superd.wait_exit() == 0
    finally:
        superd.close()
        listener.close()


def test_a_notify_program_is_running_only_after_ready(tmp_path: Path) -> None:
    """ready=notify: STARTING until the child sends READY=1 (after 1.5 s), then RUNNING;
    STATUS= text shows in getProcessInfo's description."""
    program = tmp_path / "db.py"
    program.write_text(
        SEND.replace("sys.argv[1]", "'STATUS=loading'")
        + "import time\ntime.sleep(1.5)\n"
        + SEND.replace("sys.argv[1]", "'READY=1\\nSTATUS=accepting connections'")
        + "time.sleep(100)\n"
    )
    text = base_config(tmp_path) + (
        f"[program:db]\ncommand = {sys.executable} {program}\nready = notify\n"
        "ready_timeout = 20\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text)
    try:
        superd.wait_running()
        wait_for(
            lambda: superd.call("getProcessInfo", "db")["description"].endswith("loading"),
            "STATUS=loading",
        )
        assert superd.states() == {"db": "STARTING"}
        wait_for(lambda: superd.states() == {"db": "RUNNING"}, "db RUNNING")
        info = superd.call("getProcessInfo", "db")
        assert info["description"].endswith("accepting connections")
    finally:
        superd.close()


def test_the_shipped_unit_is_type_notify_and_superd_answers_its_watchdog(tmp_path: Path) -> None:
    """deploy/systemd/superd.service runs superd -n as Type=notify with a watchdog, and a
    real superd given WATCHDOG_USEC sends WATCHDOG=1 pings after READY=1."""
    import configparser

    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(Path(__file__).resolve().parents[2] / "deploy/systemd/superd.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert " -n " in f" {service['ExecStart']} "
    assert service["ExecReload"].endswith("kill -HUP $MAINPID")
    assert int(service["WatchdogSec"]) > 0
    path = str(tmp_path / "systemd-notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(30)
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    os.environ.update(NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    try:
        superd = Superd(tmp_path, base_config(tmp_path))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        assert listener.recv(4096).decode().startswith("READY=1")
        assert listener.recv(4096) == b"WATCHDOG=1"
        assert listener.recv(4096) == b"WATCHDOG=1"
    finally:
        superd.close()
        listener.close()
