"""Readiness probes (``ready = tcp:...``, ``http:...``, ``command:...``): I/O at the edge.

Rules of this file:
- The state machine decides when a probe runs (``StartProbe``/``StopProbe`` effects)
  and what a pass means (a ``Ready`` fact); this module only polls.
- One asyncio task per probing process, alive only while that process is STARTING;
  each attempt is bounded by the interval (a hung connect or command cannot stall the
  next one). A command probe is a child watched through a pidfd, never a thread.
- ``ProbeRunner`` is the seam: the runtime gets one injected (``testing.FakeProbes``
  in unit tests, which lets the test say when a probe passes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Callable
from typing import Protocol

import aiohttp

from supervisor_core.config.model import ReadyCheck, ReadyKind

ClaimChild = Callable[["subprocess.Popen[bytes]"], Callable[[], None]]
"""Told of each command probe right after its fork; returns what to call once it is
reaped (``orphans.OrphanReaper.claim_popen``: an orphan reaper must not take it)."""


class ProbeHandle(Protocol):
    """A running probe; ``cancel()`` stops it (idempotent)."""

    def cancel(self) -> None:
        """Stop polling."""
        ...


class ProbeRunner(Protocol):
    """Starts readiness probes."""

    def start(
        self, check: ReadyCheck, interval: float, on_ready: Callable[[], None]
    ) -> ProbeHandle:
        """Poll ``check`` every ``interval`` seconds; call ``on_ready`` once when it passes."""
        ...


async def _tcp(target: str) -> bool:
    host, _, port = target.rpartition(":")
    try:
        _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _http(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return 200 <= response.status < 300
    except (aiohttp.ClientError, OSError):
        return False


async def _command(command: str, claim: ClaimChild | None = None) -> bool:
    try:
        # A fork like the daemon's own spawns (spawn.PopenSpawner): milliseconds, and
        # the wait that follows is a pidfd on the loop, not a blocking wait.
        popen = subprocess.Popen(  # noqa: ASYNC220
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except (OSError, ValueError):
        return False
    release = claim(popen) if claim is not None else None
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(popen.pid)
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if popen.poll() is None:  # cancelled (the attempt's time ran out): no orphan
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
        if release is not None:
            release()
    return popen.returncode == 0


class _Probe:
    def __init__(
        self,
        check: ReadyCheck,
        interval: float,
        on_ready: Callable[[], None],
        claim: ClaimChild | None = None,
    ) -> None:
        self._check = check
        self._claim = claim
        self._interval = interval
        self._on_ready = on_ready
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _attempt(self, session: aiohttp.ClientSession | None) -> bool:
        check = self._check
        try:
            # One attempt may take at most one interval: a hung connect, request or
            # command fails it, and the next one starts on time.
            async with asyncio.timeout(self._interval):
                if check.kind is ReadyKind.TCP:
                    return await _tcp(check.target)
                if check.kind is ReadyKind.HTTP:
                    assert session is not None
                    return await _http(session, check.target)
                return await _command(check.target, self._claim)
        except TimeoutError:
            return False

    async def _run(self) -> None:
        session = aiohttp.ClientSession() if self._check.kind is ReadyKind.HTTP else None
        try:
            loop = asyncio.get_running_loop()
            while True:
                started = loop.time()
                if await self._attempt(session):
                    self._on_ready()
                    return
                await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))
        finally:
            if session is not None:
                await session.close()

    def cancel(self) -> None:
        self._task.cancel()


class AsyncioProbes:
    """The real ``ProbeRunner``: one task per probing process on the running loop.

    ``claim`` is told of every command probe's child (see ``ClaimChild``).
    """

    def __init__(self, claim: ClaimChild | None = None) -> None:
        self._claim = claim

    def start(
        self, check: ReadyCheck, interval: float, on_ready: Callable[[], None]
    ) -> ProbeHandle:
        """Start polling (call on the loop's thread)."""
        return _Probe(check, interval, on_ready, self._claim)
