"""The control plane served for real: stdlib ServerProxy against aiohttp on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import xmlrpc.client
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from supervisor_core.config.model import InetHttpServerConfig
from supervisor_core.http import AuthPolicy, make_app, serving
from supervisor_core.lifecycle import ProcessState
from tests.unit.http.fake_control import FakeControl, make_fake, running

pytestmark = pytest.mark.integration

T = TypeVar("T")


@dataclass
class Server:
    """A running control plane and how to reach it."""

    fake: FakeControl
    port: int
    proxies: list[xmlrpc.client.ServerProxy] = field(default_factory=list)

    def proxy(self, user: str | None = None, password: str | None = None) -> Any:
        credentials = f"{user}:{password}@" if user is not None else ""
        proxy = xmlrpc.client.ServerProxy(f"http://{credentials}127.0.0.1:{self.port}/RPC2")
        self.proxies.append(proxy)
        return proxy

    def close(self) -> None:
        """Close the client connections the proxies keep open."""
        for proxy in self.proxies:
            proxy("close")()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run a blocking client call in a thread while the server keeps serving."""
        return await asyncio.to_thread(fn)

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        def send() -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml", **(headers or {})})
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()

        return await asyncio.to_thread(send)


async def start(
    tmp_path: Path, *, auth: AuthPolicy | None = None, client_max_size: int | None = None
) -> AsyncIterator[Server]:
    fake = make_fake(str(tmp_path))
    assert fake.main_log is not None
    write(fake.main_log, b"")
    kwargs: dict[str, Any] = {} if client_max_size is None else {"client_max_size": client_max_size}
    app = make_app(fake, auth=auth, **kwargs)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(app, inet=inet) as bound:
        assert bound.inet is not None
        server = Server(fake, bound.inet[1])
        try:
            yield server
        finally:
            server.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in start(tmp_path):
        yield s


def write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


async def fault(server: Server, call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(xmlrpc.client.Fault) as info:
        await server.run(call)
    return info.value.faultCode, info.value.faultString


async def still_serves(server: Server) -> None:
    """A fresh call after a bad request answers normally."""
    state = await server.run(server.proxy().supervisor.getState)
    assert state == {"statecode": 1, "statename": "RUNNING"}


async def test_every_method_answers_over_http(server: Server) -> None:
    """Each supervisor.* and system.* method is reachable over HTTP with valid arguments."""
    fake = server.fake
    p = server.proxy()
    s = p.supervisor
    assert fake.main_log is not None
    write(fake.main_log, b"main log\n")
    write(fake.process("worker").stdout_logfile, b"stdout\n")
    write(fake.process("worker").stderr_logfile, b"stderr\n")
    calls: list[tuple[Callable[[], object], object]] = [
        (s.getAPIVersion, "3.0"),
        (s.getVersion, "3.0"),
        (s.getIdentification, "fake-supervisor"),
        (s.getPID, 4242),
        (lambda: s.readLog(0, 4), "main"),
        (lambda: s.readMainLog(-4, 0), "log\n"),
        (lambda: s.startProcess("worker"), True),
        (lambda: s.getProcessInfo("worker")["statename"], "RUNNING"),
        (lambda: s.signalProcess("worker", "HUP"), True),
        (lambda: s.sendProcessStdin("worker", "data\n"), True),
        (lambda: s.readProcessStdoutLog("worker", 0, 0), "stdout\n"),
        (lambda: s.readProcessLog("worker", 0, 3), "std"),
        (lambda: s.readProcessStderrLog("worker", 0, 0), "stderr\n"),
        (lambda: s.tailProcessStdoutLog("worker", 0, 3), ["ut\n", 7, True]),
        (lambda: s.tailProcessLog("worker", 7, 3), ["", 7, False]),
        (lambda: s.tailProcessStderrLog("worker", 0, 100), ["stderr\n", 7, False]),
        (lambda: s.stopProcess("worker"), True),
        (lambda: len(s.startProcessGroup("web")), 2),
        (lambda: len(s.signalProcessGroup("web", 1)), 2),
        (lambda: len(s.signalAllProcesses("USR1")), 2),
        (lambda: len(s.stopProcessGroup("web", True)), 2),
        (lambda: [r["status"] for r in s.startAllProcesses(False)], [80] * 4),
        (lambda: len(s.stopAllProcesses()), 4),
        (lambda: s.clearProcessLogs("worker"), True),
        (lambda: s.clearProcessLog("worker"), True),
        (lambda: len(s.clearAllProcessLogs()), 4),
        (s.clearLog, True),
        (lambda: s.sendRemoteCommEvent("type", "data"), True),
        (s.reloadConfig, [[[], [], []]]),
        (lambda: s.addProcessGroup("extra"), True),
        (lambda: s.removeProcessGroup("extra"), True),
        (lambda: len(s.getAllConfigInfo()), 3),
        (lambda: len(s.getAllProcessInfo()), 4),
        (lambda: s.getState()["statename"], "RUNNING"),
        (lambda: "supervisor.getState" in p.system.listMethods(), True),
        (lambda: p.system.methodSignature("supervisor.getPID"), ["int"]),
        (lambda: "@return" in p.system.methodHelp("supervisor.getPID"), True),
        (
            lambda: p.system.multicall(
                [{"methodName": "supervisor.getPID", "params": []}, {"methodName": "x.y"}]
            ),
            [4242, {"faultCode": 1, "faultString": "UNKNOWN_METHOD"}],
        ),
        (s.restart, True),
        (s.shutdown, True),
    ]
    for call, expected in calls:
        assert await server.run(call) == expected
    assert fake.events == [("type", "data")]
    assert bytes(fake.process("worker").stdin) == b"data\n"
    assert fake.calls[-2:] == ["restart", "shutdown"]


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("supervisor.startProcess", ("nope",), (10, "BAD_NAME: nope")),
        ("supervisor.startProcess", ("broken",), (40, "ABNORMAL_TERMINATION: broken")),
        ("supervisor.stopProcess", ("worker",), (70, "NOT_RUNNING: worker")),
        ("supervisor.signalProcess", ("worker", "NOPE"), (11, "BAD_SIGNAL: NOPE")),
        ("supervisor.readLog", (-1, 1), (3, "BAD_ARGUMENTS")),
        ("supervisor.readProcessStdoutLog", ("web:web_0", 0, 0), (20, None)),
        ("supervisor.removeProcessGroup", ("nope",), (10, "BAD_NAME: nope")),
        ("supervisor.addProcessGroup", ("web",), (90, "ALREADY_ADDED: web")),
        ("supervisor.getProcessInfo", (1,), (2, "INCORRECT_PARAMETERS: name must be a string")),
        ("supervisor.readLog", ("a", "b"), (2, "INCORRECT_PARAMETERS: offset must be an integer")),
        ("supervisor.stopProcess", ("w", "x"), (2, "INCORRECT_PARAMETERS: wait must be a boolean")),
        ("supervisor.getState", (1, 2), (2, "INCORRECT_PARAMETERS")),
        ("supervisor.nope", (), (1, "UNKNOWN_METHOD")),
        ("supervisor.__init__", (), (1, "UNKNOWN_METHOD")),
        ("system.methodHelp", ("nope",), (4, "SIGNATURE_UNSUPPORTED")),
        ("system.multicall", ({"a": 1},), (2, "INCORRECT_PARAMETERS: calls must be an array")),
    ],
)  # fmt: skip
async def test_invalid_calls_fault_and_the_server_keeps_serving(
    server: Server, method: str, args: tuple[Any, ...], expected: tuple[int, str | None]
) -> None:
    """Bad names, states, arguments and methods give supervisord's fault; the next call works."""
    proxy = server.proxy()
    code, text = await fault(server, lambda: getattr(proxy, method)(*args))
    assert code == expected[0]
    if expected[1] is not None:
        assert text == expected[1]
    await still_serves(server)


async def test_group_start_waits_for_all_processes(server: Server) -> None:
    """startProcessGroup over HTTP returns after every process of the group is RUNNING."""
    result = await server.run(lambda: server.proxy().supervisor.startProcessGroup("web"))
    assert [(r["name"], r["status"], r["description"]) for r in result] == [
        ("web_0", 80, "OK"),
        ("web_1", 80, "OK"),
    ]
    infos = await server.run(server.proxy().supervisor.getAllProcessInfo)
    assert {i["name"]: i["statename"] for i in infos if i["group"] == "web"} == {
        "web_0": "RUNNING",
        "web_1": "RUNNING",
    }


async def test_a_slow_start_does_not_block_other_requests(server: Server) -> None:
    """While one client waits for a start, other clients are served."""
    server.fake.process("worker").start_outcome = "hang"
    waiting = asyncio.ensure_future(
        server.run(lambda: server.proxy().supervisor.startProcess("worker"))
    )
    await asyncio.wait_for(server.fake.start_requested.wait(), 30)
    info = await server.run(lambda: server.proxy().supervisor.getProcessInfo("worker"))
    assert info["statename"] == "STARTING"
    assert not waiting.done()
    # Let the fake finish the start: the waiting client then gets True.
    worker = server.fake.process("worker")
    worker.start_outcome = "running"
    server.fake._set(running(worker), ProcessState.RUNNING)
    assert await asyncio.wait_for(waiting, 30) is True


@pytest.mark.parametrize(
    "body",
    [
        b"this is not xml",
        b"<methodCall><methodName>supervisor.getState",
        b"<methodCall></methodCall>",
        b"",
        b"<?xml version='1.0'?><methodCall><methodName>x</methodName><params><param>"
        b"<value><int>nan</int></value></param></params></methodCall>",
    ],
)
async def test_malformed_xml_is_400(server: Server, body: bytes) -> None:
    """A body that is not an XML-RPC call is 400 Bad Request, and the server keeps serving."""
    status, _ = await server.post(body)
    assert status == 400
    await still_serves(server)


async def test_billion_laughs_is_refused_without_expansion(server: Server) -> None:
    """An entity-expansion document is refused as 400 before any parsing."""
    from tests.unit.http.test_xmlrpc import BILLION_LAUGHS

    status, body = await server.post(BILLION_LAUGHS)
    assert status == 400
    assert b"DOCTYPE and ENTITY declarations are not allowed" in body
    await still_serves(server)


async def test_twenty_megabyte_body_is_413(server: Server) -> None:
    """A 20 MB call is refused with 413 (or cut off while sending); serving goes on."""
    padding = "x" * (20 * 1024 * 1024)
    body = xmlrpc.client.dumps((padding,), "supervisor.getState").encode()
    try:
        status, _ = await server.post(body)
    except (ConnectionResetError, BrokenPipeError):
        status = 413  # the server answered 413 and closed before the upload finished
    assert status == 413
    await still_serves(server)


async def test_twenty_megabyte_body_announced_is_413(server: Server) -> None:
    """The 413 status itself reaches a client that sends a 20 MB body it has announced."""

    def send() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.putrequest("POST", "/RPC2")
            conn.putheader("Content-Type", "text/xml")
            conn.putheader("Content-Length", str(20 * 1024 * 1024))
            conn.endheaders()
            conn.send(b"<" * (4 * 1024 * 1024))  # well past the limit, well inside buffers
            return conn.getresponse().status
        finally:
            conn.close()

    assert await asyncio.to_thread(send) == 413
    await still_serves(server)


async def test_authentication(tmp_path: Path) -> None:
    """With a username configured, no or wrong credentials get 401 and right ones get through."""
    inet = InetHttpServerConfig(host="127.0.0.1", port=0, username="admin", password="s3cret")
    auth = AuthPolicy.from_configs(unix=None, inet=inet)
    async for server in start(tmp_path, auth=auth):
        for user, password in ((None, None), ("admin", "wrong"), ("other", "s3cret")):
            with pytest.raises(xmlrpc.client.ProtocolError) as info:
                await server.run(server.proxy(user, password).supervisor.getPID)
            assert info.value.errcode == 401
            assert info.value.headers["WWW-Authenticate"] == 'Basic realm="default"'
        assert await server.run(server.proxy("admin", "s3cret").supervisor.getPID) == 4242


async def test_bugs_behind_a_method_are_500_and_serving_goes_on(server: Server) -> None:
    """A control that raises unexpectedly, or a result XML-RPC cannot carry, is HTTP 500 only."""

    def broken() -> str:
        raise RuntimeError("bug")

    server.fake.identification = broken  # type: ignore[method-assign]
    server.fake.pid = lambda: 2**40  # type: ignore[method-assign]
    for method in ("getIdentification", "getPID"):
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            await server.run(getattr(server.proxy().supervisor, method))
        assert info.value.errcode == 500
    await still_serves(server)
