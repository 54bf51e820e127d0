"""Fuzzed ``/events``, ``/events/restarts`` and ``/storms`` queries to a real superd (issue 19).

The module's daemon has a history worth filtering: programs started and stopped by
an operator, a crash loop that becomes a restart storm and ends, a remote
communication event, ticks. Each example is one query with any mix of parameters,
valid or not, repeated or not. Properties:

- never a 5xx; a bad value is a 400 whose message names one of the bad parameters
  (by the rules a reference validator below states independently of the handler);
- a valid query answers exactly what a reference filter computes over the full,
  unfiltered ``/events`` history (types and families, ``exclude``, ``process``
  selectors, ``cause``, ``since``, ``since_time``, ``last``, ``limit``), as JSON
  lines and as a Server-Sent Events stream (with ``Last-Event-ID``);
- ``/events/restarts`` counts what the reference counts from the history, and
  ``/storms?since=`` keeps exactly the ended storms the unfiltered answer has from then on.

``tests/fuzzing.py`` says how to run longer with fresh inputs.
"""

from __future__ import annotations

import json
import math
import sys
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import installed_event_types
from supervisor_core.lifecycle import Cause
from tests.fuzzing import Answer, free_port, fuzz_settings, request
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MAX_LIMIT = 1_000_000  # the documented bound of limit and last
SINGLE = ("since", "since_time", "last", "limit")
KNOWN = {*SINGLE, "types", "exclude", "process", "cause"}
RESTART_CAUSES = {"autorestart", "damped", "retry"}  # supervisor_process_restarts_total's rule
CRASHES = 4

# Crashes CRASHES times (a counter in a file), then stays up: autorestarts, a storm.
CRASHER = """\
import pathlib, sys, time
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
if n < {crashes}:
    sys.exit(3)
time.sleep(86400)
"""


Event = dict[str, Any]


class Daemon:
    """The module's superd with its history, and the HTTP calls the tests make."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        (tmp / "crasher.py").write_text(CRASHER.format(crashes=CRASHES))
        text = base_config(tmp) + f"[inet_http_server]\nport = 127.0.0.1:{self.port}\n\n"
        text += "[exporter:storms]\nburst = 2\nwindow = 1s\n\n"
        text += "[program:a]\ncommand = /bin/sleep 86400\nstartsecs = 0\n\n"
        text += (
            f"[program:crash]\ncommand = {sys.executable} {tmp / 'crasher.py'} "
            f"{tmp / 'count'}\nstartsecs = 0\nautorestart = true\n\n"
        )
        text += (
            "[program:b]\ncommand = /bin/sleep 86400\nstartsecs = 0\nnumprocs = 2\n"
            "process_name = %(program_name)s_%(process_num)d\n\n[group:g]\nprograms = b\n\n"
        )
        self.superd = Superd(tmp, text)
        self.superd.wait_running()
        self.superd.wait_states(
            {"a": "RUNNING", "crash": "RUNNING", "b_0": "RUNNING", "b_1": "RUNNING"}
        )
        wait_for(lambda: (tmp / "count").read_text() == str(CRASHES + 1), "the crash loop ended")
        self.superd.call("stopProcess", "a")
        self.superd.call("startProcess", "a")
        self.superd.call("stopProcess", "g:b_1")
        self.superd.call("sendRemoteCommEvent", "fuzz", "hello")
        wait_for(lambda: self.storms()["ended"], "the storm ended")
        # What the strategies draw from: fixed once, so that hypothesis replays the
        # same inputs (ticks keep adding events, the snapshot does not move).
        self.initial_history, self.initial_next_serial = self.history()
        self.initial_storms = self.storms()["ended"]

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        """GET ``path`` (query included)."""
        return request(self.port, "GET", path, headers=headers)

    def history(self) -> tuple[list[Event], int]:
        """The whole journaled history and the next serial."""
        answer = self.get(f"/events?limit={MAX_LIMIT}")
        assert answer.status == 200, answer
        return _lines(answer.body), int(answer.headers["x-next-serial"])

    def storms(self) -> dict[str, Any]:
        """The unfiltered /storms answer."""
        answer = self.get("/storms")
        assert answer.status == 200, answer
        result: dict[str, Any] = json.loads(answer.body)
        return result


def _lines(body: bytes) -> list[Event]:
    return [json.loads(line) for line in body.splitlines() if line]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    started = Daemon(tmp_path_factory.mktemp("fuzz-events"))
    try:
        yield started
    finally:
        started.superd.close()


@pytest.fixture(scope="module")
def registry() -> EventTypeRegistry:
    """The event types a superd on this host knows (supervisord's and the extensions')."""
    return installed_event_types()


# --- the reference: which parameters are bad, and what a valid query selects ---------


def _integer(text: str, maximum: float) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 <= value <= maximum else None


def _unix_time(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _items(pairs: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [item for key, value in pairs if key == name for item in value.split(",") if item]


def _process_ok(spec: str) -> bool:
    return (
        bool(spec) and spec.strip() == spec and not spec.startswith(":") and not spec.endswith(":")
    )


@dataclass(frozen=True, slots=True)
class Valid:
    """A query the reference accepts: its values."""

    since: int
    since_time: float | None
    last: int | None
    limit: int | None
    types: list[str]
    exclude: list[str]
    processes: list[str]
    causes: list[str]


def validate(
    pairs: Sequence[tuple[str, str]], registry: EventTypeRegistry, next_serial: int
) -> Valid | set[str]:
    """The query's values, or the names of every bad parameter (the documented rules)."""
    bad: set[str] = set()
    keys = [key for key, _ in pairs]
    bad |= {key for key in keys if key not in KNOWN}
    bad |= {key for key in SINGLE if keys.count(key) > 1}
    values = dict(pairs)
    since = _integer(values.get("since", "0"), next_serial)
    limit = _integer(values["limit"], MAX_LIMIT) if "limit" in values else None
    last = _integer(values["last"], MAX_LIMIT) if "last" in values else None
    since_time = _unix_time(values["since_time"]) if "since_time" in values else None
    for name, parsed in (("since", since), ("limit", limit), ("last", last)):
        if name in values and parsed is None:
            bad.add(name)
    if "since_time" in values and since_time is None:
        bad.add("since_time")
    names = set(registry.names())
    for name in ("types", "exclude"):
        if any(item not in names for item in _items(pairs, name)):
            bad.add(name)
    if any(not _process_ok(item) for item in _items(pairs, "process")):
        bad.add("process")
    causes = {cause.value for cause in Cause}
    if any(item not in causes for item in _items(pairs, "cause")):
        bad.add("cause")
    if bad:
        return bad
    assert since is not None
    return Valid(
        since=since,
        since_time=since_time,
        last=last,
        limit=limit,
        types=_items(pairs, "types"),
        exclude=_items(pairs, "exclude"),
        processes=_items(pairs, "process"),
        causes=_items(pairs, "cause"),
    )


def _process_matches(spec: str, event_: Event) -> bool:
    group, colon, name = spec.partition(":")
    if not colon:
        return bool(event_.get("processname") == spec)
    if event_.get("groupname") != group:
        return False
    return name == "*" or event_.get("processname") == name


def selected(query: Valid, event_: Event, registry: EventTypeRegistry) -> bool:
    """Whether the reference filter keeps ``event_``."""
    kind = event_["type"]
    if query.types and not any(registry.is_subtype(kind, t) for t in query.types):
        return False
    if any(registry.is_subtype(kind, t) for t in query.exclude):
        return False
    if query.causes and event_.get("cause") not in query.causes:
        return False
    return not query.processes or any(_process_matches(p, event_) for p in query.processes)


def expected(
    query: Valid,
    history: list[Event],
    until: int,
    registry: EventTypeRegistry,
    default_limit: int | None,
) -> list[int]:
    """The serials a valid query answers over ``history`` cut at ``until``."""
    chosen = [e for e in history if e["serial"] < until and selected(query, e, registry)]
    start = query.since
    if query.since_time is not None:
        at = [e["serial"] for e in history if e["wall_time"] >= query.since_time]
        start = max(start, min(at) if at else until)
    if query.last is not None:
        if query.last == 0:
            start = until
        elif len(chosen) >= query.last:
            start = max(start, chosen[-query.last]["serial"])
    limit = query.limit if query.limit is not None else default_limit
    serials = [e["serial"] for e in chosen if e["serial"] >= start]
    return serials if limit is None else serials[:limit]


# --- strategies -----------------------------------------------------------------------


def _mostly(good: st.SearchStrategy[str], *bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``good`` three times in four, else one of ``bad``: most queries get past the
    checks and reach the filter, the rest probe the checks."""
    odd = st.one_of(*bad)
    return st.integers(0, 3).flatmap(lambda i: good if i else odd)


def _numbers(upper: int) -> st.SearchStrategy[str]:
    # Never just past ``upper``: the next serial grows with ticks, so only values far
    # beyond it are sure to be refused.
    return _mostly(
        st.one_of(st.integers(0, upper).map(str), st.just(str(upper + 1000))),
        st.sampled_from(["-1", "", " 3", "+2", "1e3", "0x10", "1_0", str(MAX_LIMIT + 1), "١٢"]),
        st.integers().map(str),
        st.text(max_size=6),
    )


def _times(history: list[Event]) -> st.SearchStrategy[str]:
    walls = [e["wall_time"] for e in history]
    return _mostly(
        st.one_of(
            st.floats(min(walls) - 1, max(walls) + 1).map(repr),
            st.sampled_from([repr(w) for w in walls]),
        ),
        st.sampled_from(["nan", "inf", "-inf", "-1", "1e400", "", "0", "abc", "1,5"]),
        st.text(max_size=6),
    )


def _lists(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(words, min_size=1, max_size=3).map(",".join)


def queries(
    registry: EventTypeRegistry, history: list[Event], next_serial: int
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Lists of (parameter, value) pairs: mostly plausible, sometimes anything."""
    type_names = _mostly(
        st.sampled_from(sorted(registry.names())),
        st.sampled_from(["process_state", "PROCESS_STATE_", "TICK_7", "*", " TICK_5", ""]),
        st.text(max_size=8),
    )
    processes = _mostly(
        st.sampled_from(["a", "crash", "b_0", "g:b_0", "g:*", "a:a", "crash:*", "g:b_1", "x"]),
        st.sampled_from(["g:", ":b_0", " a", "a\t", "crash:"]),
        st.text(max_size=6),
    )
    causes = _mostly(
        st.sampled_from([c.value for c in Cause]),
        st.sampled_from(["AUTORESTART", "x", " operator"]),
        st.text(max_size=5),
    )
    per_key = {
        "since": _numbers(next_serial),
        "since_time": _times(history),
        "last": _numbers(len(history)),
        "limit": _numbers(len(history)),
        "types": _lists(type_names),
        "exclude": _lists(type_names),
        "process": _lists(processes),
        "cause": _lists(causes),
    }
    key = _mostly(
        st.sampled_from(sorted(per_key)),
        st.sampled_from(["name", "Since", "types[]", ""]),
        st.text(max_size=5),
    )
    pair = key.flatmap(lambda k: per_key.get(k, st.text(max_size=5)).map(lambda v: (k, v)))
    return st.lists(pair, max_size=4)


def _path(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    return base + ("?" + urllib.parse.urlencode(pairs) if pairs else "")


def _check_refusal(answer: Answer, bad: set[str]) -> None:
    assert answer.status == 400, (answer.status, answer.body[:300], bad)
    message = answer.body.decode(errors="replace")
    assert any(repr(name) in message or f"{name}:" in message for name in bad), (message, bad)
    event("400")


# --- the properties -----------------------------------------------------------------


@given(data=st.data())
@fuzz_settings(200)
def test_events_query_matches_the_reference_filter(
    daemon: Daemon, registry: EventTypeRegistry, data: st.DataObject
) -> None:
    """Any /events query is refused with 400 naming a bad parameter, or answers as
    JSON lines exactly the events the reference filter selects from the full history."""
    strategy = queries(registry, daemon.initial_history, daemon.initial_next_serial)
    pairs = data.draw(strategy, label="query")
    _history, next_serial = daemon.history()
    answer = daemon.get(_path("/events", pairs))
    verdict = validate(pairs, registry, next_serial)
    if isinstance(verdict, set):
        _check_refusal(answer, verdict)
        return
    assert answer.status == 200, (answer.status, answer.body[:300], pairs)
    until = int(answer.headers["x-next-serial"])
    full, _ = daemon.history()
    got = [e["serial"] for e in _lines(answer.body)]
    assert got == expected(verdict, full, until, registry, default_limit=10_000), pairs
    # Each event is the very object the unfiltered history has.
    by_serial = {e["serial"]: e for e in full}
    assert all(by_serial[e["serial"]] == e for e in _lines(answer.body))
    event("empty" if not got else "events")


def _sse(daemon: Daemon, path: str, last_event_id: str | None) -> tuple[Answer, list[Event]]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    answer = daemon.get(path, headers)
    events: list[Event] = []
    ids: list[int] = []
    for line in answer.body.decode().splitlines():
        if line.startswith("id: "):
            ids.append(int(line[4:]))
        elif line.startswith("data: "):
            events.append(json.loads(line[6:]))
    assert ids == [e["serial"] for e in events]
    return answer, events


@given(data=st.data())
@fuzz_settings(120)
def test_event_stream_query_matches_the_reference_filter(
    daemon: Daemon, registry: EventTypeRegistry, data: st.DataObject
) -> None:
    """Any SSE query (with or without Last-Event-ID) is refused with 400 naming a bad
    parameter, or streams the events the reference filter selects, in order."""
    strategy = queries(registry, daemon.initial_history, daemon.initial_next_serial)
    pairs = data.draw(strategy, label="query")
    last_event_id = data.draw(
        st.one_of(
            st.none(),
            st.integers(0, daemon.initial_next_serial - 1).map(str),
            st.sampled_from(["-1", "x", "1e2", str(daemon.initial_next_serial + 1000)]),
        ),
        label="Last-Event-ID",
    )
    history, next_serial = daemon.history()
    verdict = validate(pairs, registry, next_serial)
    if last_event_id is not None and _integer(last_event_id, max(next_serial - 1, 0)) is None:
        verdict = (verdict if isinstance(verdict, set) else set()) | {"Last-Event-ID"}
    if isinstance(verdict, set):
        answer, _ = _sse(daemon, _path("/events", pairs), last_event_id)
        _check_refusal(answer, verdict)
        return
    if last_event_id is not None:
        verdict = Valid(**{**_fields(verdict), "since": int(last_event_id) + 1})
    # A stream never ends by itself: ask for at most what the history holds, so it
    # ends after the last one (a tick published meanwhile is retried below).
    for _attempt in range(3):
        want = expected(verdict, history, next_serial, registry, default_limit=None)
        bounded = [(k, v) for k, v in pairs if k != "limit"] + [("limit", str(len(want)))]
        answer, events = _sse(daemon, _path("/events", bounded), last_event_id)
        assert answer.status == 200, (answer.status, answer.body[:300], pairs)
        history_after, next_after = daemon.history()
        if next_after == next_serial:
            break
        history, next_serial = history_after, next_after
    else:
        pytest.fail("the history kept growing during three streams")
    assert [e["serial"] for e in events] == want, (pairs, last_event_id)
    by_serial = {e["serial"]: e for e in history}
    assert all(by_serial[e["serial"]] == e for e in events)
    event("empty" if not events else "events")


def _fields(query: Valid) -> dict[str, Any]:
    return {name: getattr(query, name) for name in Valid.__slots__}


def test_restarts_count_what_the_history_holds(daemon: Daemon) -> None:
    """/events/restarts counts the automatic restarts since the daemon's start that the
    full history shows, per process."""
    answer = daemon.get("/events/restarts")
    assert answer.status == 200
    body = json.loads(answer.body)
    history, _ = daemon.history()
    until = int(answer.headers["x-next-serial"])
    start = max(e["serial"] for e in history if e["type"] == "SUPERVISOR_DAEMON_START")
    counts = Counter(
        (e["groupname"], e["processname"])
        for e in history
        if start <= e["serial"] < until
        and e["type"] == "PROCESS_STATE_STARTING"
        and e.get("cause") in RESTART_CAUSES
    )
    assert counts[("crash", "crash")] == CRASHES
    assert body["since"] == start
    assert {(r["groupname"], r["processname"]): r["restarts"] for r in body["restarts"]} == counts


@given(
    pairs=st.lists(
        st.tuples(st.one_of(st.just("since"), st.text(max_size=5)), st.text(max_size=8)), max_size=3
    )
)
@fuzz_settings(60)
def test_restarts_refuse_any_parameter(daemon: Daemon, pairs: list[tuple[str, str]]) -> None:
    """/events/restarts takes no parameter: any one is a 400 naming it."""
    answer = daemon.get(_path("/events/restarts", pairs))
    if not pairs:
        assert answer.status == 200
        return
    _check_refusal(answer, {key for key, _ in pairs})


@given(data=st.data())
@fuzz_settings(100)
def test_storms_since_keeps_the_storms_ended_from_then_on(
    daemon: Daemon, data: st.DataObject
) -> None:
    """/storms?since=T is a 400 naming the parameter for a bad T, else exactly the
    ended storms of the unfiltered answer that ended at or after T."""
    ends = [s["end"] for s in daemon.initial_storms]
    since = st.one_of(
        st.sampled_from([repr(end) for end in ends]),
        st.floats(min(ends) - 2, max(ends) + 2).map(repr),
        st.sampled_from(["nan", "inf", "-inf", "", "x", "1e400", "-1"]),
        st.text(max_size=6),
    )
    key = st.one_of(st.just("since"), st.sampled_from(["until", "Since"]), st.text(max_size=4))
    pairs = data.draw(st.lists(st.tuples(key, since), max_size=2), label="query")
    every = daemon.storms()["ended"]
    answer = daemon.get(_path("/storms", pairs))
    bad = {k for k, _ in pairs if k != "since"}
    values = [v for k, v in pairs if k == "since"]
    value = values[0] if values else None
    if len(values) > 1 or (value is not None and not _finite(value)):
        bad.add("since")
    if bad:
        _check_refusal(answer, bad)
        return
    assert answer.status == 200, (answer.status, answer.body[:300], pairs)
    ended = json.loads(answer.body)["ended"]
    threshold = -math.inf if value is None else float(value)
    assert ended == [s for s in every if s["end"] >= threshold], pairs


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("since=nan", "since"),
        ("since=inf", "since"),
        ("since=-inf", "since"),
        ("since=1&since=2", "since"),
        ("=1", "''"),
    ],
)
def test_storms_refuses_what_selects_nothing_by_accident(
    daemon: Daemon, query: str, named: str
) -> None:
    """/storms answers 400 naming the parameter for a non-finite ``since`` (NaN used
    to select no storm at all), a repeated one (the first won silently) and an unknown
    parameter with an empty name."""
    answer = daemon.get(f"/storms?{query}")
    assert answer.status == 400
    assert named in answer.body.decode()


def test_a_remote_communication_keeps_its_own_type_apart(daemon: Daemon) -> None:
    """The event ``sendRemoteCommEvent("fuzz", "hello")`` made is typed
    REMOTE_COMMUNICATION on /events, with the client's type beside it (the client's
    ``type`` once overwrote the event type)."""
    (found,) = [e for e in daemon.initial_history if e.get("data") == "hello"]
    assert found["type"] == "REMOTE_COMMUNICATION"
    assert found["remote_communication_type"] == "fuzz"
    answer = daemon.get("/events?types=REMOTE_COMMUNICATION")
    assert [e["serial"] for e in _lines(answer.body)] == [found["serial"]]


def test_the_daemon_survived_the_queries(daemon: Daemon) -> None:
    """After every fuzzed query the daemon still answers and logged no traceback."""
    assert daemon.superd.call("getState")["statename"] == "RUNNING"
    assert "Traceback" not in daemon.superd.stdout_text()
