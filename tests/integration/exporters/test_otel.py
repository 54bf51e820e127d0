"""superd's OTel exporter sends real OTLP/HTTP to a loopback receiver that decodes the protobuf."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import os
import shlex
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.integration.superd_harness import Superd, base_config, program_section, wait_for

pytestmark = pytest.mark.integration


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: decodes every POST /v1/traces."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests.append(message)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def spans(self) -> list[tuple[dict[str, Any], Span]]:
        """(resource attributes, span) for every span received."""
        return [
            (attributes(resource_spans.resource.attributes), span)
            for message in self.requests
            for resource_spans in message.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    items: list[KeyValue] = list(pairs)
    return {pair.key: value(pair.value) for pair in items}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    yield receiver
    await runner.cleanup()


async def test_a_program_killed_twice_is_one_trace_of_three_runs(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Two SIGKILLs then a shutdown: 3 run spans in one trace, ERROR on the killed ones."""
    text = (
        base_config(tmp_path)
        + program_section("a", tmp_path, priority=1, extra="autorestart = true")
        + f"[exporter:otel]\nendpoint = http://127.0.0.1:{receiver.port}\n"
        "episode_quiet = 1h\ntimeout = 10\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        await asyncio.to_thread(superd.wait_states, {"a": "RUNNING"})
        pids: list[int] = []
        for _ in range(2):
            pid = superd.call("getProcessInfo", "a")["pid"]
            pids.append(pid)
            os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(
                wait_for,
                lambda old=pid: superd.call("getProcessInfo", "a")["pid"] not in (0, old),
                "a restarted with a new pid",
            )
            await asyncio.to_thread(superd.wait_states, {"a": "RUNNING"})
        pids.append(superd.call("getProcessInfo", "a")["pid"])
        superd.send(signal.SIGTERM)
        # superd flushes its batch before it exits; the receiver answers meanwhile.
        assert await asyncio.to_thread(superd.wait_exit) == 0
    finally:
        superd.close()

    received = receiver.spans()
    runs = sorted(
        (s for _, s in received if s.name == "run a"), key=lambda s: s.start_time_unix_nano
    )
    episodes = [s for _, s in received if s.name == "episode a"]
    assert len(runs) == 3, [s.name for _, s in received]
    assert len(episodes) == 1
    (episode,) = episodes
    assert {run.trace_id for run in runs} == {episode.trace_id}
    assert {run.parent_span_id for run in runs} == {episode.span_id}
    assert episode.parent_span_id == b""
    assert [run.status.code for run in runs] == [
        Status.STATUS_CODE_ERROR,
        Status.STATUS_CODE_ERROR,
        Status.STATUS_CODE_UNSET,
    ]
    run_attributes = [attributes(run.attributes) for run in runs]
    assert [a["process.pid"] for a in run_attributes] == pids
    assert [a.get("error.type") for a in run_attributes] == ["SIGKILL", "SIGKILL", None]
    assert [a["supervisor.run.outcome"] for a in run_attributes] == ["exited", "exited", "stopped"]
    assert run_attributes[0]["supervisor.exit.signal"] == 9
    assert run_attributes[0]["process.executable.name"] == os.path.basename(
        run_attributes[0]["process.command"]
    )
    # Times come from the events: the exit and the autorestart share one instant.
    for earlier, later in itertools.pairwise(runs):
        assert earlier.end_time_unix_nano == later.start_time_unix_nano
    assert [e.name for e in runs[0].events][:2] == [
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
    ]
    assert runs[0].events[-1].name == "PROCESS_STATE_EXITED"
    assert attributes(episode.attributes)["supervisor.episode.outcome"] == "stopped"
    # Why each run began, and where it belongs, as the state machine said.
    assert [a["supervisor.cause"] for a in run_attributes] == [
        "autostart",
        "autorestart",
        "autorestart",
    ]
    assert [a["supervisor.run.number"] for a in run_attributes] == [1, 2, 3]
    assert [a["supervisor.episode.number"] for a in run_attributes] == [1, 1, 1]
    stopped = attributes(runs[-1].events[-1].attributes)
    assert (runs[-1].events[-1].name, stopped["supervisor.cause"]) == (
        "PROCESS_STATE_STOPPED",
        "shutdown",
    )
    resource = received[0][0]
    assert resource["service.name"] == "superd"
    assert resource["supervisor.identifier"] == "itest"


async def test_an_operator_restart_is_a_new_trace_that_names_who_asked(
    tmp_path: Path, receiver: Receiver
) -> None:
    """stopProcess + startProcess over XML-RPC: a second trace, cause operator, origin the peer."""
    text = (
        base_config(tmp_path)
        + program_section("a", tmp_path, priority=1, extra="autorestart = true")
        + f"[exporter:otel]\nendpoint = http://127.0.0.1:{receiver.port}\n"
        "episode_quiet = 1h\ntimeout = 10\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        await asyncio.to_thread(superd.wait_states, {"a": "RUNNING"})
        assert await asyncio.to_thread(superd.call, "stopProcess", "a")
        assert await asyncio.to_thread(superd.call, "startProcess", "a")
        superd.send(signal.SIGTERM)
        assert await asyncio.to_thread(superd.wait_exit) == 0
    finally:
        superd.close()

    received = [span for _, span in receiver.spans()]
    runs = sorted((s for s in received if s.name == "run a"), key=lambda s: s.start_time_unix_nano)
    episodes = sorted(
        (s for s in received if s.name == "episode a"), key=lambda s: s.start_time_unix_nano
    )
    assert len(runs) == 2
    assert len(episodes) == 2
    assert [run.trace_id for run in runs] == [episode.trace_id for episode in episodes]
    assert runs[0].trace_id != runs[1].trace_id
    first, second = (attributes(run.attributes) for run in runs)
    assert first["supervisor.cause"] == "autostart"
    assert second["supervisor.cause"] == "operator"
    assert second["supervisor.origin"].startswith(f"xmlrpc, unix socket pid {os.getpid()} ")
    assert [a["supervisor.run.number"] for a in (first, second)] == [1, 2]
    assert [a["supervisor.episode.number"] for a in (first, second)] == [1, 2]
    opened = attributes(episodes[1].attributes)
    assert (opened["supervisor.cause"], opened["supervisor.episode.number"]) == ("operator", 2)
    # The operator's stop ended the first run and its episode, and says who asked.
    stopping = [attributes(e.attributes) for e in runs[0].events if e.name.endswith("STOPPING")]
    assert [a["supervisor.cause"] for a in stopping] == ["operator"]
    assert stopping[0]["supervisor.origin"] == second["supervisor.origin"]
    assert attributes(episodes[0].attributes)["supervisor.episode.outcome"] == "stopped"


async def test_traces_follow_the_restart_episodes_not_the_quiet_period(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Damped restarts after short runs share one trace past episode_quiet; long runs do not."""
    starts = tmp_path / "starts"

    def crasher(name: str, seconds: float, options: str) -> str:
        code = (
            f"import sys, time; open({str(starts)!r}, 'a').write('{name}\\n'); "
            f"time.sleep({seconds}); sys.exit(1)"
        )
        return (
            f"[program:{name}]\ncommand = {sys.executable} -c {shlex.quote(code)}\n"
            f"startsecs = 0\nautorestart = true\n{options}\n"
        )

    text = (
        base_config(tmp_path)
        # Short runs (0.2 s < backoff_reset 60 s): one episode; damped restarts after 0.5 s.
        + crasher("damped", 0.2, "backoff_initial = 0.5\nbackoff_max = 0.5")
        # Runs of 0.4 s >= backoff_reset 0.1 s: every restart opens a new episode.
        + crasher("steady", 0.4, "backoff_reset = 0.1")
        + f"[exporter:otel]\nendpoint = http://127.0.0.1:{receiver.port}\n"
        "episode_quiet = 100ms\ntimeout = 10\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:

        def started(name: str) -> int:
            return starts.read_text().split().count(name) if starts.exists() else 0

        await asyncio.to_thread(
            wait_for, lambda: started("damped") >= 3 and started("steady") >= 3, "3 starts each"
        )
        superd.send(signal.SIGTERM)
        assert await asyncio.to_thread(superd.wait_exit) == 0
    finally:
        superd.close()

    received = [span for _, span in receiver.spans()]

    def spans(name: str) -> list[Span]:
        return sorted((s for s in received if s.name == name), key=lambda s: s.start_time_unix_nano)

    damped_runs, damped_roots = spans("run damped"), spans("episode damped")
    assert len(damped_runs) >= 3
    assert len(damped_roots) == 1
    (root,) = damped_roots
    assert {run.trace_id for run in damped_runs} == {root.trace_id}
    assert {run.parent_span_id for run in damped_runs} == {root.span_id}
    # The quiet period ended the root long before the last damped restart joined it.
    assert root.end_time_unix_nano < damped_runs[-1].start_time_unix_nano
    causes = [attributes(run.attributes)["supervisor.cause"] for run in damped_runs]
    assert causes[0] == "autostart"
    assert set(causes[1:]) == {"damped"}
    assert {attributes(run.attributes)["supervisor.episode.number"] for run in damped_runs} == {1}

    steady_runs, steady_roots = spans("run steady"), spans("episode steady")
    assert len(steady_runs) >= 3
    assert len(steady_roots) == len(steady_runs)
    assert len({run.trace_id for run in steady_runs}) == len(steady_runs)
    numbers = [attributes(run.attributes) for run in steady_runs]
    assert [a["supervisor.episode.number"] for a in numbers] == [
        a["supervisor.run.number"] for a in numbers
    ]
    assert [a["supervisor.cause"] for a in numbers][1:] == ["autorestart"] * (len(numbers) - 1)


def test_a_bad_otel_section_stops_superd_naming_the_line(tmp_path: Path) -> None:
    """superd refuses to start on a bad [exporter:otel] key, naming file:line and the key."""
    text = base_config(tmp_path) + "[exporter:otel]\nendpoint = ftp://collector\n"
    superd = Superd(tmp_path, text, "-n")
    try:
        assert superd.wait_exit() != 0
        stderr = superd.stderr_text()
    finally:
        superd.close()
    line = text.splitlines().index("endpoint = ftp://collector") + 1
    assert (
        f"{superd.config}:{line}: [exporter:otel] endpoint: not an http:// or https:// URL"
        in stderr
    )
