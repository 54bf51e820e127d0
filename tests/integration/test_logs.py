"""Output capture with real children: bulk output, rotation, capture mode, events, targets."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from supervisor_core.config.model import AUTO, ChannelConfig, ProcessConfig
from supervisor_core.logs import (
    BEGIN_TOKEN,
    END_TOKEN,
    PIPE_SIZE,
    READ_SIZE,
    SPLICE_CHUNK,
    Channel,
    ChannelSettings,
    LogOpenError,
    ProcessOutput,
)
from supervisor_core.spawn import PopenSpawner, SpawnRequest

pytestmark = pytest.mark.integration

WAIT = 60.0
BLOCK = 1 << 20


def py(code: str) -> str:
    """A command line running ``code`` with this interpreter."""
    return f"{sys.executable} -c {shlex.quote(code)}"


async def run_captured(
    command: str, output: ProcessOutput, *, redirect_stderr: bool = False
) -> int:
    """Spawn ``command`` with ``output`` attached; wait for exit and EOF on both pipes."""
    output.open()
    child = PopenSpawner().spawn(
        SpawnRequest(name="p", group_name="p", command=command, redirect_stderr=redirect_stderr)
    )
    output.attach(*child.take_output())
    status = await asyncio.wait_for(child.wait_exited(), WAIT)
    await asyncio.wait_for(output.wait_closed(), WAIT)
    child.close()
    return status.returncode


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def _block(index: int) -> bytes:
    # Deterministic, position-dependent pattern: reordering or loss changes the hash.
    seed = index.to_bytes(4, "big")
    return (seed + bytes(range(252))) * (BLOCK // 256)


BURST = py(
    "import sys\n"
    "out = sys.stdout.buffer\n"
    "for i in range(int(sys.argv[1])):\n"
    "    seed = i.to_bytes(4, 'big')\n"
    "    out.write((seed + bytes(range(252))) * (1048576 // 256))\n"
    "out.flush()\n"
)


@pytest.mark.slow
async def test_200_mb_burst_lands_byte_for_byte_with_rotation(tmp_path: Path) -> None:
    """A 200 MiB burst is logged losslessly; rotated files hold maxbytes plus < one read."""
    blocks = 200
    maxbytes = 64 * BLOCK
    path = tmp_path / "burst.log"
    output = ProcessOutput(
        name="burst",
        stdout=ChannelSettings(logfile=str(path), maxbytes=maxbytes, backups=5),
        stderr=ChannelSettings(),
    )
    assert await run_captured(f"{BURST} {blocks}", output) == 0
    output.close()
    expected = hashlib.sha256()
    for index in range(blocks):
        expected.update(_block(index))
    files = [tmp_path / "burst.log.3", tmp_path / "burst.log.2", tmp_path / "burst.log.1", path]
    assert _names(tmp_path) == sorted(p.name for p in files)
    actual = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(BLOCK * 8):
                actual.update(chunk)
    assert actual.hexdigest() == expected.hexdigest()
    for rotated in files[:-1]:
        assert maxbytes <= rotated.stat().st_size < maxbytes + READ_SIZE
    assert output.bytes_total() == {Channel.STDOUT: blocks * BLOCK, Channel.STDERR: 0}


async def test_stdout_and_stderr_go_to_their_files(tmp_path: Path) -> None:
    """Each channel writes its own log; byte counters follow what was read."""
    output = ProcessOutput(
        name="two",
        stdout=ChannelSettings(logfile=str(tmp_path / "out.log")),
        stderr=ChannelSettings(logfile=str(tmp_path / "err.log")),
    )
    code = await run_captured(
        py("import sys; sys.stdout.write('out\\n'); sys.stderr.write('error!\\n')"), output
    )
    output.close()
    assert code == 0
    assert (tmp_path / "out.log").read_bytes() == b"out\n"
    assert (tmp_path / "err.log").read_bytes() == b"error!\n"
    assert output.bytes_total() == {Channel.STDOUT: 4, Channel.STDERR: 7}


async def test_redirect_stderr_from_config_uses_one_file(tmp_path: Path) -> None:
    """With redirect_stderr both streams land in the stdout log and no stderr log is made."""
    config = ProcessConfig(
        name="merged",
        program_name="merged",
        group_name="merged",
        command="x",
        redirect_stderr=True,
        stdout=ChannelConfig(logfile=AUTO),
        stderr=ChannelConfig(logfile=AUTO),
    )
    output = ProcessOutput.from_config(config, childlogdir=str(tmp_path), identifier="supervisor")
    assert output.logfile(Channel.STDERR) is None
    stdout_log = output.logfile(Channel.STDOUT)
    assert stdout_log is not None
    assert re.fullmatch(r"merged-stdout---supervisor-\w+\.log", os.path.basename(stdout_log))
    code = await run_captured(
        py("import sys; print('a', flush=True); print('b', file=sys.stderr)"),
        output,
        redirect_stderr=True,
    )
    output.close()
    assert code == 0
    assert _read(stdout_log) == b"a\nb\n"
    assert os.listdir(tmp_path) == [os.path.basename(stdout_log)]


CAPTURE_CHILD = py(
    "import os, sys\n"
    "w = lambda b: os.write(1, b)\n"
    f"token_begin, token_end = {BEGIN_TOKEN!r}, {END_TOKEN!r}\n"
    "w(b'before ' + token_begin[:7]); sys.stdin.buffer.readline()\n"
    "w(token_begin[7:] + b'the payload' + token_end[:3]); sys.stdin.buffer.readline()\n"
    "w(token_end[3:] + b' after')\n"
)


async def test_capture_mode_with_tokens_split_across_writes(tmp_path: Path) -> None:
    """Tokens cut across separate reads still produce the communication; it is not logged."""
    communications: list[tuple[Channel, bytes]] = []
    logged: list[bytes] = []
    arrived = asyncio.Event()

    def on_log(channel: Channel, data: bytes) -> None:
        logged.append(data)
        arrived.set()

    output = ProcessOutput(
        name="cap",
        stdout=ChannelSettings(
            logfile=str(tmp_path / "cap.log"), capture_maxbytes=1000, events_enabled=True
        ),
        stderr=ChannelSettings(),
        on_communication=lambda channel, data: communications.append((channel, data)),
        on_log=on_log,
    )
    output.open()
    child = PopenSpawner().spawn(SpawnRequest(name="cap", group_name="cap", command=CAPTURE_CHILD))
    output.attach(*child.take_output())
    # The child waits for a line between its writes, so each piece is a separate read
    # only if we let the loop read before answering: wait for each piece to arrive.
    stdout_log = output.channels[Channel.STDOUT]
    for expected_total in (len(b"before ") + 7, len(b"before ") + len(BEGIN_TOKEN) + 14):
        while stdout_log.bytes_read < expected_total:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), WAIT)
        child.write_stdin(b"go\n")
    await asyncio.wait_for(child.wait_exited(), WAIT)
    await asyncio.wait_for(output.wait_closed(), WAIT)
    child.close()
    output.close()
    assert communications == [(Channel.STDOUT, b"the payload")]
    assert (tmp_path / "cap.log").read_bytes() == b"before  after"
    # PROCESS_LOG events see captured data too, as supervisord emits them.
    assert b"".join(logged) == b"before the payload after"


async def test_events_only_when_enabled(tmp_path: Path) -> None:
    """on_log fires per read chunk for a channel with events enabled, never for others."""
    seen: list[tuple[Channel, bytes]] = []
    output = ProcessOutput(
        name="ev",
        stdout=ChannelSettings(events_enabled=True),
        stderr=ChannelSettings(events_enabled=False),
        on_log=lambda channel, data: seen.append((channel, data)),
    )
    code = await run_captured(
        py("import sys; print('x' * 100000); print('quiet', file=sys.stderr)"), output
    )
    output.close()
    assert code == 0
    assert {channel for channel, _ in seen} == {Channel.STDOUT}
    assert b"".join(data for _, data in seen) == b"x" * 100000 + b"\n"


async def test_strip_ansi_end_to_end(tmp_path: Path) -> None:
    """strip_ansi removes colour codes before they reach the log."""
    output = ProcessOutput(
        name="ansi",
        stdout=ChannelSettings(logfile=str(tmp_path / "ansi.log")),
        stderr=ChannelSettings(),
        strip_ansi=True,
    )
    await run_captured(py("print('\\x1b[31mred\\x1b[0m plain')"), output)
    output.close()
    assert (tmp_path / "ansi.log").read_bytes() == b"red plain\n"


async def test_fifo_target_like_dev_stdout(tmp_path: Path) -> None:
    """A non-seekable target with maxbytes set receives the output without Illegal seek."""
    fifo = tmp_path / "stdout-fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        output = ProcessOutput(
            name="fifo",
            stdout=ChannelSettings(logfile=str(fifo), maxbytes=10, backups=3),
            stderr=ChannelSettings(logfile="/dev/null", maxbytes=10, backups=3),
        )
        code = await run_captured(
            py("import sys; print('through the pipe ' * 3); print('x' * 50, file=sys.stderr)"),
            output,
        )
        output.reopen()
        output.clear()
        output.close()
        assert code == 0
        assert os.read(reader, 1000) == b"through the pipe " * 3 + b"\n"
    finally:
        os.close(reader)
    assert _names(tmp_path) == ["stdout-fifo"]


async def test_write_errors_are_reported_not_raised(tmp_path: Path) -> None:
    """A log target that fails writes (a FIFO with no reader left) drops data and reports once."""
    fifo = tmp_path / "gone"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    errors: list[OSError] = []
    output = ProcessOutput(
        name="broken",
        stdout=ChannelSettings(logfile=str(fifo)),
        stderr=ChannelSettings(),
        on_error=lambda channel, error: errors.append(error),
    )
    output.open()
    os.close(reader)  # now every write raises EPIPE (SIGPIPE is ignored by Python)
    child = PopenSpawner().spawn(
        SpawnRequest(
            name="b", group_name="b", command=py("for i in range(5): print(i, flush=True)")
        )
    )
    output.attach(*child.take_output())
    assert (await asyncio.wait_for(child.wait_exited(), WAIT)).returncode == 0
    await asyncio.wait_for(output.wait_closed(), WAIT)
    child.close()
    log = output.channels[Channel.STDOUT]
    output.close()
    assert len(errors) == 1
    assert isinstance(errors[0], BrokenPipeError)
    assert log.write_errors >= 1
    assert log.bytes_read == 10


async def test_reopen_and_clear(tmp_path: Path) -> None:
    """reopen() follows an external rename; clear() empties the log and keeps backups."""
    path = tmp_path / "app.log"
    output = ProcessOutput(
        name="app",
        stdout=ChannelSettings(logfile=str(path), maxbytes=4, backups=1),
        stderr=ChannelSettings(),
    )
    await run_captured(py("import os; os.write(1, b'first\\n')"), output)
    assert (tmp_path / "app.log.1").read_bytes() == b"first\n"
    path.rename(tmp_path / "renamed.log")
    output.reopen()
    await run_captured(py("import os; os.write(1, b'x')"), output)
    assert path.read_bytes() == b"x"
    output.clear()
    assert path.read_bytes() == b""
    assert (tmp_path / "app.log.1").exists()
    output.close()


async def test_fifo_without_reader_fails_instead_of_hanging(tmp_path: Path) -> None:
    """Opening a FIFO log nobody reads is an ENXIO spawn error, never a hung daemon."""
    fifo = tmp_path / "lonely"
    os.mkfifo(fifo)
    output = ProcessOutput(
        name="lonely", stdout=ChannelSettings(logfile=str(fifo)), stderr=ChannelSettings()
    )
    with pytest.raises(LogOpenError) as caught:
        output.open()
    assert caught.value.message == "unknown error making dispatchers for 'lonely': ENXIO"


async def test_open_failure_has_spawnerr_text(tmp_path: Path) -> None:
    """A log file that cannot be opened gives supervisord's make_dispatchers error."""
    output = ProcessOutput(
        name="nolog",
        stdout=ChannelSettings(logfile=str(tmp_path / "missing-dir" / "x.log")),
        stderr=ChannelSettings(),
    )
    with pytest.raises(LogOpenError) as caught:
        output.open()
    assert caught.value.message == "unknown error making dispatchers for 'nolog': ENOENT"


async def test_output_survives_multiple_runs(tmp_path: Path) -> None:
    """One ProcessOutput serves successive runs, appending to the same log."""
    path = tmp_path / "runs.log"
    output = ProcessOutput(
        name="runs", stdout=ChannelSettings(logfile=str(path)), stderr=ChannelSettings()
    )
    for index in range(3):
        await run_captured(py(f"print({index})"), output)
    output.close()
    assert path.read_bytes() == b"0\n1\n2\n"


async def test_busy_pipe_grows_and_quiet_pipe_does_not(tmp_path: Path) -> None:
    """A pipe that comes back full is grown to PIPE_SIZE once; a one-line channel is left alone."""
    output = ProcessOutput(
        name="grow",
        stdout=ChannelSettings(logfile=str(tmp_path / "out.log")),
        stderr=ChannelSettings(logfile=str(tmp_path / "err.log")),
    )
    code = "import os, sys\nsys.stderr.write('one line\\n')\nos.write(1, b'x' * (8 << 20))\n"
    assert await run_captured(py(code), output) == 0
    stdout_log = output.channels[Channel.STDOUT]
    stderr_log = output.channels[Channel.STDERR]
    output.close()
    assert stdout_log.pipe_size == PIPE_SIZE
    assert stderr_log.pipe_size is None
    assert (tmp_path / "out.log").read_bytes() == b"x" * (8 << 20)
    assert (tmp_path / "err.log").read_bytes() == b"one line\n"
    assert stdout_log.bytes_read == stdout_log.bytes_written == 8 << 20


async def test_pipe_full_of_unaligned_writes_grows(tmp_path: Path) -> None:
    """A pipe filled by 65,500-byte writes (16 pages, 36 bytes short of 64 KiB) is grown."""
    output = ProcessOutput(
        name="unaligned",
        stdout=ChannelSettings(logfile=str(tmp_path / "out.log")),
        stderr=ChannelSettings(),
    )
    code = "import os\nblock = b'y' * 65500\nfor _ in range(256):\n    os.write(1, block)\n"
    assert await run_captured(py(code), output) == 0
    stdout_log = output.channels[Channel.STDOUT]
    output.close()
    assert stdout_log.pipe_size == PIPE_SIZE
    assert (tmp_path / "out.log").read_bytes() == b"y" * (65500 * 256)


async def test_flood_of_small_writes_is_read_in_batches(tmp_path: Path) -> None:
    """100-byte lines written one write() each are read in a few large transfers, not per write."""
    output = ProcessOutput(
        name="lines",
        stdout=ChannelSettings(logfile=str(tmp_path / "out.log")),
        stderr=ChannelSettings(),
    )
    lines = 50_000
    code = (
        f"import os\nline = b'z' * 99 + b'\\n'\nfor _ in range({lines}):\n    os.write(1, line)\n"
    )
    assert await run_captured(py(code), output) == 0
    stdout_log = output.channels[Channel.STDOUT]
    output.close()
    assert (tmp_path / "out.log").read_bytes() == (b"z" * 99 + b"\n") * lines
    # Read as soon as each write lands, a reader gets ~30 lines per wake-up (~1,600
    # transfers here); batched, the pipe fills between wake-ups.
    assert stdout_log.transfers <= lines // 50


async def test_one_wake_up_splices_a_full_grown_pipe_in_chunks(tmp_path: Path) -> None:
    """A wake-up moves up to READ_SIZE from a full 1 MiB pipe, in SPLICE_CHUNK pieces, in order."""
    output = ProcessOutput(
        name="chunks",
        stdout=ChannelSettings(logfile=str(tmp_path / "out.log")),
        stderr=ChannelSettings(),
    )
    output.open()
    log = output.channels[Channel.STDOUT]
    reader, sender = os.pipe()
    fcntl.fcntl(sender, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    data = b"".join(_block(index)[: 100 << 10] for index in range(10))  # 1,000 KiB
    os.write(sender, data)
    os.close(sender)
    loop = asyncio.get_running_loop()
    log.attach(reader, loop=loop)
    log._on_readable()  # one wake-up, as the loop would run it
    moved = log.bytes_read
    await asyncio.wait_for(log.wait_closed(), WAIT)
    output.close()
    assert moved == len(data) > SPLICE_CHUNK
    assert (tmp_path / "out.log").read_bytes() == data
