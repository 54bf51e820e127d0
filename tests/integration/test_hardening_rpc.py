"""Hostile XML-RPC arguments get supervisord's faults, never a 500 or an unparsable answer."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path

import aiohttp
import pytest

from supervisor_core.config.model import InetHttpServerConfig
from supervisor_core.faults import Faults
from supervisor_core.http import make_app, serving
from tests.unit.http.fake_control import FakeControl, make_fake

pytestmark = pytest.mark.integration

HUGE = 10**30


def nested_call(method: str, depth: int) -> bytes:
    """A methodCall whose one argument is a list nested ``depth`` deep."""
    return (
        b"<?xml version='1.0'?><methodCall><methodName>"
        + method.encode()
        + b"</methodName><params><param>"
        + b"<value><array><data>" * depth
        + b"</data></array></value>" * depth
        + b"</param></params></methodCall>"
    )


def call(method: str, *params: object) -> bytes:
    """A methodCall; ints beyond XML-RPC's 32 bits are written as ``<int>`` anyway,
    as a hostile client would (xmlrpc.client refuses to)."""
    values = []
    for param in params:
        if isinstance(param, int) and not isinstance(param, bool):
            values.append(f"<value><int>{param}</int></value>")
        else:
            values.append(xmlrpc.client.dumps((param,)).split("<param>\n")[1].split("</param>")[0])
    body = "".join(f"<param>{value}</param>" for value in values)
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName>"
        f"<params>{body}</params></methodCall>"
    ).encode()


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    control = make_fake(str(tmp_path))
    assert control.main_log is not None
    Path(control.main_log).write_bytes(b"main log line\n")
    Path(tmp_path / "worker.log").write_bytes(b"worker output\n")
    return control


CASES = [
    ("readLog huge offset", call("supervisor.readLog", HUGE, 0), Faults.BAD_ARGUMENTS),
    ("readLog huge negative", call("supervisor.readLog", -HUGE, 0), Faults.BAD_ARGUMENTS),
    ("readLog huge length", call("supervisor.readLog", 0, HUGE), Faults.BAD_ARGUMENTS),
    (
        "readProcessStdoutLog huge",
        call("supervisor.readProcessStdoutLog", "worker", HUGE, HUGE),
        Faults.BAD_ARGUMENTS,
    ),
    (
        "tailProcessStdoutLog huge",
        call("supervisor.tailProcessStdoutLog", "worker", HUGE, 10),
        Faults.BAD_ARGUMENTS,
    ),
    (
        "tailProcessStdoutLog huge length",
        call("supervisor.tailProcessStdoutLog", "worker", 0, -HUGE),
        Faults.BAD_ARGUMENTS,
    ),
    ("nested 1000 deep", nested_call("supervisor.startProcessGroup", 1000), Faults.BAD_NAME),
    (
        "nested in multicall",
        nested_call("supervisor.stopProcessGroup", 1000),
        Faults.BAD_NAME,
    ),
    (
        "binary group name",
        call("supervisor.startProcessGroup", xmlrpc.client.Binary(b"\x01\x1b[31m\x00\xff")),
        Faults.BAD_NAME,
    ),
    (
        "binary process name",
        call("supervisor.getProcessInfo", xmlrpc.client.Binary(b"web:\x07\x08")),
        Faults.INCORRECT_PARAMETERS,
    ),
]


@pytest.mark.parametrize(("name", "body", "code"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_arguments_get_a_fault_in_well_formed_xml(
    fake: FakeControl, name: str, body: bytes, code: Faults
) -> None:
    """Each hostile call is answered 200 with supervisord's fault code, in a response
    xmlrpc.client can parse, and the server keeps answering."""
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake), inet=inet) as bound, aiohttp.ClientSession() as session:
        assert bound.inet is not None
        url = f"http://127.0.0.1:{bound.inet[1]}/RPC2"
        async with session.post(url, data=body, headers={"Content-Type": "text/xml"}) as r:
            assert r.status == 200, name
            answer = await r.read()
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xmlrpc.client.loads(answer)
        assert fault.value.faultCode == code
        assert len(fault.value.faultString) < 300  # echoes are bounded
        async with session.post(url, data=call("supervisor.getPID")) as r:
            assert xmlrpc.client.loads(await r.read())[0] == (4242,)


async def test_reads_never_allocate_beyond_the_file(fake: FakeControl, tmp_path: Path) -> None:
    """A length far beyond the file (but a valid offset) reads what the file has."""
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake), inet=inet) as bound, aiohttp.ClientSession() as session:
        assert bound.inet is not None
        url = f"http://127.0.0.1:{bound.inet[1]}/RPC2"
        for body, expected in (
            (call("supervisor.readLog", 0, 2**62), "main log line\n"),
            (call("supervisor.readLog", 2**62, 0), ""),
            (
                call("supervisor.tailProcessStdoutLog", "worker", 0, 2**62),
                ["worker output\n", 14, False],
            ),
        ):
            async with session.post(url, data=body) as r:
                assert r.status == 200
                assert xmlrpc.client.loads(await r.read())[0][0] == expected
