"""A real Chromium (Debian package, driven by Playwright) against a real superd's web UI.

The browser logs in with the ``[inet_http_server]`` credentials, stops and starts a
program with the page's buttons, watches a killed program come back through
``/events`` without reloading, and opens the tail page. Every wait is Playwright's
``expect``/``wait_for_function`` with a bounded timeout; superd's side is checked over
XML-RPC. The browser never downloads anything: ``executable_path`` is the Debian
``/usr/bin/chromium`` and the flags turn off its background networking.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import missing_peer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000
USER, PASSWORD = "op", "s3cret"

# Says hello on stdout (for the tail page), then waits for its stop signal.
HELLO = """\
import signal, sys
print(f"hello from {sys.argv[1]} <b>not bold</b>", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (superd binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def web_config(tmp: Path, port: int, extra: str = "") -> str:
    """Two programs, alpha and beta, and an inet server with basic auth."""
    (tmp / "hello.py").write_text(HELLO)
    programs = "".join(
        f"[program:{name}]\ncommand = {sys.executable} {tmp / 'hello.py'} {name}\n"
        "startsecs = 0\nstopwaitsecs = 5\n\n"
        for name in ("alpha", "beta")
    )
    return (
        base_config(tmp)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n"
        + f"username = {USER}\npassword = {PASSWORD}\n\n"
        + programs
        + extra
    )


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Playwright's Chromium type, or skip (locally) / fail (CI=true) without the peers."""
    if not os.access(CHROMIUM, os.X_OK):
        missing_peer(f"{CHROMIUM} not installed (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_peer("the playwright Python package is not installed (test extra)")
        raise AssertionError("unreachable") from None
    with sync_playwright() as playwright:
        yield playwright.chromium


@contextmanager
def browser(chromium: Any, profile: Path) -> Iterator[BrowserContext]:
    """A fresh Chromium profile that answers superd's basic-auth challenge."""
    context: BrowserContext = chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        http_credentials={"username": USER, "password": PASSWORD},
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def running_superd(tmp: Path, text: str, *, also: tuple[str, ...] = ()) -> Iterator[Superd]:
    """superd on ``text``, once alpha, beta and the ``also`` programs are RUNNING (others
    may be in any state)."""
    superd = Superd(tmp, text, "-n")
    try:
        names = ("alpha", "beta", *also)
        wait_for(
            lambda: all(superd.states().get(name) == "RUNNING" for name in names),
            f"{names} RUNNING",
        )
        yield superd
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()


def get_json(port: int, path: str) -> Any:
    """``GET path`` on superd's inet server, with the test's credentials, as JSON."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def row(page: Page, namespec: str) -> Any:
    return page.locator(f'tr[data-namespec="{namespec}"]')


def test_operator_session_in_chromium(chromium: Any, tmp_path: Path) -> None:
    """Stop/start from the page agree with XML-RPC; a killed program's row updates live."""
    from playwright.sync_api import expect

    port = free_port()
    with (
        running_superd(tmp_path, web_config(tmp_path, port)) as superd,
        browser(chromium, tmp_path / "profile") as context,
    ):
        page = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(f"http://127.0.0.1:{port}/")
        assert response is not None
        assert response.status == 200
        for name in ("alpha", "beta"):
            expect(row(page, name).locator(".badge")).to_have_text("RUNNING")
        expect(page.locator("#live")).to_have_text("Live: following /events")

        # Stop alpha with its button: the page waits for STOPPED and says so.
        row(page, "alpha").locator('button[value="stop"]').click()
        expect(page.locator(".message.ok")).to_have_text("Process alpha stopped")
        expect(row(page, "alpha").locator(".badge")).to_have_text("STOPPED")
        assert superd.call("getProcessInfo", "alpha")["statename"] == "STOPPED"
        expect(row(page, "alpha").locator('button[value="stop"]')).to_be_hidden()
        # The feed says why: an operator, through this page, as user op.
        stopping = page.locator("#feed li", has_text="RUNNING \u2192 STOPPING").first
        expect(stopping.locator(".cause")).to_have_text("operator")
        expect(stopping.locator(".origin")).to_contain_text("by web, 127.0.0.1, user op")

        row(page, "alpha").locator('button[value="start"]').click()
        expect(page.locator(".message.ok")).to_have_text("Process alpha started")
        expect(row(page, "alpha").locator(".badge")).to_have_text("RUNNING")
        assert superd.call("getProcessInfo", "alpha")["statename"] == "RUNNING"

        # Kill beta behind the page's back: /events brings the new pid, no reload.
        expect(page.locator("#live")).to_have_text("Live: following /events")
        page.evaluate("window.__sameDocument = true")
        old_pid = superd.call("getProcessInfo", "beta")["pid"]
        os.kill(old_pid, signal.SIGKILL)
        page.wait_for_function(
            """([name, old]) => {
                const tr = document.querySelector(`tr[data-namespec="${name}"]`);
                return tr.dataset.state === "RUNNING" && !["0", old].includes(tr.dataset.pid);
            }""",
            arg=["beta", str(old_pid)],
            timeout=TIMEOUT_MS,
        )
        assert page.evaluate("window.__sameDocument") is True
        new_pid = int(row(page, "beta").get_attribute("data-pid") or "0")
        wait_for(lambda: superd.call("getProcessInfo", "beta")["pid"] == new_pid, "beta's pid")
        expect(row(page, "beta").locator("td.desc")).to_contain_text(f"pid {new_pid}, uptime")
        expect(row(page, "beta").locator("td.restarts")).to_have_text("1")
        expect(row(page, "alpha").locator("td.restarts")).to_have_text("0")
        expect(page.locator("#feed li").first).to_contain_text("beta")
        expect(page.locator("#feed")).to_contain_text("killed by SIGKILL, unexpected")
        restart = page.locator("#feed li", has_text="EXITED \u2192 STARTING").first
        expect(restart.locator(".cause.restart")).to_have_text("autorestart")
        expect(restart).to_contain_text("restart #1")
        expect(restart.locator(".origin")).to_have_count(0)  # nobody asked
        # alpha's start by the operator is a start, not a restart.
        starting = page.locator("#feed li", has_text="STOPPED \u2192 STARTING").first
        expect(starting.locator(".cause")).to_have_text("operator")
        expect(starting.locator(".cause.restart")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "status.png"), full_page=True)

        # The tail page: alpha's stdout, escaped, and the link for tail -f.
        row(page, "alpha").locator("td.name a").click()
        expect(page).to_have_url(re.compile(r"/tail\.html\?processname=alpha$"))
        expect(page.locator("#tail")).to_contain_text("hello from alpha <b>not bold</b>")
        expect(page.locator('a.tailf[href="logtail/alpha"]')).to_be_visible()
        page.screenshot(path=str(tmp_path / "tail.png"), full_page=True)
        assert errors == []


def test_without_events_the_page_offers_a_manual_refresh(chromium: Any, tmp_path: Path) -> None:
    """With the journal (and so /events) off, the page says so and links a refresh; CPU,
    memory and last exit still come from /metrics."""
    from playwright.sync_api import expect

    port = free_port()
    text = web_config(tmp_path, port, "[exporter:journal]\nenabled = false\n")
    with (
        running_superd(tmp_path, text) as superd,
        browser(chromium, tmp_path / "profile") as context,
    ):
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/index.html")
        live = page.locator("#live")
        expect(live).to_contain_text("Live updates are off")
        expect(live.locator('a[href="index.html"]')).to_have_text("Refresh")
        expect(page.locator("#feed-section")).to_be_hidden()
        expect(row(page, "alpha").locator("td.restarts")).to_be_hidden()
        expect(row(page, "alpha").locator("td.mem")).to_have_text(re.compile(r"^\d+\.\d MiB$"))
        expect(row(page, "alpha").locator("td.exit")).to_have_text("\u2014")
        # No exit events without /events: after a reload the last exit is /metrics' code.
        old_pid = superd.call("getProcessInfo", "alpha")["pid"]
        os.kill(old_pid, signal.SIGKILL)
        wait_for(
            lambda: superd.call("getProcessInfo", "alpha")["pid"] not in (0, old_pid),
            "alpha restarted",
        )
        page.reload()
        expect(row(page, "alpha").locator("td.exit")).to_have_text("killed by signal 9")
        # The forms work all the same.
        row(page, "beta").locator('button[value="stop"]').click()
        expect(page.locator(".message.ok")).to_have_text("Process beta stopped")
        assert superd.call("getProcessInfo", "beta")["statename"] == "STOPPED"


# Crashes (exit 3) on its first two runs, then says hello and stays up.
CRASH_TWICE = """\
import pathlib, runpy, sys
counter = pathlib.Path(sys.argv[1])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
if runs <= 2:
    sys.exit(3)
sys.argv = [sys.argv[2], "gamma"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_restarts_column_counts_from_the_cause(chromium: Any, tmp_path: Path) -> None:
    """Damped restarts from before the page opened come from the server's count, later ones
    from the live events' cause; a stop and start by the operator adds nothing."""
    from playwright.sync_api import expect

    port = free_port()
    (tmp_path / "crash_twice.py").write_text(CRASH_TWICE)
    counter = tmp_path / "gamma.runs"
    gamma = (
        f"[program:gamma]\ncommand = {sys.executable} {tmp_path / 'crash_twice.py'} {counter}"
        f" {tmp_path / 'hello.py'}\nstartsecs = 0\nautorestart = true\n"
        "backoff_initial = 0.3\nbackoff_factor = 1\nbackoff_max = 0.3\n\n"
    )
    superd = Superd(tmp_path, web_config(tmp_path, port, gamma), "-n")
    try:
        wait_for(
            lambda: (
                counter.exists()
                and counter.read_text() == "3"
                and superd.states() == {"alpha": "RUNNING", "beta": "RUNNING", "gamma": "RUNNING"}
            ),
            "gamma up after two damped restarts",
        )
        with browser(chromium, tmp_path / "profile") as context:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#live")).to_have_text("Live: following /events")
            # Two damped restarts, both before the page opened: the server's count.
            expect(row(page, "gamma").locator("td.restarts")).to_have_text("2")
            expect(row(page, "alpha").locator("td.restarts")).to_have_text("0")
            expect(page.locator("#feed .cause.restart", has_text="damped")).to_have_count(2)
            # Live: a kill brings a third damped restart.
            os.kill(superd.call("getProcessInfo", "gamma")["pid"], signal.SIGKILL)
            expect(row(page, "gamma").locator("td.restarts")).to_have_text("3")
            restart = page.locator("#feed li", has_text="gamma").filter(has_text="restart #3")
            expect(restart.locator(".cause")).to_have_text("damped")
            # The operator's restart of gamma (stop, then start) is not a restart.
            expect(row(page, "gamma").locator(".badge")).to_have_text("RUNNING")
            row(page, "gamma").locator('button[value="restart"]').click()
            expect(page.locator(".message.ok")).to_have_text("Process gamma restarted")
            expect(page.locator("#live")).to_have_text("Live: following /events")
            expect(row(page, "gamma").locator("td.restarts")).to_have_text("3")
            counts = page.evaluate("fetch('events/restarts').then((response) => response.json())")
            assert {(c["processname"], c["restarts"]) for c in counts["restarts"]} == {("gamma", 3)}
            assert errors == []
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()


# Runs for a moment, then fails: an automatic restart every ~0.3 s, a storm at once.
CRASH_LOOP = """\
import time, sys
time.sleep(0.3)
sys.exit(7)
"""


def test_storm_badge_from_storms_and_live_events(chromium: Any, tmp_path: Path) -> None:
    """A program already in a storm opens with a STORM badge (from /storms); the badge goes
    with the live PROCESS_STORM_END of a stop and comes back with a live PROCESS_STORM_BEGIN."""
    from playwright.sync_api import expect

    port = free_port()
    (tmp_path / "crash_loop.py").write_text(CRASH_LOOP)
    extra = (
        f"[program:delta]\ncommand = {sys.executable} {tmp_path / 'crash_loop.py'}\n"
        "startsecs = 0\nautorestart = true\n\n"
        "[exporter:storms]\nburst = 2\nwindow = 60s\n"
    )
    superd = Superd(tmp_path, web_config(tmp_path, port, extra), "-n")
    try:
        wait_for(
            lambda: any(s["name"] == "delta" for s in get_json(port, "/storms")["current"]),
            "delta in a storm",
        )
        with browser(chromium, tmp_path / "profile") as context:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#live")).to_have_text("Live: following /events")
            storm = row(page, "delta").locator(".storm")
            expect(storm).to_be_visible()
            expect(storm).to_have_text("STORM")
            expect(storm).to_have_attribute(
                "title", re.compile(r"^restart storm since \d\d:\d\d:\d\d: \d+ automatic restarts$")
            )
            expect(row(page, "alpha").locator(".storm")).to_be_hidden()
            # A stop ends the storm: the live PROCESS_STORM_END takes the badge away.
            row(page, "delta").locator('button[value="stop"]').click()
            expect(page.locator(".message.ok")).to_have_text("Process delta stopped")
            expect(page.locator("#live")).to_have_text("Live: following /events")
            expect(row(page, "delta").locator(".storm")).to_be_hidden()
            ends = page.locator("#feed li", has_text="restart storm ends").first
            expect(ends).to_contain_text("delta")
            expect(ends).to_contain_text("stopped")  # the detector's reason
            assert get_json(port, "/storms")["current"] == []
            # Started again, it storms again: the live PROCESS_STORM_BEGIN brings the badge.
            row(page, "delta").locator('button[value="start"]').click()
            expect(page.locator("#live")).to_have_text("Live: following /events")
            expect(row(page, "delta").locator(".storm")).to_be_visible()
            begins = page.locator("#feed li", has_text="restart storm begins").first
            expect(begins).to_contain_text("delta")
            expect(begins).to_contain_text("2 restarts")
            # The last exit is the program's own code, from the exit events.
            expect(row(page, "delta").locator("td.exit")).to_have_text("exit 7")
            page.screenshot(path=str(tmp_path / "storm.png"), full_page=True)
            assert errors == []
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()


# Burns CPU until told to stop (for the CPU column).
BUSY = """\
import signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    pass
"""


@pytest.mark.parametrize("width", [1280, 720, 400])
def test_resources_layout_and_feed_filter(chromium: Any, tmp_path: Path, width: int) -> None:
    """At 1280, 720 and 400 px: CPU, memory and last exit per program from /metrics and
    events, every Actions button on screen without sideways scrolling (one labelled card per
    process from 720 px down), and a feed filtered by program."""
    from playwright.sync_api import expect

    port = free_port()
    (tmp_path / "busy.py").write_text(BUSY)
    extra = f"[program:busy]\ncommand = {sys.executable} {tmp_path / 'busy.py'}\nstartsecs = 0\n\n"
    with (
        running_superd(tmp_path, web_config(tmp_path, port, extra), also=("busy",)) as superd,
        browser(chromium, tmp_path / "profile") as context,
    ):
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        readings: list[float] = []
        page.on(
            "request",
            lambda request: (
                readings.append(time.monotonic()) if request.url.endswith("/metrics") else None
            ),
        )
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#live")).to_have_text("Live: following /events")
        # Narrow: no header row, each cell labelled by its own ::before.
        expect(page.locator("table.status thead")).to_be_visible(visible=width > 720)
        label = page.evaluate(
            """() => getComputedStyle(document.querySelector("td.actions"), "::before").content"""
        )
        assert label == ('"Actions"' if width <= 720 else "none")
        # Nothing is wider than the window: no sideways scrolling to reach a button.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for button in page.locator("td.actions button:visible").all():
            box = button.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= width
        # CPU needs two /metrics readings; busy spins, so it shows a share of a core.
        expect(row(page, "busy").locator("td.cpu")).to_have_text(re.compile(r"^[1-9]\d*\.\d%$"))
        # /metrics is read when the page opens, then every 3 s (timers never fire early).
        assert len(readings) >= 2
        assert min(b - a for a, b in itertools.pairwise(readings)) >= 2.9
        expect(row(page, "alpha").locator("td.mem")).to_have_text(re.compile(r"^\d+\.\d MiB$"))
        expect(row(page, "alpha").locator("td.exit")).to_have_text("\u2014")
        # Kill beta: its last exit says how, live, and the CPU/memory of the new run follow.
        old_pid = superd.call("getProcessInfo", "beta")["pid"]
        os.kill(old_pid, signal.SIGKILL)
        expect(row(page, "beta").locator("td.exit")).to_have_text("killed by SIGKILL")
        # Stop alpha (the button is reachable at this width): its figures go blank.
        row(page, "alpha").locator('button[value="stop"]').click()
        expect(page.locator(".message.ok")).to_have_text("Process alpha stopped")
        expect(page.locator("#live")).to_have_text("Live: following /events")
        expect(row(page, "alpha").locator("td.mem")).to_have_text("\u2014")
        expect(row(page, "alpha").locator("td.cpu")).to_have_text("\u2014")
        expect(row(page, "alpha").locator("td.exit")).to_have_text(re.compile(r"^(exit 0|killed)"))
        # The feed, filtered to beta, shows beta's events only; "all" brings the rest back.
        feed = page.locator("#feed li")
        expect(feed.filter(has_text="alpha").first).to_be_visible()
        page.locator("#feed-filter").select_option("beta")
        expect(feed.filter(has_text="killed by SIGKILL").first).to_be_visible()
        visible = page.locator("#feed li:visible .who")
        expect(visible.first).to_have_text("beta")
        assert set(visible.all_text_contents()) == {"beta"}
        expect(feed.filter(has_text="alpha").first).to_be_hidden()
        page.screenshot(path=str(tmp_path / f"status-{width}.png"), full_page=True)
        page.locator("#feed-filter").select_option("")
        expect(feed.filter(has_text="alpha").first).to_be_visible()
        assert errors == []


def test_without_the_storm_extension_the_page_stays_live(chromium: Any, tmp_path: Path) -> None:
    """With ``[exporter:storms] enabled = false`` (/storms answers 404) the page follows
    /events without storm events and shows no STORM badge on a crash-looping program."""
    from playwright.sync_api import expect

    port = free_port()
    (tmp_path / "crash_loop.py").write_text(CRASH_LOOP)
    extra = (
        f"[program:delta]\ncommand = {sys.executable} {tmp_path / 'crash_loop.py'}\n"
        "startsecs = 0\nautorestart = true\n\n"
        "[exporter:storms]\nenabled = false\nburst = 2\n"
    )
    with (
        running_superd(tmp_path, web_config(tmp_path, port, extra)),
        browser(chromium, tmp_path / "profile") as context,
    ):
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#live")).to_have_text("Live: following /events")
        # Live: delta's restarts keep coming in, and none of them brings a badge.
        restarts = row(page, "delta").locator("td.restarts")
        before = int(restarts.inner_text())
        page.wait_for_function(
            """([name, before]) => {
                const tr = document.querySelector(`tr[data-namespec="${name}"]`);
                return parseInt(tr.querySelector("td.restarts").textContent, 10) >= before + 3;
            }""",
            arg=["delta", before],
            timeout=TIMEOUT_MS,
        )
        expect(row(page, "delta").locator(".storm")).to_be_hidden()
        stream = [url for url in requests if "/events?" in url]
        assert stream
        assert all("STORM" not in url for url in stream)
