"""Hostile and malformed HTTP requests against the real supervisord and superd.

Each request of the table goes to both daemons' inet servers (basic auth on); the
HTTP status (and, for 200, the XML-RPC fault code) is asserted for each daemon,
and after every request both must still answer ``getState`` with credentials.
Where supervisord does something else than superd (it answers 500 to a garbled
Authorization header and to wrongly typed arguments, accepts a 20 MB body, hangs on
an empty one, answers 400 to GET /RPC2), the table records both behaviours and
docs/compatibility.md explains ours.
"""

from __future__ import annotations

import base64
import http.client
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.ctl_diff import PASSWORD, USER, Daemon, running_daemons

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REQUEST_TIMEOUT = 30.0


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


GOOD_AUTH = basic(USER, PASSWORD)


def call(method: str, *params: object) -> bytes:
    """An XML-RPC methodCall body."""
    return xmlrpc.client.dumps(params, method).encode()


def _laughs(levels: int = 9) -> bytes:
    # The "billion laughs": each entity expands to ten of the previous one.
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, levels + 1)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE lolz [' + entities + b"]><methodCall>"
        b"<methodName>supervisor.getState</methodName><params><param><value><string>"
        b"&lol%d;</string></value></param></params></methodCall>" % levels
    )


EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<methodCall><methodName>supervisor.getState</methodName><params><param><value>"
    b"<string>&e;</string></value></param></params></methodCall>"
)
TWENTY_MB = (
    b'<?xml version="1.0"?><methodCall><methodName>supervisor.getState</methodName><params>'
    b"<param><value><string>" + b"A" * (20 * 1024 * 1024) + b"</string></value></param>"
    b"</params></methodCall>"
)


@dataclass(frozen=True)
class Case:
    """One request and what each daemon answers: an HTTP status, or (200, fault code).

    ``supervisord`` None: not sent to supervisord (it never answers).
    """

    name: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    superd: tuple[int, int | None]
    supervisord: tuple[int, int | None] | None


CASES = [
    Case(
        "no credentials", "POST", "/RPC2", call("supervisor.getState"), {}, (401, None), (401, None)
    ),
    Case(
        "wrong password",
        "POST",
        "/RPC2",
        call("supervisor.getState"),
        basic(USER, "wrong"),
        (401, None),
        (401, None),
    ),
    Case(
        "unknown user",
        "POST",
        "/RPC2",
        call("supervisor.getState"),
        basic("nobody", PASSWORD),
        (401, None),
        (401, None),
    ),
    Case(
        "garbled Authorization",
        "POST",
        "/RPC2",
        call("supervisor.getState"),
        {"Authorization": "Basic !!!"},
        (401, None),
        (500, None),
    ),
    Case(
        "logtail without credentials", "GET", "/logtail/sleeper", b"", {}, (401, None), (401, None)
    ),
    Case(
        "mainlogtail without credentials", "GET", "/mainlogtail", b"", {}, (401, None), (401, None)
    ),
    Case("20 MB body", "POST", "/RPC2", TWENTY_MB, GOOD_AUTH, (413, None), (200, 2)),
    Case(
        "malformed XML",
        "POST",
        "/RPC2",
        b"<methodCall><methodName>x",
        GOOD_AUTH,
        (400, None),
        (400, None),
    ),
    Case("not XML", "POST", "/RPC2", b"hello", GOOD_AUTH, (400, None), (400, None)),
    Case("empty body", "POST", "/RPC2", b"", GOOD_AUTH, (400, None), None),
    Case(
        "no methodName",
        "POST",
        "/RPC2",
        b'<?xml version="1.0"?><methodCall><params></params></methodCall>',
        GOOD_AUTH,
        (400, None),
        (400, None),
    ),
    Case("entity expansion", "POST", "/RPC2", _laughs(), GOOD_AUTH, (400, None), (400, None)),
    Case("external entity", "POST", "/RPC2", EXTERNAL_ENTITY, GOOD_AUTH, (400, None), (400, None)),
    Case("unknown method", "POST", "/RPC2", call("supervisor.nope"), GOOD_AUTH, (200, 1), (200, 1)),
    Case(
        "private method", "POST", "/RPC2", call("supervisor._update"), GOOD_AUTH, (200, 1), (200, 1)
    ),
    Case(
        "wrong argument count",
        "POST",
        "/RPC2",
        call("supervisor.getState", 1),
        GOOD_AUTH,
        (200, 2),
        (200, 2),
    ),
    Case(
        "wrong argument type",
        "POST",
        "/RPC2",
        call("supervisor.getProcessInfo", 1),
        GOOD_AUTH,
        (200, 2),
        (500, None),
    ),
    Case(
        "wrong offset type",
        "POST",
        "/RPC2",
        call("supervisor.readLog", "x", 0),
        GOOD_AUTH,
        (200, 2),
        (500, None),
    ),
    Case("GET /RPC2", "GET", "/RPC2", b"", GOOD_AUTH, (405, None), (400, None)),
    Case("unknown path", "GET", "/nope", b"", GOOD_AUTH, (404, None), (404, None)),
    Case("logtail of no process", "GET", "/logtail/nope", b"", GOOD_AUTH, (404, None), (404, None)),
]


def send(daemon: Daemon, case: Case) -> tuple[int, int | None]:
    """The status of ``case`` against ``daemon`` and, for an XML-RPC fault, its code."""
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(case.method, case.path, body=case.body, headers=case.headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        return response.status, None
    try:
        xmlrpc.client.loads(body)
    except xmlrpc.client.Fault as fault:
        return 200, fault.faultCode
    return 200, None


def still_serving(daemon: Daemon) -> bool:
    """getState over http:// with the right credentials answers RUNNING."""
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{daemon.port}/RPC2"
    with xmlrpc.client.ServerProxy(url) as proxy:
        return bool(proxy.supervisor.getState()["statename"] == "RUNNING")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Daemon]]:
    """A real supervisord and a superd on the same config, stopped by pid at the end."""
    base: Path = tmp_path_factory.mktemp("bad-input")
    with running_daemons(base, [("real", "supervisord"), ("ours", "superd")]) as (real, ours):
        yield real, ours


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_request_gets_its_error_and_the_daemon_keeps_serving(
    pair: tuple[Daemon, Daemon], case: Case
) -> None:
    """Each bad request gets its documented answer from each daemon; both serve afterwards."""
    real, ours = pair
    assert send(ours, case) == case.superd
    assert still_serving(ours)
    if case.supervisord is not None:
        assert send(real, case) == case.supervisord
        assert still_serving(real)


def test_many_bad_requests_in_a_row_leave_superd_serving(pair: tuple[Daemon, Daemon]) -> None:
    """A burst of hostile requests on one keep-alive connection leaves superd intact."""
    _, ours = pair
    connection = http.client.HTTPConnection("127.0.0.1", ours.port, timeout=REQUEST_TIMEOUT)
    try:
        for body in (_laughs(), b"<x", call("supervisor.nope"), EXTERNAL_ENTITY) * 5:
            connection.request("POST", "/RPC2", body=body, headers=GOOD_AUTH)
            response = connection.getresponse()
            response.read()
            assert response.status in (200, 400)
    finally:
        connection.close()
    assert still_serving(ours)
