"""``/logtail/NAME[/CHANNEL]`` and ``/mainlogtail``: follow a log over HTTP like supervisord.

The response starts with the last 1024 bytes of the file (all of it when shorter),
then streams what is appended, chunked, until the client goes away or the server
shuts down. A rotated file (new inode) is reopened from its start; a truncated one
emits ``==> File truncated <==`` and continues from its new end.

Following is a periodic size check: the log is written by another component (the
daemon's log capture) and the stdlib has no file-change notification, so the tick
is the simplest correct design; it costs one ``fstat`` per interval per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from aiohttp import web

from supervisor_core import control
from supervisor_core.names import split_namespec

TRUNCATED_NOTICE = b"==> File truncated <==\n"
_MAX_CHUNK = 64 * 1024


class FileFollower:
    """Reads what is appended to a file, surviving rotation and truncation."""

    def __init__(self, path: str, head: int) -> None:
        self._path = path
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._inode = os.fstat(self._file.fileno()).st_ino
        size = os.fstat(self._file.fileno()).st_size
        # Start ``head`` bytes before the end, or at the start of a shorter file.
        self._position = size - head if size >= head else 0

    def read_new(self) -> bytes:
        """The bytes appended since the last call (at most 64 KiB), or a truncation notice."""
        self._reopen_if_rotated()
        size = os.fstat(self._file.fileno()).st_size
        if size < self._position:
            self._position = 0
            return TRUNCATED_NOTICE
        if size == self._position:
            return b""
        self._file.seek(self._position)
        data = self._file.read(min(size - self._position, _MAX_CHUNK))
        self._position += len(data)
        return data

    def _reopen_if_rotated(self) -> None:
        try:
            inode = os.stat(self._path).st_ino
        except OSError:
            return  # unlinked and not yet recreated: keep reading the old file
        if inode != self._inode:
            self._file.close()
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed by close()
            self._inode = os.fstat(self._file.fileno()).st_ino
            self._position = 0

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class TailSettings:
    """How log tails are served: initial bytes, follow interval, the stop signal."""

    head: int = 1024
    poll_interval: float = 0.1
    stopping: asyncio.Event


def process_log_path(
    groups: Sequence[control.GroupInfo],
    namespec: str,
    channel: str,
) -> str | None:
    """The ``channel`` log file of the process named ``namespec``, or None if unknown."""
    if channel not in ("stdout", "stderr"):
        return None
    group_name, process_name = split_namespec(namespec)
    for group in groups:
        if group.name != group_name:
            continue
        for process in group.processes:
            if process.name == process_name:
                path = process.stdout_logfile if channel == "stdout" else process.stderr_logfile
                return path or None
    return None


async def stream_file(
    request: web.Request, path: str, settings: TailSettings, *, unbuffered: bool
) -> web.StreamResponse:
    """Serve ``path`` as a followed, chunked text/plain stream (404 if it is gone)."""
    try:
        follower = FileFollower(path, settings.head)
        mtime = os.stat(path).st_mtime
    except OSError as e:
        raise web.HTTPNotFound() from e
    response = web.StreamResponse()
    response.headers["Content-Type"] = "text/plain;charset=utf-8"
    response.last_modified = mtime
    if unbuffered:
        # Asks reverse proxies (nginx) not to buffer the stream, as supervisord does.
        response.headers["X-Accel-Buffering"] = "no"
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        while not settings.stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            data = follower.read_new()
            if data:
                await response.write(data)
                if len(data) == _MAX_CHUNK:
                    continue  # more is waiting: don't sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settings.stopping.wait(), settings.poll_interval)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        pass  # the client went away: nothing to finish
    finally:
        follower.close()
    return response
