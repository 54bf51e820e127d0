"""Capturing one process's stdout/stderr: pipe -> (filters) -> log file and callbacks.

Rules of this file:
- Reading is event driven: ``loop.add_reader`` on the non-blocking pipe, one large
  transfer (up to ``READ_SIZE``) per wake-up, so a flood from one child cannot starve
  the loop and a quiet child costs nothing.
- The fast path is pipe -> file inside the kernel (``RotatingFileWriter.splice_from``,
  splice(2)) when nothing needs to see the bytes: a regular log file, no filter, no
  callbacks, no syslog. Otherwise reads go into one reused buffer (``os.readv``; a
  fresh 1 MiB ``os.read`` allocation per chunk costs more than the copy itself) and
  bytes objects are made only for filters and callbacks. ``ChannelFilter`` (capture
  mode, ANSI stripping) only runs when the channel needs it.
- A pipe that comes back (about) full on a read is grown once to ``PIPE_SIZE``
  (F_SETPIPE_SZ), so a chatty child costs one wake-up per MiB, not per 64 KiB; quiet
  pipes keep the kernel's default and count nothing against the user's pipe quota.
- A chatty writer of small chunks is read in batches, not per write: a transfer
  smaller than ``COALESCE_BELOW`` that comes less than ``COALESCE_WINDOW`` after the
  previous one pauses the reader for ``COALESCE_DELAY`` (the pipe keeps filling; it
  is grown once it comes back half full). A quiet program's line is read at once; a
  flood of 100-byte lines costs one wake-up per millisecond instead of one per few
  lines (measured: 7 CPU-seconds per GiB, ``cat``'s 5, for one ``write()`` per line).
  An event listener's stdout (``on_read``) is never paused: its replies pace the
  protocol. ``drain()`` still reads a paused pipe, so nothing waits at an exit.
- ``on_log(channel, data)`` fires per chunk, not per line, exactly where supervisord
  emits PROCESS_LOG_STDOUT/STDERR: once per read (split at capture tokens), only when
  ``*_events_enabled``, with the data after ANSI stripping, including data that
  capture mode diverts from the file.
- The channel that feeds exit events' ``stderr_tail`` (stderr, or stdout with
  ``redirect_stderr``) keeps its last ``TAIL_BYTES`` in a ``TailBuffer`` per read;
  when the pipe is spliced into the log file those bytes never reach user space, so
  the tail is then read back from the end of the file, once, at the exit.
- ``on_communication(channel, data)`` fires once per ``BEGIN ... END`` block, where
  supervisord emits PROCESS_COMMUNICATION_STDOUT/STDERR.
- A failing log write (disk full, closed /dev/stdout reader) never raises into the
  loop: the chunk is dropped and counted (``write_errors``, and the daemon's
  ``FaultCounters`` as ``log_write_errors{stream}``); the first failure of an
  episode is logged, and so is the first write that works again ("resumed").
- ``*_syslog`` output goes line by line to the logger ``CHILD_SYSLOG_LOGGER``
  (``syslog_socket``): what reaches the syslog daemon is the CLI's wiring.
- Opening the log files can fail; ``ProcessOutput.open()`` raises ``LogOpenError``
  with supervisord's spawnerr text, so call it before spawning (supervisord opens
  them in ``make_dispatchers``, before fork).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import fcntl
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from supervisor_core.config.model import ChannelConfig, ProcessConfig
from supervisor_core.health import LOG_WRITE_ERRORS, FaultCounters
from supervisor_core.logs.files import RotatingFileWriter, empty_file, resolve_logfile
from supervisor_core.logs.filters import ChannelFilter, Communication, Output
from supervisor_core.logs.syslog_socket import CHILD_SYSLOG_LOGGER
from supervisor_core.logs.tail import TAIL_BYTES, TailBuffer, last_lines

_log = logging.getLogger(__name__)
# *_syslog=true output: ``NAME LINE`` at INFO; the CLI attaches the syslog handler.
_child_syslog = logging.getLogger(CHILD_SYSLOG_LOGGER)
_SYSLOG_LINE_MAX = 8192

# One read per wake-up. Large enough to drain a 1 MiB pipe in one go; supervisord reads
# 128 KiB.
READ_SIZE = 1 << 20
# What a busy pipe is grown to: the default /proc/sys/fs/pipe-max-size.
PIPE_SIZE = 1 << 20
# One splice(2) call moves at most this much; a wake-up loops up to READ_SIZE.
# Measured on the 2-core VM of bench/RESULTS.md, 1 GiB of 1 MiB writes into a fresh
# superd: one 1 MiB splice per wake-up took 0.8-10 s and 0.4-2.1 CPU s (perf: the
# kernel's memcpy into the page cache), 128 KiB splices 0.9-1.2 s and 0.41-0.44 CPU s
# in every run. Likely cause: the kernel sizes a write's page-cache folios after its
# length, and 1 MiB folios come from the large free blocks the VM's balloon has
# returned to the host, whose first touch faults on the host side; cat and
# supervisord write 128 KiB at a time and never showed it.
SPLICE_CHUNK = 128 << 10
# A transfer at least this large means the pipe was (about) full, so it is grown. Not
# the default capacity (64 KiB): the kernel counts a pipe's capacity in pages (16 by
# default) and a write starts a new page unless its sub-page remainder fits in the last
# one (pipe_write's merge rule), so a full pipe holds 16 x 4,096 bytes only for
# page-multiple writes. 65,500-byte writes (a 64 KiB stdio buffer of text lines) fill
# it at 65,500 bytes and writes of 4,097 bytes at 8 x 4,097 = 32,776: every full
# default pipe holds more than half its capacity.
_GROW_AT = (1 << 16) // 2
# splice(2) errors that mean "not here" (file system or target without splice support).
_NO_SPLICE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV})


class _ReadBuffer:
    """The one buffer every channel reads into (the loop runs one read at a time).

    Allocated on first use: a daemon whose channels all splice never touches it.
    """

    def __init__(self) -> None:
        self._buffer: bytearray | None = None

    def get(self) -> bytearray:
        if self._buffer is None:
            self._buffer = bytearray(READ_SIZE)
        return self._buffer


_READ_BUFFER = _ReadBuffer()
# At most this many reads per drain(): enough for a full pipe, finite for a chatty grandchild.
_DRAIN_READS = 16
# Coalescing of small writes (see the rules above): a transfer below COALESCE_BELOW
# bytes within COALESCE_WINDOW seconds of the previous one pauses reading for
# COALESCE_DELAY seconds. One page: a writer of 4 KiB blocks or more is never paused.
COALESCE_BELOW = 4096
COALESCE_WINDOW = 0.001
COALESCE_DELAY = 0.001


class Channel(enum.StrEnum):
    """An output stream of a child, spelled as supervisord spells it."""

    STDOUT = "stdout"
    STDERR = "stderr"


OnLog = Callable[[Channel, bytes], None]
OnCommunication = Callable[[Channel, bytes], None]
OnError = Callable[[Channel, OSError], None]
OnRead = Callable[[bytes], None]
"""Sees every raw chunk read from a pipe (before filtering); ``b""`` once at EOF."""


class LogOpenError(Exception):
    """A log file could not be opened; ``message`` is supervisord's spawnerr text."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettings:
    """What to do with one channel's output. ``logfile`` is a resolved path or None."""

    logfile: str | None = None
    maxbytes: int = 0
    backups: int = 0
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False

    @classmethod
    def from_config(cls, config: ChannelConfig, logfile: str | None) -> ChannelSettings:
        """Settings from a channel config, with its ``logfile`` already resolved."""
        return cls(
            logfile=logfile,
            maxbytes=config.logfile_maxbytes,
            backups=config.logfile_backups,
            capture_maxbytes=config.capture_maxbytes,
            events_enabled=config.events_enabled,
            syslog=config.syslog,
        )


class ChannelLog:
    """One channel of one process: reads its pipe and routes what it reads."""

    def __init__(
        self,
        channel: Channel,
        settings: ChannelSettings,
        *,
        name: str,
        strip_ansi: bool = False,
        on_log: OnLog | None = None,
        on_communication: OnCommunication | None = None,
        on_error: OnError | None = None,
        on_read: OnRead | None = None,
        keep_tail: bool = False,
        faults: FaultCounters | None = None,
    ) -> None:
        self.channel = channel
        self._faults = faults
        self._dropped_in_episode = 0
        self._tail = TailBuffer() if keep_tail else None
        self._spliced = False  # this run went (partly) pipe -> file inside the kernel
        self._run_start = 0  # bytes_read when this run's pipe was attached
        self._on_read = on_read
        self.settings = settings
        self.name = name
        self._strip_ansi = strip_ansi
        self._on_log = on_log if settings.events_enabled else None
        self._on_communication = on_communication
        self._on_error = on_error
        self._writer: RotatingFileWriter | None = None
        self._filter: ChannelFilter | None = None
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._eof: asyncio.Future[None] | None = None
        self._failing = False
        self._syslog_partial = b""  # the start of a line not yet ended (*_syslog)
        self._splice = True
        self._pipe_grown = False
        self.pipe_size: int | None = None
        """The capacity the current (or last) pipe was grown to; None while never grown."""
        self._last_transfer = -1.0  # loop time of the last transfer (coalescing)
        self._paused: asyncio.TimerHandle | None = None
        self.transfers = 0
        """Reads (or splices) that moved data: wake-ups that did work."""
        self.bytes_read = 0
        """Bytes read from the pipe (before filtering): the log_bytes_total metric."""
        self.bytes_written = 0
        """Bytes written to the log file."""
        self.write_errors = 0
        """Chunks dropped because the log write failed."""

    @property
    def logfile(self) -> str | None:
        """The file this channel writes to, or None."""
        return self.settings.logfile

    @property
    def writer(self) -> RotatingFileWriter | None:
        """The open log file, if any."""
        return self._writer

    def _needs_filter(self) -> bool:
        return self._strip_ansi or self.settings.capture_maxbytes > 0

    def open(self) -> None:
        """Open (or reopen) the log file. Raises OSError."""
        if self.settings.logfile is None:
            return
        if self._writer is None:
            self._writer = RotatingFileWriter(
                self.settings.logfile,
                maxbytes=self.settings.maxbytes,
                backups=self.settings.backups,
            )
        else:
            self._writer.reopen()

    def attach(self, fd: int, *, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading ``fd`` (non-blocking; ownership passes to this object)."""
        self.detach()
        os.set_blocking(fd, False)
        self._fd = fd
        self._pipe_grown = False
        self.pipe_size = None
        if self._tail is not None:
            self._tail.clear()
        self._spliced = False
        self._run_start = self.bytes_read
        self._loop = loop
        self._eof = loop.create_future()
        self._filter = (
            ChannelFilter(
                capture_maxbytes=self.settings.capture_maxbytes, strip_ansi=self._strip_ansi
            )
            if self._needs_filter()
            else None
        )
        loop.add_reader(fd, self._on_readable)

    async def wait_closed(self) -> None:
        """Wait for EOF on the attached pipe (returns at once when not attached)."""
        if self._eof is not None:
            await asyncio.shield(self._eof)

    def _can_splice(self) -> bool:
        return (
            self._splice
            and self._filter is None
            and self._on_read is None
            and self._on_log is None
            and not self.settings.syslog
            and self._writer is not None
            and self._writer.seekable
        )

    def _grow_pipe(self, fd: int) -> None:
        # Once per attached pipe; EPERM (over the user's pipe quota) or EBUSY just
        # leaves the pipe as it is.
        self._pipe_grown = True
        with contextlib.suppress(OSError):
            self.pipe_size = fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)

    @staticmethod
    def _splice_chunks(writer: RotatingFileWriter, fd: int) -> int:
        # Up to READ_SIZE per wake-up, in SPLICE_CHUNK pieces (see SPLICE_CHUNK).
        # Raises what the first splice raises; a later EAGAIN just ends the wake-up.
        moved = writer.splice_from(fd, SPLICE_CHUNK)
        total = moved
        while moved == SPLICE_CHUNK and total < READ_SIZE:
            try:
                moved = writer.splice_from(fd, SPLICE_CHUNK)
            except BlockingIOError:
                break
            total += moved
        return total

    def _on_readable(self) -> None:
        fd = self._fd
        if fd is None:  # pragma: no cover - reader removed before the callback ran
            return
        writer = self._writer
        if writer is not None and self._can_splice():
            try:
                moved = self._splice_chunks(writer, fd)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno in _NO_SPLICE:
                    self._splice = False
                # Otherwise (ENOSPC, ...) the read path below takes this chunk and
                # reports the failed write the usual way.
            else:
                if moved:
                    self._spliced = True
                    self.bytes_read += moved
                    self.bytes_written += moved
                    if self._failing:
                        self._write_resumed()
                    if moved >= _GROW_AT and not self._pipe_grown:
                        self._grow_pipe(fd)
                    self._transferred(moved)
                    return
                # 0: end of file, which the read below sees too.
        buffer = _READ_BUFFER.get()
        try:
            count = os.readv(fd, [buffer])
        except BlockingIOError:
            return
        except OSError:
            count = 0  # EIO and friends: the other end is gone
        if not count:
            self.detach()
            if self._on_read is not None:
                self._on_read(b"")
            return
        if count >= _GROW_AT and not self._pipe_grown:
            self._grow_pipe(fd)
        self.bytes_read += count
        if self._on_read is None:
            self._transferred(count)
        if self._tail is not None:
            self._tail.feed(memoryview(buffer)[:count])
        if (
            self._filter is None
            and self._on_read is None
            and self._on_log is None
            and not self.settings.syslog
        ):
            # Only the file sees these bytes: write straight from the buffer.
            self._write(memoryview(buffer)[:count])
            return
        data = bytes(memoryview(buffer)[:count])
        if self._on_read is not None:
            # An event listener's stdout: the protocol parser sees the raw bytes.
            self._on_read(data)
        if self._filter is None:
            self._deliver(data)
        else:
            self._apply(self._filter.feed(data))

    def _transferred(self, count: int) -> None:
        # Coalescing: see the rules at the top of the file.
        self.transfers += 1
        loop = self._loop
        if loop is None:  # pragma: no cover - only attached channels read
            return
        now = loop.time()
        previous, self._last_transfer = self._last_transfer, now
        if count < COALESCE_BELOW and now - previous < COALESCE_WINDOW and self._paused is None:
            fd = self._fd
            if fd is not None:
                loop.remove_reader(fd)
                self._paused = loop.call_later(COALESCE_DELAY, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if self._fd is not None and self._loop is not None:
            self._loop.add_reader(self._fd, self._on_readable)

    def tail_lines(self, lines: int) -> tuple[str, ...]:
        """The last ``lines`` lines of the current (or last) run; () when not kept."""
        if self._tail is None or lines <= 0:
            return ()
        if self._spliced:
            return self._file_tail(lines)
        return last_lines(self._tail.data(), lines, truncated=self._tail.truncated)

    def _file_tail(self, lines: int) -> tuple[str, ...]:
        # The run's bytes went into the file by splice(2): read its end back (at most
        # TAIL_BYTES, and no further back than this run; a rotation during the run
        # leaves only what the current file holds).
        path = self.settings.logfile
        run_bytes = self.bytes_read - self._run_start
        if path is None or run_bytes <= 0:
            return ()
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                want = min(TAIL_BYTES, run_bytes, size)
                handle.seek(size - want)
                data = handle.read(want)
        except OSError:
            return ()
        return last_lines(data, lines, truncated=run_bytes > len(data))

    def drain(self, reads: int = _DRAIN_READS) -> None:
        """Read what the pipe holds right now, without waiting (the child has exited).

        supervisord drains a dead child's pipes before it reports the exit; a restart
        that attaches new pipes would otherwise close these with output still in them.
        Bounded (``reads`` reads at most), because a grandchild may keep the pipe open
        and keep writing.
        """
        for _ in range(reads):
            if self._fd is None:
                return
            before = self.bytes_read
            self._on_readable()
            if self._fd is not None and self.bytes_read == before:
                return  # EAGAIN: nothing more for now

    def _apply(self, items: list[Output | Communication]) -> None:
        for item in items:
            if isinstance(item, Communication):
                if self._on_communication is not None:
                    self._on_communication(self.channel, item.data)
            elif item.captured:
                if self._on_log is not None:
                    self._on_log(self.channel, item.data)
            else:
                self._deliver(item.data)

    def _write(self, data: bytes | memoryview) -> None:
        writer = self._writer
        if writer is not None:
            try:
                writer.write(data)
            except OSError as error:
                self._write_failed(error)
            else:
                self.bytes_written += len(data)
                if self._failing:
                    self._write_resumed()

    def _deliver(self, data: bytes) -> None:
        self._write(data)
        if self.settings.syslog:
            self._syslog(data)
        if self._on_log is not None:
            self._on_log(self.channel, data)

    def _syslog(self, data: bytes, *, final: bool = False) -> None:
        # Whole lines only: a read may end in the middle of one (pipes carry bytes,
        # not lines); a line longer than the bound goes out in pieces.
        *lines, partial = (self._syslog_partial + data).split(b"\n")
        if final or len(partial) > _SYSLOG_LINE_MAX:
            lines.append(partial)
            partial = b""
        self._syslog_partial = partial
        for line in lines:
            if line or not final:
                _child_syslog.info("%s %s", self.name, line.decode("utf-8", "replace"))

    def _write_failed(self, error: OSError) -> None:
        self.write_errors += 1
        self._dropped_in_episode += 1
        if self._faults is not None:
            self._faults.add(LOG_WRITE_ERRORS, self.channel.value)
        if self._failing:
            return
        self._failing = True
        _log.warning(
            "%s %s: log write to %s failed: %s; dropping output until a write works again",
            self.name,
            self.channel,
            self.logfile,
            error,
        )
        if self._on_error is not None:
            self._on_error(self.channel, error)

    def _write_resumed(self) -> None:
        dropped, self._dropped_in_episode = self._dropped_in_episode, 0
        self._failing = False
        _log.warning(
            "%s %s: log writes to %s resumed (%d chunks were dropped)",
            self.name,
            self.channel,
            self.logfile,
            dropped,
        )

    def detach(self) -> None:
        """Stop reading, close the pipe and flush what the filter held back."""
        fd, self._fd = self._fd, None
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if fd is not None and self._loop is not None:
            self._loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._filter is not None:
            self._apply(self._filter.finish())
            self._filter = None
        if self.settings.syslog and self._syslog_partial:
            self._syslog(b"", final=True)
        if self._eof is not None and not self._eof.done():
            self._eof.set_result(None)

    def reopen(self) -> None:
        """Reopen the log file (SIGUSR2). Raises OSError."""
        if self._writer is not None:
            self._writer.reopen()

    def clear(self) -> None:
        """Delete the log file and start an empty one (``clearProcessLogs``).

        A log that is not open (the process never ran) is emptied in place rather
        than deleted: an AUTO log exists from config load on, and reading it must
        keep answering "" (supervisord leaves such a file alone).
        """
        if self._writer is not None:
            self._writer.remove()
        elif self.settings.logfile is not None:
            empty_file(self.settings.logfile)

    def close(self) -> None:
        """Detach and close the log file."""
        self.detach()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ProcessOutput:
    """Output capture of one process (both channels); lives as long as the process.

    Example::

        output = ProcessOutput.from_config(config, childlogdir="/tmp",
                                           identifier="supervisor", on_log=publish)
        output.open()                      # before spawn: may raise LogOpenError
        child = spawner.spawn(request)
        output.attach(*child.take_output())
        ...
        await output.wait_closed()         # both pipes at EOF
    """

    def __init__(
        self,
        *,
        name: str,
        stdout: ChannelSettings,
        stderr: ChannelSettings,
        strip_ansi: bool = False,
        on_log: OnLog | None = None,
        on_communication: OnCommunication | None = None,
        on_error: OnError | None = None,
        on_stdout_read: OnRead | None = None,
        tail_channel: Channel | None = None,
        faults: FaultCounters | None = None,
    ) -> None:
        self.name = name
        self.tail_channel = tail_channel
        self.channels: Mapping[Channel, ChannelLog] = {
            channel: ChannelLog(
                channel,
                settings,
                name=name,
                strip_ansi=strip_ansi,
                on_log=on_log,
                on_communication=on_communication,
                on_error=on_error,
                on_read=on_stdout_read if channel is Channel.STDOUT else None,
                keep_tail=channel is tail_channel,
                faults=faults,
            )
            for channel, settings in ((Channel.STDOUT, stdout), (Channel.STDERR, stderr))
        }

    @classmethod
    def from_config(
        cls,
        config: ProcessConfig,
        *,
        childlogdir: str,
        identifier: str,
        strip_ansi: bool = False,
        on_log: OnLog | None = None,
        on_communication: OnCommunication | None = None,
        on_error: OnError | None = None,
        on_stdout_read: OnRead | None = None,
        faults: FaultCounters | None = None,
    ) -> ProcessOutput:
        """Build from a process config, creating AUTO log files in ``childlogdir``.

        With ``redirect_stderr`` the stderr channel never gets a pipe (its output
        arrives on stdout) and, as in supervisord, gets no log file.
        """
        stdout_path = resolve_logfile(
            config.stdout.logfile,
            name=config.name,
            channel="stdout",
            identifier=identifier,
            childlogdir=childlogdir,
        )
        stderr_path = (
            None
            if config.redirect_stderr
            else resolve_logfile(
                config.stderr.logfile,
                name=config.name,
                channel="stderr",
                identifier=identifier,
                childlogdir=childlogdir,
            )
        )
        return cls(
            name=config.name,
            stdout=ChannelSettings.from_config(config.stdout, stdout_path),
            stderr=ChannelSettings.from_config(config.stderr, stderr_path),
            strip_ansi=strip_ansi,
            on_log=on_log,
            on_communication=on_communication,
            on_error=on_error,
            on_stdout_read=on_stdout_read,
            # With redirect_stderr the child's stderr arrives on stdout.
            tail_channel=Channel.STDOUT if config.redirect_stderr else Channel.STDERR,
            faults=faults,
        )

    def tail_lines(self, lines: int) -> tuple[str, ...]:
        """The last ``lines`` lines of the tail channel's current (or last) run."""
        if self.tail_channel is None:
            return ()
        return self.channels[self.tail_channel].tail_lines(lines)

    def logfile(self, channel: Channel) -> str | None:
        """The log file of ``channel`` (for the RPC read/tail methods)."""
        return self.channels[channel].logfile

    def open(self) -> None:
        """Open (or reopen) both log files, as supervisord does at every spawn.

        Raises:
            LogOpenError: ``too many open files to spawn 'x'`` or
                ``unknown error making dispatchers for 'x': EACCES``.
        """
        for log in self.channels.values():
            try:
                log.open()
            except OSError as error:
                code = errno.errorcode.get(error.errno or 0, str(error.errno))
                path = log.logfile or ""
                if error.errno in (errno.EMFILE, errno.ENFILE):
                    raise LogOpenError(
                        f"too many open files to spawn {self.name!r}", path
                    ) from error
                raise LogOpenError(
                    f"unknown error making dispatchers for {self.name!r}: {code}", path
                ) from error

    def attach(
        self,
        stdout_fd: int | None,
        stderr_fd: int | None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Start reading a new run's pipes (takes ownership of the fds).

        Opens the log files first if ``open()`` was not called.
        """
        loop = loop if loop is not None else asyncio.get_running_loop()
        for fd, log in zip((stdout_fd, stderr_fd), self.channels.values(), strict=True):
            if fd is None:
                log.detach()
                continue
            if log.writer is None and log.logfile is not None:
                self.open()
            log.attach(fd, loop=loop)

    async def wait_closed(self) -> None:
        """Wait until every attached pipe reached EOF (all output is in the logs)."""
        for log in self.channels.values():
            await log.wait_closed()

    def drain(self) -> None:
        """Read what both pipes hold right now, without waiting (see ``ChannelLog.drain``)."""
        for log in self.channels.values():
            log.drain()

    def detach(self) -> None:
        """Stop reading both pipes now (closing them) and flush held-back bytes."""
        for log in self.channels.values():
            log.detach()

    def reopen(self) -> None:
        """Reopen both log files (SIGUSR2 / ``supervisorctl`` reopen)."""
        for log in self.channels.values():
            log.reopen()

    def clear(self) -> None:
        """Delete and recreate both log files (``clearProcessLogs``). Raises OSError."""
        for log in self.channels.values():
            log.clear()

    def close(self) -> None:
        """Detach and close everything (the process is being removed)."""
        for log in self.channels.values():
            log.close()

    def bytes_total(self) -> dict[Channel, int]:
        """Bytes read so far per channel (for ``supervisor_process_log_bytes_total``)."""
        return {channel: log.bytes_read for channel, log in self.channels.items()}
