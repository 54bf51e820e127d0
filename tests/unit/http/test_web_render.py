"""The web UI's pure parts: rows, buttons, escaping, messages, limits and the CSRF rule."""

from __future__ import annotations

import re

import pytest

from supervisor_core import control
from supervisor_core.http.web import TAIL_MAX, cross_site_refusal, message_location, tail_limit
from supervisor_core.http.webui import render
from supervisor_core.http.webui.actions import Action, Outcome, echo, find_process, parse_action
from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES, ProcessState, SupervisorState

from .fake_control import NOW, FakeProcess, make_fake, running


def info(
    name: str = "web", group: str = "web", state: ProcessState = ProcessState.STOPPED, **kw: object
) -> control.ProcessInfo:
    p = FakeProcess(name=name, group=group, state=state)
    for key, value in kw.items():
        setattr(p, key, value)
    return p.snapshot(NOW)


def view(*processes: control.ProcessInfo, outcome: Outcome | None = None) -> render.StatusView:
    return render.StatusView(
        identification="host-1",
        daemon_state=SupervisorState.RUNNING,
        daemon_pid=4242,
        processes=processes,
        now=NOW,
        outcome=outcome,
    )


def visible_buttons(row_html: str) -> list[str]:
    return [
        value
        for value, hidden in re.findall(
            r'<button type="submit" name="action" value="(\w+)"[^>]*?( hidden)?>', row_html
        )
        if not hidden
    ]


def test_processes_are_sorted_by_group_then_name() -> None:
    """The table lists processes by (group, name) as supervisord does, not by priority."""
    fake = make_fake()
    names = [p.namespec for p in render.sorted_processes(fake.groups())]
    assert names == ["broken", "web:web_0", "web:web_1", "worker"]


@pytest.mark.parametrize(
    ("state", "buttons", "css"),
    [
        (ProcessState.RUNNING, ["restart", "stop", "clearlog"], "state-running"),
        (ProcessState.STOPPED, ["start", "clearlog"], "state-nominal"),
        (ProcessState.EXITED, ["start", "clearlog"], "state-nominal"),
        (ProcessState.FATAL, ["start", "clearlog"], "state-error"),
        (ProcessState.BACKOFF, ["stop", "clearlog"], "state-error"),
        (ProcessState.STARTING, ["stop", "clearlog"], "state-nominal"),
        (ProcessState.STOPPING, ["clearlog"], "state-nominal"),
        (ProcessState.UNKNOWN, ["clearlog"], "state-nominal"),
    ],
)
def test_row_offers_the_actions_of_its_state(
    state: ProcessState, buttons: list[str], css: str
) -> None:
    """Each state shows exactly its buttons (others hidden) and its badge colour class."""
    row = render.render_row(info(state=state))
    assert visible_buttons(row) == buttons
    assert f'<span class="badge {css}">{state.name}</span>' in row
    assert f'data-state="{state.name}"' in row


def test_running_row_has_pid_uptime_and_tail_links() -> None:
    """A RUNNING row shows supervisord's description and links its tail page and logtails."""
    p = FakeProcess(name="web_0", group="web", stdout_logfile="/l/o", stderr_logfile="/l/e")
    row = render.render_row(running(p, pid=77, start=NOW - 62).snapshot(NOW))
    assert '<td class="desc" data-label="Description">pid 77, uptime 0:01:02</td>' in row
    assert 'href="tail.html?processname=web:web_0"' in row
    assert 'href="logtail/web:web_0"' in row
    assert 'href="logtail/web:web_0/stderr"' in row
    assert 'data-pid="77"' in row


def test_no_logtail_links_without_log_files() -> None:
    """A process without stdout/stderr log files gets no dead tail -f links."""
    row = render.render_row(info())
    assert "logtail/" not in row


def test_everything_is_escaped() -> None:
    """Names, descriptions, messages and identification never reach the page as markup."""
    evil = '<script>alert("x")</script>'
    p = info(name=evil, group="g&'\"", state=ProcessState.FATAL, spawnerr="<b>boom</b>")
    page = render.render_status(
        render.StatusView(
            identification="<i>id</i>",
            daemon_state=SupervisorState.RUNNING,
            daemon_pid=1,
            processes=[p],
            now=NOW,
            outcome=Outcome(message="<img src=x onerror=alert(1)>", ok=False),
        )
    )
    assert "<script>alert" not in page
    assert "<b>boom" not in page
    assert "<i>id" not in page
    assert "<img src=x" not in page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # In attributes, quotes are escaped too, so no value can break out.
    assert 'data-namespec="g&amp;&#x27;&quot;:&lt;script&gt;' in page
    assert 'value="g&amp;&#x27;&quot;:&lt;script&gt;' in page


def test_message_banner_kinds() -> None:
    """Success is a status banner, failure an alert; no outcome, no banner."""
    assert render.render_message(None) == ""
    assert 'class="message ok" role="status"' in render.render_message(Outcome(message="fine"))
    assert 'role="alert"' in render.render_message(Outcome(message="bad", ok=False))


def test_empty_table_says_so() -> None:
    """With no processes the page says nothing is configured instead of an empty table."""
    page = render.render_status(view())
    assert "No processes are configured." in page
    assert "<table" not in page


def test_tail_page_links_refresh_switch_and_follow() -> None:
    """The tail page links its own refresh, the other channel and /logtail for tail -f."""
    page = render.render_tail(
        render.TailView(processname="g:a b", channel="stderr", limit=2048, text="<x>", path="/p")
    )
    assert 'href="tail.html?processname=g:a%20b&amp;limit=2048&amp;channel=stderr"' in page
    assert 'href="tail.html?processname=g:a%20b&amp;limit=2048&amp;channel=stdout"' in page
    assert 'href="logtail/g:a%20b/stderr"' in page
    assert "&lt;x&gt;" in page
    assert "last 2048 bytes of stderr (/p)" in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, 1024),
        ("", 1024),
        ("10", 1024),
        ("5000", 5000),
        ("abc", 1024),
        ("-5", 1024),
        ("²", 1024),
        (str(10**12), TAIL_MAX),
    ],
)
def test_tail_limit(text: str | None, expected: int) -> None:
    """limit: decimal digits only, at least 1024 (supervisord's floor), at most TAIL_MAX."""
    assert tail_limit(text) == expected


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),
        ({"Sec-Fetch-Site": "same-origin"}, False),
        ({"Sec-Fetch-Site": "none"}, False),
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "http://127.0.0.1:9001"}, False),
        ({"Origin": "http://evil.example"}, True),
        ({"Origin": "null"}, True),
        # The browser's own Sec-Fetch-Site wins over an Origin a proxy may have changed.
        ({"Sec-Fetch-Site": "same-origin", "Origin": "https://proxy.example"}, False),
    ],
)
def test_cross_site_refusal(headers: dict[str, str], refused: bool) -> None:
    """Only same-origin or user-typed requests may change state; scripts without headers pass."""
    result = cross_site_refusal(headers, own_origin="http://127.0.0.1:9001")
    assert (result is not None) == refused
    if refused:
        assert result is not None
        assert result.startswith("ERROR: refused")


def test_message_location_marks_errors() -> None:
    """After an action the browser goes to index.html with the message (and level=error)."""
    assert message_location(Outcome(message="Process a started")) == (
        "index.html?message=Process+a+started"
    )
    assert message_location(Outcome(message="x", ok=False)).endswith("&level=error")


def test_parse_action_and_echo() -> None:
    """Known actions parse; unknown ones are an error outcome listing the known ones."""
    assert parse_action(None) is None
    assert parse_action("") is None
    assert parse_action("stopall") is Action.STOPALL
    unknown = parse_action("explode")
    assert isinstance(unknown, Outcome)
    assert not unknown.ok
    assert "'explode'" in unknown.message
    assert "restartall" in unknown.message
    assert echo("x" * 500).endswith("…")
    assert len(echo("x" * 500)) == 201


def test_find_process_by_namespec() -> None:
    """name and group:name find a process; a group spec or a stranger finds none."""
    groups = make_fake().groups()
    found = find_process(groups, "web:web_1")
    assert found is not None
    assert found.name == "web_1"
    worker = find_process(groups, "worker:worker")
    assert worker is not None
    assert worker.name == "worker"
    assert find_process(groups, "worker") is not None
    assert find_process(groups, "web:*") is None
    assert find_process(groups, "web") is None
    assert find_process(groups, "nope") is None


def test_page_carries_the_restart_rule_for_its_script() -> None:
    """The body's data-restart-causes lists exactly the core's automatic restart causes."""
    page = render.render_status(view(info()))
    match = re.search(r'data-restart-causes="([^"]*)"', page)
    assert match is not None
    assert set(match.group(1).split()) == {c.value for c in AUTOMATIC_RESTART_CAUSES}
    assert "starts caused by autorestart, damped, retry" in page


def test_feed_filter_lists_every_program_escaped() -> None:
    """The feed's program filter offers "all programs" and every namespec, escaped."""
    page = render.render_status(view(info("a<b>", "g"), info("web")))
    select = re.search(r'<select id="feed-filter">(.*?)</select>', page)
    assert select is not None
    assert re.findall(r'<option value="([^"]*)">', select.group(1)) == ["", "g:a&lt;b&gt;", "web"]


def test_row_carries_hidden_storm_badge_and_live_cells() -> None:
    """Each row has a hidden STORM badge and hidden CPU, memory and last-exit cells, labelled
    for the narrow layout; the script shows them when the server has the data."""
    row = render.render_row(info("web"))
    assert '<span class="storm" hidden>STORM</span>' in row
    for cell, label in (("cpu", "CPU"), ("mem", "Memory"), ("exit", "Last exit")):
        assert f'<td class="{cell}" data-label="{label}" hidden>\u2014</td>' in row
    assert '<td class="actions" data-label="Actions">' in row
