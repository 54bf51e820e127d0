"""Fuzzed web page forms against a real superd (issue 19): hostile input is never a 5xx
and never markup.

Each example is one request from the page's own origin to the status or tail page
(GET with supervisord's query string, or a POSTed form) with any mix of ``action``,
``processname``, ``message``, ``level``, ``limit``, ``channel`` and unknown fields.
Every value may carry a marker tag; properties: the answer is 200, 303 (after an
action) or 4xx, never 5xx; the marker never comes back as markup (in the page or
in a redirect's ``Location``); the daemon logs no traceback and keeps serving.
``tests/fuzzing.py`` says how to run longer with fresh inputs.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzzing import free_port, fuzz_settings, request
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MARKER = "<x-fuzz a='1'>"
SETTLED = {"RUNNING", "STOPPED", "EXITED", "FATAL"}


class Daemon:
    """The module's superd: two sleeping programs and an inet port without auth."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        text = base_config(tmp) + f"[inet_http_server]\nport = 127.0.0.1:{self.port}\n\n"
        for name in ("a", "b"):
            text += (
                f"[program:{name}]\ncommand = /bin/sleep 86400\nstartsecs = 0\nstopwaitsecs = 1\n\n"
            )
        self.superd = Superd(tmp, text)
        self.superd.wait_states({"a": "RUNNING", "b": "RUNNING"})

    def settle(self) -> None:
        """Every program RUNNING again (an example may have stopped it)."""

        def settled() -> bool:
            states = self.superd.states()
            if not set(states.values()) <= SETTLED:
                return False
            for name, state in states.items():
                if state != "RUNNING":
                    self.superd.call("startProcess", name, False)
            return set(states.values()) == {"RUNNING"}

        wait_for(settled, "every program RUNNING")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = Daemon(tmp_path_factory.mktemp("fuzz-web"))
    try:
        yield started
    finally:
        started.superd.close()


TEXT = st.text(max_size=12)
WITH_MARKER = st.tuples(TEXT, TEXT).map(lambda pair: pair[0] + MARKER + pair[1])
FIELDS = {
    "action": st.one_of(
        st.sampled_from(
            ["start", "stop", "restart", "clearlog", "refresh", "restartall", "stopall"]
        ),
        TEXT,
        WITH_MARKER,
    ),
    "processname": st.one_of(
        st.sampled_from(["a", "b", "a:a", "nosuch", "a:", ":", "*", "../../etc/passwd"]),
        TEXT,
        WITH_MARKER,
    ),
    "message": st.one_of(TEXT, WITH_MARKER, st.text(min_size=600, max_size=700)),
    "level": st.one_of(st.sampled_from(["error", "info"]), TEXT),
    "limit": st.one_of(
        st.integers(-10, 2 * 1024 * 1024).map(str), st.sampled_from(["1e9", "", "٣"]), TEXT
    ),
    "channel": st.one_of(st.sampled_from(["stdout", "stderr"]), TEXT, WITH_MARKER),
}
FORMS = st.lists(
    st.one_of(
        st.sampled_from(sorted(FIELDS)).flatmap(lambda k: FIELDS[k].map(lambda v: (k, v))),
        st.tuples(WITH_MARKER, TEXT),
    ),
    max_size=5,
)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/", "/index.html", "/tail.html", "/ok.html"]),
    form=FORMS,
)
@fuzz_settings(200)
def test_fuzzed_forms_are_never_a_server_error_and_never_markup(
    daemon: Daemon, method: str, path: str, form: list[tuple[str, str]]
) -> None:
    """Any form on the status and tail pages gets 200, 303 or a 4xx, and no value of
    it comes back as markup."""
    daemon.settle()
    # Only UTF-8 encodable text can be sent in a URL or a form.
    encoded = urllib.parse.urlencode(
        [(k.encode("utf-8", "replace"), v.encode("utf-8", "replace")) for k, v in form]
    )
    headers = {"Sec-Fetch-Site": "same-origin"}
    if method == "GET":
        answer = request(daemon.port, "GET", f"{path}?{encoded}", headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = request(daemon.port, "POST", path, encoded.encode(), headers)
    event(f"HTTP {answer.status}")
    assert answer.status in {200, 303} or 400 <= answer.status < 500, answer.status
    assert MARKER.encode() not in answer.body
    assert MARKER not in urllib.parse.unquote(answer.headers.get("location", ""))
    assert "Traceback" not in daemon.superd.stdout_text()


def test_the_daemon_survived_the_forms(daemon: Daemon) -> None:
    """After every fuzzed form the daemon still answers and runs both programs."""
    daemon.settle()
    assert daemon.superd.call("getState")["statename"] == "RUNNING"
