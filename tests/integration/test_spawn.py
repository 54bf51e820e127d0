"""PopenSpawner with real children: environment, errors, pidfd exit, signals, stdin, fds."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pwd
import resource
import shlex
import signal
import socket
import sys
from pathlib import Path

import psutil
import pytest

from supervisor_core import spawn as spawn_module
from supervisor_core.config.model import ProcessConfig, ProgramKind
from supervisor_core.spawn import (
    PRIVATE_TABLE_ABOVE_FDS,
    ChildHandle,
    PopenChild,
    PopenSpawner,
    SpawnError,
    SpawnRequest,
    child_environment,
    decode_exit,
    decode_wait_status,
    resolve_user,
)
from tests.peers import require_root

pytestmark = pytest.mark.integration

PY = sys.executable
WAIT = 20.0  # generous bound for a loaded 2-core machine; tests await events, never sleep


def py(code: str) -> str:
    """A command line running ``code`` with this interpreter."""
    return f"{PY} -c {shlex.quote(code)}"


def request(command: str, **kwargs: object) -> SpawnRequest:
    return SpawnRequest(name="proc", group_name="grp", command=command, **kwargs)  # type: ignore[arg-type]


async def read_all(fd: int) -> bytes:
    """Read a non-blocking pipe to EOF through the loop, then close it."""
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    done = loop.create_future()

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            chunks.append(data)
        else:
            loop.remove_reader(fd)
            done.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        await asyncio.wait_for(done, WAIT)
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return b"".join(chunks)


async def run(req: SpawnRequest) -> tuple[int, bytes, bytes]:
    """Spawn, collect both outputs and the exit code."""
    child = PopenSpawner().spawn(req)
    out_fd, err_fd = child.take_output()
    assert out_fd is not None
    out = await read_all(out_fd)
    err = await read_all(err_fd) if err_fd is not None else b""
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    child.close()
    return status.returncode, out, err


REPORT = py(
    "import json, os; u = os.umask(0); "
    "print(json.dumps({'cwd': os.getcwd(), 'umask': u, 'env': dict(os.environ), "
    "'pgid': os.getpgid(0), 'pid': os.getpid(), 'fds': sorted(os.listdir('/proc/self/fd'))}))"
)


async def test_environment_cwd_umask_and_group(tmp_path: Path) -> None:
    """The child runs in directory=, with umask=, its own process group and supervisord's env."""
    req = request(
        REPORT,
        directory=str(tmp_path),
        umask=0o027,
        environment={"FOO": "bar", "SUPERVISOR_GROUP_NAME": "overridden"},
        base_environment={"PATH": os.environ["PATH"], "BASE": "1"},
        serverurl="unix:///tmp/superd.sock",
    )
    code, out, _ = await run(req)
    assert code == 0
    report = json.loads(out)
    assert report["cwd"] == str(tmp_path)
    assert report["umask"] == 0o027
    assert report["pgid"] == report["pid"]
    env = report["env"]
    assert env["BASE"] == "1"
    assert env["FOO"] == "bar"
    assert env["SUPERVISOR_ENABLED"] == "1"
    assert env["SUPERVISOR_PROCESS_NAME"] == "proc"
    # The program's environment= wins over the SUPERVISOR_* variables, as in supervisord.
    assert env["SUPERVISOR_GROUP_NAME"] == "overridden"
    assert env["SUPERVISOR_SERVER_URL"] == "unix:///tmp/superd.sock"
    # close_fds: only 0, 1, 2 (and the fd listdir itself opened) reach the child.
    assert len(report["fds"]) <= 4


async def test_no_serverurl_means_no_variable() -> None:
    """Without a server URL SUPERVISOR_SERVER_URL is not set at all."""
    code, out, _ = await run(request(REPORT, base_environment={"PATH": os.environ["PATH"]}))
    assert code == 0
    assert "SUPERVISOR_SERVER_URL" not in json.loads(out)["env"]


async def test_relative_command_found_on_the_childs_path(tmp_path: Path) -> None:
    """A bare program name is looked up on the PATH of the program's environment=."""
    script = tmp_path / "hello-prog"
    script.write_text(f"#!{PY}\nprint('found me')\n")
    script.chmod(0o755)
    req = request("hello-prog", environment={"PATH": str(tmp_path)})
    code, out, _ = await run(req)
    assert (code, out) == (0, b"found me\n")


def test_from_config_maps_options() -> None:
    """from_config carries the options over; AUTO serverurl falls back to superd's URL."""
    config = ProcessConfig(
        name="web_0",
        program_name="web",
        group_name="web",
        command="sleep 1",
        directory="/tmp",
        umask=0o077,
        redirect_stderr=True,
        environment={"A": "1"},
    )
    req = SpawnRequest.from_config(config, serverurl="http://127.0.0.1:9001")
    assert (req.name, req.group_name, req.directory, req.umask) == ("web_0", "web", "/tmp", 0o077)
    assert req.redirect_stderr
    assert req.serverurl == "http://127.0.0.1:9001"
    listener = ProcessConfig(
        name="l",
        program_name="l",
        group_name="l",
        command="x",
        kind=ProgramKind.EVENTLISTENER,
        redirect_stderr=True,
        serverurl="http://other",
    )
    listener_req = SpawnRequest.from_config(listener, serverurl="http://127.0.0.1:9001")
    assert not listener_req.redirect_stderr  # listeners always keep stderr apart
    assert listener_req.serverurl == "http://other"


@pytest.fixture
def not_executable(tmp_path: Path) -> Path:
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\necho hi\n")
    path.chmod(0o644)
    return path


async def test_spawn_errors_use_supervisord_texts(tmp_path: Path, not_executable: Path) -> None:
    """Bad commands and directories raise SpawnError with supervisord's spawnerr text."""
    cases = {
        "no-such-program-xyz": "can't find command 'no-such-program-xyz'",
        str(tmp_path / "missing"): f"can't find command '{tmp_path / 'missing'}'",
        str(not_executable): f"command at '{not_executable}' is not executable",
        str(tmp_path): f"command at '{tmp_path}' is a directory",
        "": "command is empty",
        "echo 'unterminated": "can't parse command \"echo 'unterminated\": No closing quotation",
    }
    spawner = PopenSpawner()
    for command, message in cases.items():
        with pytest.raises(SpawnError) as caught:
            spawner.spawn(request(command))
        assert caught.value.message == message
    with pytest.raises(SpawnError) as caught:
        spawner.spawn(request("true", directory=str(tmp_path / "nowhere")))
    assert caught.value.message == f"couldn't chdir to {tmp_path / 'nowhere'}: ENOENT"
    with pytest.raises(SpawnError) as caught:
        spawner.spawn(request("true", directory=str(not_executable)))
    assert caught.value.message == f"couldn't chdir to {not_executable}: ENOTDIR"


async def test_exec_format_error(tmp_path: Path) -> None:
    """An executable file the kernel cannot run fails with supervisord's couldn't-exec text."""
    path = tmp_path / "garbage"
    path.write_bytes(b"\x00\x01\x02 not a program")
    path.chmod(0o755)
    with pytest.raises(SpawnError) as caught:
        PopenSpawner().spawn(request(str(path)))
    assert caught.value.message == f"couldn't exec {path}: ENOEXEC"


def test_unknown_user_is_a_spawn_error() -> None:
    """A user that does not exist fails with supervisord's drop_privileges reason."""
    with pytest.raises(SpawnError) as caught:
        resolve_user("no-such-user-xyz")
    assert caught.value.message == (
        "couldn't setuid to no-such-user-xyz: Can't find username 'no-such-user-xyz'"
    )
    assert resolve_user(str(os.getuid())) is None  # already that user: nothing to do


@pytest.mark.skipif(os.getuid() == 0, reason="needs a non-root user to see the refusal")
def test_nonroot_cannot_switch_user() -> None:
    """As non-root, switching to another user is refused with supervisord's message."""
    with pytest.raises(SpawnError, match="Can't drop privilege as nonroot user"):
        resolve_user("root")


@pytest.mark.root
async def test_user_switch_to_nobody() -> None:
    """user=nobody runs the child with nobody's uid, primary gid and groups; HOME is kept."""
    require_root("switching users")
    nobody = pwd.getpwnam("nobody")
    # /bin/sh, not this venv's python: nobody may not be allowed into the venv's home.
    code, out, _ = await run(
        request(
            "/bin/sh -c 'id -u; id -g; id -G; echo $HOME'",
            user="nobody",
            base_environment={"PATH": "/usr/bin:/bin", "HOME": "/root"},
        )
    )
    assert code == 0
    uid, gid, groups, home = out.decode().splitlines()
    assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)
    assert str(nobody.pw_gid) in groups.split()
    assert "0" not in groups.split()
    assert home == "/root"  # supervisord does not change HOME/USER for user=


async def test_exit_code_and_callback() -> None:
    """The exit is noticed through the pidfd and reported to callbacks and waiters."""
    child = PopenSpawner().spawn(request(py("raise SystemExit(7)")))
    assert isinstance(child, ChildHandle)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    child.add_exit_callback(lambda status: seen.set_result(status.returncode))
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    assert (status.returncode, status.exitcode, status.signal) == (7, 7, None)
    assert await asyncio.wait_for(seen, WAIT) == 7
    assert child.returncode == 7
    assert status.describe() == "exit status 7"
    late: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    child.add_exit_callback(lambda s: late.set_result(s.returncode))
    assert await asyncio.wait_for(late, WAIT) == 7
    child.close()


async def test_signal_to_process(tmp_path: Path) -> None:
    """send_signal reaches the child; the exit reports the signal."""
    child = PopenSpawner().spawn(
        request(py("import sys,time; print('up', flush=True); time.sleep(60)"))
    )
    out_fd, err_fd = child.take_output()
    assert out_fd is not None
    assert err_fd is not None
    os.close(err_fd)
    await _wait_line(out_fd)
    child.send_signal(signal.SIGTERM)
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    assert (status.returncode, status.signal, status.exitcode) == (-15, signal.SIGTERM, None)
    assert status.describe() == "terminated by SIGTERM"
    with pytest.raises(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    os.close(out_fd)
    child.close()


async def _wait_line(fd: int) -> bytes:
    """Wait until the child wrote a full line on ``fd`` (keeps the fd open)."""
    loop = asyncio.get_running_loop()
    buffer = bytearray()
    done = loop.create_future()

    def on_readable() -> None:
        try:
            buffer.extend(os.read(fd, 4096))
        except BlockingIOError:
            return
        if b"\n" in buffer and not done.done():
            done.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        await asyncio.wait_for(done, WAIT)
    finally:
        loop.remove_reader(fd)
    return bytes(buffer)


GRANDPARENT = py(
    "import subprocess, sys, time\n"
    f"g = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])\n"
    "print(g.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.parametrize("to_group", [True, False])
async def test_signal_to_group_reaches_grandchild(to_group: bool) -> None:
    """With to_group the grandchild dies too; without it only the child does."""
    child = PopenSpawner().spawn(request(GRANDPARENT, redirect_stderr=True))
    out_fd, err_fd = child.take_output()
    assert out_fd is not None
    assert err_fd is None
    grandchild = psutil.Process(int(await _wait_line(out_fd)))
    try:
        child.send_signal(signal.SIGKILL, to_group=to_group)
        status = await asyncio.wait_for(child.wait_exited(), WAIT)
        assert status.signal == signal.SIGKILL
        if to_group:
            # The grandchild held our stdout pipe: EOF proves it is gone too.
            assert await read_all(out_fd) == b""
            # EOF can come a moment before the kernel finishes tearing the grandchild
            # down: await its end (bounded) rather than sampling its status once.
            gone, _alive = await asyncio.to_thread(psutil.wait_procs, [grandchild], WAIT)
            assert gone == [grandchild]
        else:
            assert grandchild.is_running()
            assert grandchild.status() != psutil.STATUS_ZOMBIE
            os.close(out_fd)
    finally:
        if grandchild.is_running():
            grandchild.kill()
        child.close()


async def test_stdin_round_trip_with_backpressure() -> None:
    """stdin writes larger than the pipe are queued and delivered without blocking the loop."""
    child = PopenSpawner().spawn(
        request(
            py(
                "import sys, hashlib; d = sys.stdin.buffer.read(); "
                "print(len(d), hashlib.sha256(d).hexdigest())"
            )
        )
    )
    assert isinstance(child, PopenChild)
    out_fd, err_fd = child.take_output()
    assert out_fd is not None
    assert err_fd is not None
    os.close(err_fd)
    payload = os.urandom(3 * 1024 * 1024)
    child.write_stdin(payload[:1000])
    child.write_stdin(payload[1000:])
    assert child.stdin_pending > 0  # more than a pipe holds: the rest waits for the loop
    await asyncio.wait_for(child.wait_stdin_drained(), WAIT)
    assert child.stdin_pending == 0
    child.close_stdin()
    out = await read_all(out_fd)

    assert out.split() == [str(len(payload)).encode(), hashlib.sha256(payload).hexdigest().encode()]
    await asyncio.wait_for(child.wait_exited(), WAIT)
    with pytest.raises(BrokenPipeError):
        child.write_stdin(b"late")
    child.close()


async def test_write_to_exited_child_stdin_is_broken_pipe() -> None:
    """Writing to a child that closed its stdin raises BrokenPipeError and closes our end."""
    child = PopenSpawner().spawn(request(py("import os; os.close(0)")))
    await asyncio.wait_for(child.wait_exited(), WAIT)
    with pytest.raises(BrokenPipeError):
        child.write_stdin(b"x")
    with pytest.raises(BrokenPipeError):
        child.write_stdin(b"again")
    child.close()


async def test_stdin_fd_and_pass_fds(tmp_path: Path) -> None:
    """An fcgi-style socket becomes the child's fd 0; pass_fds survive under their numbers."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "fcgi.sock"))
    listener.listen()
    extra_r, extra_w = os.pipe()
    os.write(extra_w, b"hello")
    code_text = (
        "import os, stat, sys; "
        "print(stat.S_ISSOCK(os.fstat(0).st_mode), os.read(int(sys.argv[1]), 5))"
    )
    try:
        code, out, _ = await run(
            request(f"{py(code_text)} {extra_r}", stdin_fd=listener.fileno(), pass_fds=(extra_r,))
        )
    finally:
        listener.close()
        os.close(extra_r)
        os.close(extra_w)
    assert code == 0
    assert out == b"True b'hello'\n"


async def test_redirect_stderr_merges_into_stdout() -> None:
    """With redirect_stderr, stderr arrives on the stdout pipe and there is no stderr pipe."""
    code, out, err = await run(
        request(
            py("import sys; print('o', flush=True); print('e', file=sys.stderr)"),
            redirect_stderr=True,
        )
    )
    assert (code, out, err) == (0, b"o\ne\n", b"")


def test_decode_helpers() -> None:
    """Return codes and raw wait statuses decode to exit code, signal and core flag."""
    assert decode_exit(3) == (3, None, False)
    assert decode_exit(-9) == (None, 9, False)
    core = decode_wait_status(signal.SIGSEGV | 0x80)
    assert (core.signal, core.core_dumped, core.returncode) == (signal.SIGSEGV, True, -11)
    assert core.describe() == "terminated by SIGSEGV (core dumped)"
    assert decode_wait_status(2 << 8).exitcode == 2


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_no_fd_leak_over_many_cycles() -> None:
    """200 spawn/exit cycles leave the parent with exactly the fds it started with."""
    spawner = PopenSpawner()
    true = "true"  # found on PATH, which also exercises the lookup each time
    # Warm up once so lazily created loop/selector fds are not counted as leaks.
    child = spawner.spawn(request(true))
    await asyncio.wait_for(child.wait_exited(), WAIT)
    child.close()
    before = _fd_count()
    for _ in range(200):
        child = spawner.spawn(request(true))
        await asyncio.wait_for(child.wait_exited(), WAIT)
        child.close()
    assert _fd_count() == before


# --------------------------------------------------------------------------- posix_spawn path

PATH_REPORT = py(
    "import json, os; u = os.umask(0); "
    "print(json.dumps({'cwd': os.getcwd(), 'umask': u, 'env': dict(os.environ), "
    "'pgid': os.getpgid(0), 'sid': os.getsid(0), 'pid': os.getpid(), "
    "'fds': sorted(int(fd) for fd in os.listdir('/proc/self/fd'))}))"
)


async def _output(spawner: PopenSpawner, req: SpawnRequest) -> tuple[str, bytes]:
    child = spawner.spawn(req)
    assert isinstance(child, PopenChild)
    out_fd, err_fd = child.take_output()
    assert out_fd is not None
    out = await read_all(out_fd)
    if err_fd is not None:
        await read_all(err_fd)
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    child.close()
    assert status.returncode == 0
    return child.started_with, out


async def _report(spawner: PopenSpawner, req: SpawnRequest) -> tuple[str, dict[str, object]]:
    via, out = await _output(spawner, req)
    report: dict[str, object] = json.loads(out)
    return via, report


def _mask(*signals: int) -> int:
    return sum(1 << (sig - 1) for sig in signals)


async def test_posix_spawned_child_gets_default_signals_back() -> None:
    """Signals Python ignores (SIGPIPE, SIGXFSZ) are default in a child; the mask is inherited."""
    # grep, not Python: a Python child would ignore SIGPIPE again by itself.
    req = request("grep -E '^Sig(Ign|Blk)' /proc/self/status")
    reports = {}
    for spawner in (PopenSpawner(), PopenSpawner(posix_spawn=False)):
        via, out = await _output(spawner, req)
        fields = dict(line.split(":", 1) for line in out.decode().splitlines())
        reports[via] = {key: int(value, 16) for key, value in fields.items()}
    assert set(reports) == {"posix_spawn", "popen"}
    assert reports["posix_spawn"]["SigBlk"] == reports["popen"]["SigBlk"]
    # glibc's posix_spawn leaves its internal signals 32 and 33 ignored (see spawn.py).
    glibc_internal = _mask(32, 33)
    assert reports["posix_spawn"]["SigIgn"] & ~glibc_internal == reports["popen"]["SigIgn"]
    assert signal.getsignal(signal.SIGPIPE) is signal.SIG_IGN  # this process ignores it
    assert not reports["posix_spawn"]["SigIgn"] & _mask(signal.SIGPIPE, signal.SIGXFSZ)


async def test_posix_spawned_child_is_set_up_like_a_popen_one() -> None:
    """posix_spawn and Popen give a child the same group, session, umask, cwd, env and fds."""
    req = request(PATH_REPORT, environment={"FOO": "bar"}, serverurl="http://127.0.0.1:1")
    via_posix, fast = await _report(PopenSpawner(), req)
    via_popen, slow = await _report(PopenSpawner(posix_spawn=False), req)
    assert (via_posix, via_popen) == ("posix_spawn", "popen")
    for report in (fast, slow):
        assert report["pgid"] == report["pid"]  # its own process group...
        assert report["sid"] == os.getsid(0)  # ...in superd's session, as Popen does
        assert report["cwd"] == os.getcwd()
        # fd 0-2 and the one listdir opened: nothing of this process leaks in.
        assert report["fds"] == [0, 1, 2, 3]
    current = os.umask(0o022)
    os.umask(current)
    assert fast["umask"] == slow["umask"] == current
    assert fast["env"] == slow["env"]
    env = fast["env"]
    assert isinstance(env, dict)
    assert (env["FOO"], env["SUPERVISOR_PROCESS_NAME"]) == ("bar", "proc")
    assert env["SUPERVISOR_SERVER_URL"] == "http://127.0.0.1:1"


async def test_options_posix_spawn_cannot_do_go_through_popen(tmp_path: Path) -> None:
    """directory=, umask= and pass_fds take the Popen path and still apply."""
    spawner = PopenSpawner()
    via, report = await _report(spawner, request(PATH_REPORT, directory=str(tmp_path)))
    assert (via, report["cwd"]) == ("popen", str(tmp_path))
    via, report = await _report(spawner, request(PATH_REPORT, umask=0o077))
    assert (via, report["umask"]) == ("popen", 0o077)
    extra_r, extra_w = os.pipe()
    try:
        via, report = await _report(spawner, request(PATH_REPORT, pass_fds=(extra_r,)))
    finally:
        os.close(extra_r)
        os.close(extra_w)
    assert via == "popen"
    assert extra_r in report["fds"]  # type: ignore[operator]


async def test_fd_inherited_by_superd_stays_out_of_posix_spawned_children() -> None:
    """An inheritable fd superd got from its parent does not reach a child, as close_fds=True."""
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, True)  # as an fd inherited at superd's start would be
    try:
        via, report = await _report(PopenSpawner(), request(PATH_REPORT))
        assert via == "posix_spawn"
        assert read_end not in report["fds"]  # type: ignore[operator]
        assert report["fds"] == [0, 1, 2, 3]
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_stdin_fd_alone_takes_the_posix_spawn_path(tmp_path: Path) -> None:
    """An fcgi socket handed as stdin becomes fd 0 of a posix_spawned child; no stdin pipe."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "fcgi.sock"))
    listener.listen()
    code_text = "import os, stat; print(stat.S_ISSOCK(os.fstat(0).st_mode))"
    try:
        child = PopenSpawner().spawn(request(py(code_text), stdin_fd=listener.fileno()))
        assert isinstance(child, PopenChild)
        out_fd, err_fd = child.take_output()
        assert out_fd is not None
        assert err_fd is not None
        out = await read_all(out_fd)
        await read_all(err_fd)
        status = await asyncio.wait_for(child.wait_exited(), WAIT)
        child.close()
    finally:
        listener.close()
    assert (child.started_with, status.returncode, out) == ("posix_spawn", 0, b"True\n")


async def test_exec_failure_after_the_check_is_a_couldnt_exec_error(tmp_path: Path) -> None:
    """A file that passes the checks but cannot be exec'd (no #!) fails on both paths alike."""
    path = tmp_path / "no-shebang"
    path.write_text("echo hi\n")
    path.chmod(0o755)
    table = PopenSpawner(private_fd_table=True)
    for spawner in (PopenSpawner(), PopenSpawner(posix_spawn=False), table):
        with pytest.raises(SpawnError) as caught:
            spawner.spawn(request(str(path)))
        assert caught.value.message == f"couldn't exec {path}: ENOEXEC"
    table.close()


def test_child_environment_follows_changes_to_superds_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without base_environment a child gets os.environ as it is at that spawn, changes included."""
    req = request("true")
    monkeypatch.setenv("SPAWN_TEST_VARIABLE", "one")
    assert child_environment(req)["SPAWN_TEST_VARIABLE"] == "one"
    monkeypatch.setenv("SPAWN_TEST_VARIABLE", "two")
    first = child_environment(req)
    assert first["SPAWN_TEST_VARIABLE"] == "two"
    first["SPAWN_TEST_VARIABLE"] = "changed by a caller"  # a copy: the next spawn is unaffected
    assert child_environment(req)["SPAWN_TEST_VARIABLE"] == "two"
    monkeypatch.delenv("SPAWN_TEST_VARIABLE")
    assert "SPAWN_TEST_VARIABLE" not in child_environment(req)
    assert child_environment(req) == {
        **os.environ,
        "SUPERVISOR_ENABLED": "1",
        "SUPERVISOR_PROCESS_NAME": "proc",
        "SUPERVISOR_GROUP_NAME": "grp",
    }


async def test_child_stdio_blocks_and_our_pipe_ends_do_not(tmp_path: Path) -> None:
    """The child's stdin/stdout/stderr are blocking and superd's ends are not, on both paths."""
    code_text = "import os; print(*(os.get_blocking(fd) for fd in (0, 1, 2)))"
    for spawner, redirect in (
        (PopenSpawner(), False),
        (PopenSpawner(), True),
        (PopenSpawner(posix_spawn=False), False),
        (PopenSpawner(posix_spawn=False, pipe_size=65536), False),
        (PopenSpawner(private_fd_table=True), False),
        (PopenSpawner(private_fd_table=True, pipe_size=65536), True),
    ):
        child = spawner.spawn(request(py(code_text), redirect_stderr=redirect))
        assert isinstance(child, PopenChild)
        stdin_fd = child._stdin_fd  # our end of the stdin pipe
        assert stdin_fd is not None
        out_fd, err_fd = child.take_output()
        assert out_fd is not None
        ours = [stdin_fd, out_fd] + ([] if err_fd is None else [err_fd])
        assert [os.get_blocking(fd) for fd in ours] == [False] * len(ours)
        assert (err_fd is None) == redirect
        out = await read_all(out_fd)
        if err_fd is not None:
            await read_all(err_fd)
        status = await asyncio.wait_for(child.wait_exited(), WAIT)
        child.close()
        assert (status.returncode, out) == (0, b"True True True\n")


async def test_private_fd_table_child_runs_like_a_direct_one() -> None:
    """A child spawned from the private-fd-table thread gets stdin, stdout and stderr pipes."""
    spawner = PopenSpawner(private_fd_table=True)
    try:
        code_text = (
            "import sys; data = sys.stdin.read(); print(data.upper()); print('e', file=sys.stderr)"
        )
        child = spawner.spawn(request(py(code_text)))
        assert isinstance(child, PopenChild)
        child.write_stdin(b"hello")
        await child.wait_stdin_drained()
        # EOF reaches the child only if no copy of the stdin write end is left behind.
        child.close_stdin()
        out_fd, err_fd = child.take_output()
        assert out_fd is not None
        assert err_fd is not None
        out, err = await asyncio.gather(read_all(out_fd), read_all(err_fd))
        status = await asyncio.wait_for(child.wait_exited(), WAIT)
        child.close()
        redirected = spawner.spawn(request(py("print('one')"), redirect_stderr=True))
        assert isinstance(redirected, PopenChild)
        one_fd, none_fd = redirected.take_output()
        assert one_fd is not None
        one = await read_all(one_fd)
        await asyncio.wait_for(redirected.wait_exited(), WAIT)
        redirected.close()
    finally:
        spawner.close()
    assert (status.returncode, out, err, child.started_with) == (
        0,
        b"HELLO\n",
        b"e\n",
        "posix_spawn",
    )
    assert (one, none_fd, spawner.private_table_spawns) == (b"one\n", None, 2)


async def test_many_fds_move_spawns_to_the_private_table_and_keep_late_fds_out() -> None:
    """Past PRIVATE_TABLE_ABOVE_FDS open fds, children come from the thread's small table.

    An fd made inheritable after that (nothing in superd does it, but a library might)
    then stays out of children, which the direct posix_spawn would pass on.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = PRIVATE_TABLE_ABOVE_FDS + 256
    if hard < needed:
        pytest.skip(f"needs RLIMIT_NOFILE >= {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    spawner = PopenSpawner()
    filler = [os.pipe2(os.O_CLOEXEC) for _ in range(PRIVATE_TABLE_ABOVE_FDS // 2 + 16)]
    try:
        first = spawner.spawn(request("/bin/true"))
        assert spawner.private_table_spawns == 1
        late_r, late_w = os.pipe()
        os.set_inheritable(late_w, True)
        code_text = (
            f"import os\ntry:\n    os.fstat({late_w})\n"
            "except OSError:\n    print('closed')\nelse:\n    print('open')"
        )
        child = spawner.spawn(request(py(code_text)))
        out_fd, _ = child.take_output()
        assert out_fd is not None
        out = await read_all(out_fd)
        status = await asyncio.wait_for(child.wait_exited(), WAIT)
        await asyncio.wait_for(first.wait_exited(), WAIT)
        child.close()
        first.close()
        os.close(late_r)
        os.close(late_w)
    finally:
        spawner.close()
        for pair in filler:
            _close_pair(pair)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (spawner.private_table_spawns, status.returncode, out) == (2, 0, b"closed\n")


def _close_pair(pair: tuple[int, int]) -> None:
    for fd in pair:
        os.close(fd)


async def test_private_fd_table_refused_by_the_kernel_falls_back_to_the_direct_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the thread cannot get its own table (old kernel, sandbox) spawns still work."""
    monkeypatch.setattr(spawn_module, "_SYS_PIDFD_GETFD", -1)  # as without pidfd_getfd: ENOSYS
    spawner = PopenSpawner(private_fd_table=True)
    child = spawner.spawn(request(py("print('direct')")))
    out_fd, _ = child.take_output()
    assert out_fd is not None
    out = await read_all(out_fd)
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    child.close()
    spawner.close()
    assert (out, status.returncode, spawner.private_table_spawns) == (b"direct\n", 0, 0)
