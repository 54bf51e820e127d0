"""The web UI over HTTP (aiohttp test client, fake control): pages, actions, auth, bad input."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from supervisor_core.config.model import InetHttpServerConfig
from supervisor_core.http import AuthPolicy, make_app
from supervisor_core.http.web import WebUI
from supervisor_core.lifecycle import ProcessState, SupervisorState
from tests.unit.http.fake_control import FakeControl, make_fake, running

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    control = make_fake(str(tmp_path))
    running(control.process("web:web_0"), pid=101)
    running(control.process("worker"), pid=102)
    return control


@pytest.fixture
async def client(fake: FakeControl) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(fake), host="127.0.0.1")) as c:
        yield c


def write_log(path: str, data: bytes) -> None:
    """Write a log file (a sync helper: tiny files, no loop stall worth a thread)."""
    Path(path).write_bytes(data)


async def act(client: Client, method: str = "POST", **form: str) -> tuple[str, bool]:
    """Run one action; return the redirect's message and whether it was a success."""
    if method == "POST":
        response = await client.post(
            "/index.html", data=form, allow_redirects=False, headers=SAME_ORIGIN
        )
    else:
        response = await client.get("/index.html", params=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert location.startswith("index.html?")
    query = parse_qs(urlsplit(location).query)
    # The page it leads to shows the message in its banner.
    page = await (await client.get("/" + location)).text()
    banner = "message ok" if "level" not in query else "message error"
    assert banner in page
    return query["message"][0], "level" not in query


async def test_status_page_lists_every_process(client: Client) -> None:
    """/ and /index.html render the table with states, descriptions and security headers."""
    for path in ("/", "/index.html"):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        page = await response.text()
        for namespec in ("web:web_0", "web:web_1", "worker", "broken"):
            assert f'data-namespec="{namespec}"' in page
        assert "pid 101, uptime 0:01:02" in page
        assert "fake-supervisor" in page


async def test_post_stop_then_start(client: Client, fake: FakeControl) -> None:
    """POST stop/start wait for the outcome and redirect with supervisord's messages."""
    assert await act(client, processname="web:web_0", action="stop") == (
        "Process web:web_0 stopped",
        True,
    )
    assert fake.process("web:web_0").state is ProcessState.STOPPED
    assert await act(client, processname="web:web_0", action="start") == (
        "Process web:web_0 started",
        True,
    )
    assert fake.process("web:web_0").state is ProcessState.RUNNING


async def test_get_query_string_api_is_supported(client: Client, fake: FakeControl) -> None:
    """supervisord's GET links (index.html?processname=x&action=stop) still work."""
    assert await act(client, "GET", processname="worker", action="stop") == (
        "Process worker stopped",
        True,
    )
    assert fake.process("worker").state is ProcessState.STOPPED


async def test_restart_stops_then_starts(client: Client, fake: FakeControl) -> None:
    """restart is a stop awaited to the end, then a start awaited to RUNNING."""
    assert await act(client, processname="worker", action="restart") == (
        "Process worker restarted",
        True,
    )
    assert fake.calls == ["stop worker", "start worker"]
    assert fake.process("worker").state is ProcessState.RUNNING


async def test_restart_of_a_stopped_process_just_starts_it(
    client: Client, fake: FakeControl
) -> None:
    """Restarting a STOPPED process starts it without a stop attempt."""
    assert (await act(client, processname="web:web_1", action="restart"))[1]
    assert fake.calls == ["start web:web_1"]


async def test_clearlog(client: Client, fake: FakeControl) -> None:
    """clearlog truncates the process's logs; a failure says so."""
    assert await act(client, processname="worker", action="clearlog") == (
        "Log for worker cleared",
        True,
    )
    assert fake.process("worker").logs_cleared == 1
    fake.process("worker").clear_fails = True
    message, ok = await act(client, processname="worker", action="clearlog")
    assert not ok
    assert message == "ERROR: Process worker: failed"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("abnormal", "ERROR: Process broken: abnormal termination"),
        ("spawnerr", "ERROR: Process broken: spawn error (can't find command)"),
        ("nofile", "ERROR: Process broken: no such file (no such file: /bin/broken)"),
        ("noexec", "ERROR: Process broken: file not executable (/bin/broken is not executable)"),
    ],
)
async def test_failed_starts_say_why(
    client: Client, fake: FakeControl, outcome: str, message: str
) -> None:
    """A start that fails reports supervisord's reason plus the detail it leaves out."""
    fake.process("broken").start_outcome = outcome
    assert await act(client, processname="broken", action="start") == (message, False)


async def test_wrong_state_errors(client: Client) -> None:
    """Starting a running or stopping a stopped process is a clear error message."""
    assert await act(client, processname="worker", action="start") == (
        "ERROR: Process worker: already started",
        False,
    )
    assert await act(client, processname="web:web_1", action="stop") == (
        "ERROR: Process web:web_1: not running",
        False,
    )


async def test_bad_input_is_a_message_never_a_500(client: Client, fake: FakeControl) -> None:
    """Unknown processes and actions, or a missing name, redirect with a clear message."""
    assert await act(client, processname="nope<b>", action="stop") == (
        "No such process named nope<b>",
        False,
    )
    assert await act(client, processname="web:*", action="stop") == (
        "No such process named web:*",
        False,
    )
    message, ok = await act(client, processname="worker", action="explode")
    assert not ok
    assert message.startswith("ERROR: unknown action 'explode'")
    assert await act(client, action="start") == (
        "ERROR: action 'start' needs a processname",
        False,
    )
    message, ok = await act(client, processname="x" * 5000, action="stop")
    assert not ok
    assert len(message) < 300
    assert fake.calls == []


async def test_stopall_and_restartall(client: Client, fake: FakeControl) -> None:
    """Stop all stops every running process; restart all stops then starts everything."""
    message, ok = await act(client, action="stopall")
    assert ok
    assert message.startswith("All stopped at ")
    assert all(p.state is not ProcessState.RUNNING for g in fake.groups() for p in g.processes)
    message, ok = await act(client, action="restartall")
    # 'broken' fails to start: the message names it.
    assert not ok
    assert message.startswith("ERROR: All restarted at ")
    assert message.endswith("except: broken (ABNORMAL_TERMINATION: broken)")
    assert fake.process("web:web_1").state is ProcessState.RUNNING


async def test_refresh_message_uses_the_clock(fake: FakeControl) -> None:
    """refresh changes nothing and says when the page was refreshed (local ctime)."""
    app = web.Application()
    app.router.add_routes(WebUI(fake, clock=lambda: 0.0).routes())
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        message, ok = await act(c, "GET", action="refresh")
    assert ok
    assert message.startswith("Page refreshed at ")
    assert message.endswith(("1970", "1969"))
    assert fake.calls == []


async def test_a_start_that_hangs_times_out_with_a_message(fake: FakeControl) -> None:
    """A wait longer than action_timeout stops waiting (not the process) and says so."""
    fake.process("broken").start_outcome = "hang"
    app = web.Application()
    app.router.add_routes(WebUI(fake, action_timeout=0.05).routes())
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        message, ok = await act(c, processname="broken", action="start")
    assert not ok
    assert message == (
        "ERROR: Process broken: still STARTING after 0.05s; it carries on without the page waiting"
    )
    assert fake.process("broken").state is ProcessState.STARTING


async def test_nothing_is_done_while_shutting_down(client: Client, fake: FakeControl) -> None:
    """While the daemon shuts down actions are refused with a message, the page still renders."""
    fake.state = SupervisorState.SHUTDOWN
    assert await act(client, processname="worker", action="stop") == (
        "ERROR: superd is shutting down; nothing was done",
        False,
    )
    assert fake.calls == []
    assert "SHUTDOWN" in await (await client.get("/")).text()


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://x"}],
)
async def test_cross_site_actions_are_refused(
    client: Client, fake: FakeControl, headers: dict[str, str]
) -> None:
    """A state-changing action from another site is 403 and does nothing (CSRF)."""
    for method in ("GET", "POST"):
        form = {"processname": "worker", "action": "stop"}
        if method == "GET":
            response = await client.get("/index.html", params=form, headers=headers)
        else:
            response = await client.post("/index.html", data=form, headers=headers)
        assert response.status == 403
        assert "ERROR: refused" in await response.text()
    assert fake.calls == []
    assert fake.process("worker").state is ProcessState.RUNNING


async def test_cross_site_refresh_and_bad_action_are_harmless(client: Client) -> None:
    """refresh and unknown actions change nothing, so they are not refused as CSRF."""
    cross = {"Sec-Fetch-Site": "cross-site"}
    for action in ("refresh", "explode"):
        response = await client.get(
            "/", params={"action": action}, headers=cross, allow_redirects=False
        )
        assert response.status == 303


async def test_head_never_acts(client: Client, fake: FakeControl) -> None:
    """A HEAD request with an action renders (headers only) and does nothing."""
    response = await client.head("/index.html", params={"processname": "worker", "action": "stop"})
    assert response.status == 200
    assert fake.calls == []


async def test_message_from_the_query_is_escaped_and_shortened(client: Client) -> None:
    """?message= is shown escaped (it echoes the URL) and cut at 500 characters."""
    page = await (await client.get("/", params={"message": "<script>x</script>"})).text()
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    page = await (await client.get("/", params={"message": "y" * 2000})).text()
    assert "y" * 500 + "…" in page
    assert "y" * 501 not in page


async def test_post_body_overrides_the_query(client: Client, fake: FakeControl) -> None:
    """As in supervisord, a POSTed field wins over the same query-string field."""
    response = await client.post(
        "/index.html?processname=worker&action=stop",
        data={"processname": "web:web_0"},
        headers=SAME_ORIGIN,
        allow_redirects=False,
    )
    assert response.status == 303
    assert fake.calls == ["stop web:web_0"]


async def test_unreadable_post_body_is_400(client: Client) -> None:
    """A multipart body without a boundary is the client's error, not ours."""
    response = await client.post(
        "/index.html",
        data=b"garbage",
        headers={"Content-Type": "multipart/form-data", **SAME_ORIGIN},
    )
    assert 400 <= response.status < 500


async def test_tail_page(client: Client, fake: FakeControl) -> None:
    """tail.html shows the last `limit` bytes (at least 1024), escaped, with tail -f links."""
    write_log(fake.process("worker").stdout_logfile, b"A" * 3000 + b"<b>end</b>\x1b[0m")
    response = await client.get("/tail.html", params={"processname": "worker", "limit": "1500"})
    assert response.status == 200
    page = await response.text()
    body = page.split('<pre id="tail" class="tail">', 1)[1].split("</pre>", 1)[0]
    assert body == "A" * 1486 + "&lt;b&gt;end&lt;/b&gt;\ufffd[0m"
    assert 'href="logtail/worker"' in page
    assert "tail.html?processname=worker&amp;limit=1500" in page
    short = await (await client.get("/tail.html", params={"processname": "worker"})).text()
    assert "A" * 1010 + "&lt;b&gt;" in short
    assert "A" * 1011 not in short


async def test_tail_page_stderr_channel(client: Client, fake: FakeControl) -> None:
    """channel=stderr shows the stderr log and links its tail -f."""
    write_log(fake.process("worker").stderr_logfile, b"oops\n")
    response = await client.get("/tail.html", params={"processname": "worker", "channel": "stderr"})
    page = await response.text()
    assert ">oops\n</pre>" in page
    assert 'href="logtail/worker/stderr"' in page


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({}, 400, "No process name found"),
        ({"processname": ""}, 400, "No process name found"),
        ({"processname": "nope"}, 404, "No such process named nope"),
        ({"processname": "worker", "channel": "both"}, 400, "channel must be stdout or stderr"),
        ({"processname": "worker"}, 404, "No file for worker (stdout)"),
        ({"processname": "broken"}, 404, "No file for broken (stdout)"),
    ],
)
async def test_tail_page_bad_input(
    client: Client, params: dict[str, str], status: int, text: str
) -> None:
    """Bad tail requests get a page with a clear message and a 4xx, never a 500."""
    response = await client.get("/tail.html", params=params)
    assert response.status == status
    assert text in await response.text()


async def test_static_files_and_ok(client: Client) -> None:
    """The script and stylesheet are served with their types; nothing else under /webui."""
    js = await client.get("/webui/superd.js")
    assert js.status == 200
    assert js.content_type == "text/javascript"
    assert "EventSource" in await js.text()
    css = await client.get("/webui/superd.css")
    assert css.content_type == "text/css"
    for path in ("/webui/status.html", "/webui/..%2F__init__.py", "/webui/"):
        assert (await client.get(path)).status == 404
    ok = await client.get("/ok.html")
    assert await ok.text() == "OK"


async def test_pages_need_the_servers_credentials(fake: FakeControl) -> None:
    """With a username on the server, every page is 401 without credentials (like /RPC2)."""
    policy = AuthPolicy.from_configs(
        unix=None, inet=InetHttpServerConfig(host="127.0.0.1", port=0, username="op", password="pw")
    )
    async with TestClient(TestServer(make_app(fake, auth=policy), host="127.0.0.1")) as c:
        for path in ("/", "/index.html", "/tail.html?processname=worker", "/webui/superd.js"):
            response = await c.get(path)
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        response = await c.get("/index.html", params={"processname": "worker", "action": "stop"})
        assert response.status == 401
        assert fake.calls == []
        good: dict[str, Any] = {
            "Authorization": "Basic " + base64.b64encode(b"op:pw").decode(),
        }
        assert (await c.get("/", headers=good)).status == 200
        wrong = {"Authorization": "Basic " + base64.b64encode(b"op:nope").decode()}
        assert (await c.get("/", headers=wrong)).status == 401


async def test_restartall_that_hangs_times_out_with_a_message(fake: FakeControl) -> None:
    """A bulk action that outlasts action_timeout reports so instead of hanging the browser."""
    fake.process("broken").start_outcome = "hang"
    app = web.Application()
    app.router.add_routes(WebUI(fake, action_timeout=0.05).routes())
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        message, ok = await act(c, action="restartall")
    assert not ok
    assert message == "ERROR: not done after 0.05s; the table shows where it is"
    assert fake.process("broken").state is ProcessState.STARTING
