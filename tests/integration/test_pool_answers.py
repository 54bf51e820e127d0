"""A listener pool reads answers already in a listener's pipe before it buffers an event.

The listener's stdout is a real pipe the test writes into (as a prompt listener on
another core would) while the event loop never gets to run its reader: every event
is published synchronously, in one burst, as a storm of exits does in one pass of
the loop. Nothing sleeps and nothing depends on timing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import pytest

from supervisor_core.bus import EventBus
from supervisor_core.config.model import (
    ChannelConfig,
    GroupConfig,
    GroupKind,
    ProcessConfig,
    ProgramKind,
)
from supervisor_core.events import RemoteCommunication
from supervisor_core.lifecycle import EventListenerState
from supervisor_core.pools import ListenerOutput, ListenerPool
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import SpawnRequest
from supervisor_core.testing import FakeChild, FakeClock, FakeSpawner

pytestmark = pytest.mark.integration

NO_LOG = ChannelConfig(logfile=None)
BURST = 12
BUFFER_SIZE = 3


class PipedChild(FakeChild):
    """A fake child whose stdout is the read end of a real pipe."""

    def __init__(self, pid: int, request: SpawnRequest, stdout_fd: int) -> None:
        super().__init__(pid, request)
        self._stdout_fd: int | None = stdout_fd

    def take_output(self) -> tuple[int | None, int | None]:
        fd, self._stdout_fd = self._stdout_fd, None
        return fd, None


class PipedSpawner(FakeSpawner):
    """Hands out ``PipedChild`` ren; ``writers`` are the listener ends of their stdout."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[int] = []

    def spawn(self, request: SpawnRequest) -> FakeChild:
        self.requests.append(request)
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self.writers.append(write_fd)
        child = PipedChild(100 + len(self.children), request, read_fd)
        self.children.append(child)
        return child


@pytest.fixture
def spawner() -> Iterator[PipedSpawner]:
    piped = PipedSpawner()
    yield piped
    for fd in piped.writers:
        os.close(fd)


def make_pool(
    spawner: PipedSpawner, bus: EventBus, clock: FakeClock
) -> tuple[ListenerPool, list[ProcessRuntime]]:
    """A one-listener pool (buffer_size=BUFFER_SIZE, REMOTE_COMMUNICATION), started."""
    runtimes: list[ProcessRuntime] = []

    def make(process_config: ProcessConfig, on_output: ListenerOutput) -> ProcessRuntime:
        runtime = ProcessRuntime(
            process_config,
            bus=bus,
            spawner=spawner,
            clock=clock,
            serverurl=None,
            childlogdir="/nonexistent",
            identifier="test",
            strip_ansi=False,
            timers=clock,
            on_listener_output=on_output,
        )
        runtimes.append(runtime)
        return runtime

    config = GroupConfig(
        name="pool",
        kind=GroupKind.EVENTLISTENER,
        priority=-1,
        processes=(
            ProcessConfig(
                name="l0",
                program_name="pool",
                group_name="pool",
                kind=ProgramKind.EVENTLISTENER,
                command="/bin/cat",
                startsecs=0,
                stdout=NO_LOG,
                stderr=NO_LOG,
            ),
        ),
        buffer_size=BUFFER_SIZE,
        events=frozenset({"REMOTE_COMMUNICATION"}),
    )
    pool = ListenerPool(config, make, bus=bus, identifier="test")
    pool.autostart()
    return pool, runtimes


def envelopes(spawner: PipedSpawner) -> int:
    """How many envelopes the pool has written to the listener's stdin."""
    return bytes(spawner.latest.stdin).count(b"eventname:REMOTE_COMMUNICATION")


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run (its readers included) until ``condition`` holds, bounded."""
    async with asyncio.timeout(5):
        # The pipe reader has no completion hook to await: one loop turn (a reader
        # callback) is its unit of progress, so check after each turn.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0)


async def test_a_prompt_listener_gets_every_event_of_a_burst(spawner: PipedSpawner) -> None:
    """A burst of BURST events through buffer_size=3 reaches a listener that answers at once."""
    clock = FakeClock()
    bus = EventBus(clock)
    pool, runtimes = make_pool(spawner, bus, clock)
    (listener_stdout,) = spawner.writers
    os.write(listener_stdout, b"READY\n")
    for index in range(BURST):
        bus.publish(RemoteCommunication(type="t", data=str(index)))
        # The listener answers the envelope it was just sent, before the next event.
        os.write(listener_stdout, b"RESULT 2\nOKREADY\n")
    bus.publish(RemoteCommunication(type="t", data="last"))
    snapshot = pool.pool_snapshot()
    assert snapshot.dropped == 0
    assert snapshot.buffered == ()
    assert pool.listener_state("l0") is EventListenerState.BUSY
    assert envelopes(spawner) == BURST + 1
    runtimes[0].system_stop()
    spawner.latest.exit(-15)
    await pool.aclose()


async def test_an_answer_in_the_pipe_is_read_with_one_read(
    spawner: PipedSpawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing reads a BUSY listener's waiting answer with one read, not a second to EAGAIN."""
    clock = FakeClock()
    bus = EventBus(clock)
    pool, runtimes = make_pool(spawner, bus, clock)
    (listener_stdout,) = spawner.writers
    os.write(listener_stdout, b"READY\n")
    await until(lambda: pool.listener_state("l0") is EventListenerState.READY)
    for index in range(BUFFER_SIZE + 1):  # one in flight, BUFFER_SIZE waiting
        bus.publish(RemoteCommunication(type="t", data=str(index)))
    assert len(pool.pool_snapshot().buffered) == BUFFER_SIZE
    os.write(listener_stdout, b"RESULT 2\nOKREADY\n")
    reads: list[int] = []
    real_readv = os.readv

    def counting_readv(fd: int, buffers: list[bytearray]) -> int:
        reads.append(fd)
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", counting_readv)
    bus.publish(RemoteCommunication(type="t", data="one more"))
    monkeypatch.undo()
    assert len(reads) == 1
    snapshot = pool.pool_snapshot()
    assert snapshot.dropped == 0  # the answer read made room: the head went out
    assert envelopes(spawner) == 2
    runtimes[0].system_stop()
    spawner.latest.exit(-15)
    await pool.aclose()
