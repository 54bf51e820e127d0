"""The journal's pure parts: row mapping, JSON, causes, filters, settings, retention, tails."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from multidict import MultiDict

from exporters.events_http import QueryError, parse_query, sse_message
from exporters.journal import (
    EventFilter,
    ProcessSpec,
    RetentionPolicy,
    SupervisorDaemonStart,
    event_json,
    event_row,
    parse_retention,
    settings_from_section,
)
from exporters.journal.rows import COLUMNS, record_from_row
from exporters.journal.settings import SECTION
from exporters.storms import register_storm_types
from supervisor_core.config.errors import ConfigError
from supervisor_core.config.model import ExtensionSection, Origin
from supervisor_core.events import (
    Event,
    EventData,
    EventTypeRegistry,
    ProcessGroupAdded,
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopping,
    RemoteCommunication,
    Tick5,
    UnknownEventType,
    listener_payload,
    to_json_dict,
)
from supervisor_core.lifecycle import Cause, ProcessState

CORE = EventTypeRegistry.with_core_types()


def stamp(data: EventData, serial: int = 7) -> Event:
    return Event(serial=serial, wall_time=1_700_000_000.5, monotonic_time=1000.25, data=data)


EXITED = ProcessStateExited(
    processname="web",
    groupname="site",
    from_state=ProcessState.RUNNING,
    cause=Cause.EXIT,
    run=3,
    episode=2,
    pid=4242,
    expected=False,
    returncode=-9,
    run_duration=3.5,
)
RESTART = ProcessStateStarting(
    processname="web",
    groupname="site",
    from_state=ProcessState.EXITED,
    cause=Cause.AUTORESTART,
    run=4,
    episode=2,
)


def test_exit_event_row_has_typed_columns_and_full_payload() -> None:
    """An unexpected exit maps to typed columns (states, cause, run, pid, status, signal,
    the event's own stderr tail) plus JSON."""
    event = stamp(replace(EXITED, stderr_tail=("boom", "bye")))
    row = dict(zip(COLUMNS, event_row(event), strict=True))
    assert row["serial"] == 7
    assert row["type"] == "PROCESS_STATE_EXITED"
    assert (row["groupname"], row["processname"]) == ("site", "web")
    assert (row["from_state"], row["to_state"]) == ("RUNNING", "EXITED")
    assert (row["cause"], row["run"], row["episode"]) == ("exit", 3, 2)
    assert (row["pid"], row["exit_status"], row["signal"], row["expected"]) == (4242, -9, 9, 0)
    assert row["run_duration"] == 3.5
    assert json.loads(str(row["stderr_tail"])) == {"lines": ["boom", "bye"]}
    payload = json.loads(str(row["payload"]))
    assert payload["signal_name"] == "SIGKILL"
    assert payload["wall_time"] == 1_700_000_000.5
    assert payload["cause"] == "exit"
    assert "stderr_tail" not in payload  # in its column, not twice


def test_requested_change_keeps_its_origin_and_restarts_are_told_by_cause() -> None:
    """A stop keeps who asked (payload origin); is_restart holds for automatic starts only."""
    stop = ProcessStateStopping(
        processname="web",
        groupname="site",
        from_state=ProcessState.RUNNING,
        cause=Cause.OPERATOR,
        origin="xmlrpc, unix socket pid 42 uid 0, superctl/0.1",
    )
    record = record_from_row(event_row(stamp(stop)))
    assert (record.cause, record.origin) == ("operator", stop.origin)
    assert not record.is_restart
    assert record_from_row(event_row(stamp(RESTART))).is_restart
    for cause in Cause:
        start = record_from_row(event_row(stamp(replace(RESTART, cause=cause))))
        assert start.is_restart is (cause in {Cause.AUTORESTART, Cause.DAMPED, Cause.RETRY})


def test_non_process_event_row_leaves_process_columns_empty() -> None:
    """A TICK has no group, process, states or exit facts; its payload keeps ``when``."""
    row = dict(zip(COLUMNS, event_row(stamp(Tick5(when=1_700_000_000))), strict=True))
    assert row["type"] == "TICK_5"
    for column in ("groupname", "processname", "from_state", "to_state", "cause", "run", "pid"):
        assert row[column] is None
    assert row["stderr_tail"] is None
    assert json.loads(str(row["payload"]))["when"] == 1_700_000_000


@pytest.mark.parametrize(
    ("data", "tail"),
    [
        (EXITED, ("a", "b")),
        (EXITED, ()),
        (EXITED, None),
        (RESTART, None),
        (
            ProcessStateRunning(
                processname="a",
                groupname="g",
                from_state=ProcessState.STARTING,
                cause=Cause.STARTSECS,
            ),
            None,
        ),
        (ProcessGroupAdded(groupname="g"), None),
        (RemoteCommunication(type="deploy", data="v2"), None),
        (SupervisorDaemonStart(pid=1, version="1", previous_serial=3), None),
    ],
)
def test_row_round_trip_gives_the_live_json(data: EventData, tail: tuple[str, ...] | None) -> None:
    """Reading a row back gives the event's own JSON object, the one live ``/events`` sends."""
    if tail is not None:
        assert isinstance(data, ProcessStateExited)
        data = replace(data, stderr_tail=tail)
    event = stamp(data)
    record = record_from_row(event_row(event))
    assert record.to_json_dict() == event_json(event) == to_json_dict(event)
    assert record.serial == 7
    assert record.stderr_tail == tail


def test_an_older_row_whose_payload_type_was_overwritten_reads_back_right() -> None:
    """A REMOTE_COMMUNICATION journaled before its ``type`` field was kept apart (the
    payload's ``type`` was the client's) reads back with the event type from the column
    and the client's type beside it, as the live event has them (issue 19)."""
    event = stamp(RemoteCommunication(type="deploy", data="v2"))
    row = list(event_row(event))
    old = {**to_json_dict(event), "type": "deploy"}
    del old["remote_communication_type"]
    row[COLUMNS.index("payload")] = json.dumps(old)
    assert record_from_row(row).to_json_dict() == to_json_dict(event)


def test_daemon_start_event_renders_for_listeners() -> None:
    """SUPERVISOR_DAEMON_START is a registered type with a key:value listener payload."""
    data = SupervisorDaemonStart(pid=10, version="0.1", previous_serial=41)
    assert data.event_name == "SUPERVISOR_DAEMON_START"
    assert listener_payload(data).startswith("pid:10 version:0.1 previous_serial:41")


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("text", "group", "name", "matches"),
    [
        ("web", "any", "web", True),
        ("web", "any", "db", False),
        ("site:web", "site", "web", True),
        ("site:web", "other", "web", False),
        ("site:*", "site", "db", True),
        ("site:*", "other", "db", False),
    ],
)
def test_process_spec(text: str, group: str, name: str, matches: bool) -> None:
    """Process selectors match supervisorctl's name, group:name and group:* forms."""
    assert ProcessSpec.parse(text).matches(group, name) is matches


@pytest.mark.parametrize("text", ["", ":web", "site:", " web"])
def test_bad_process_spec(text: str) -> None:
    """Empty halves and stray spaces are rejected."""
    with pytest.raises(ValueError, match="bad process name"):
        ProcessSpec.parse(text)


def test_filter_by_family_and_process() -> None:
    """A family selects its members; process selection ignores events without a process."""
    filter_ = EventFilter.build(registry=CORE, types=["PROCESS_STATE"], processes=["site:web"])
    assert filter_.matches(stamp(EXITED))
    assert not filter_.matches(stamp(ProcessGroupAdded(groupname="site")))
    assert "PROCESS_STATE_EXITED" in filter_.concrete_types()
    assert "PROCESS_STATE" not in filter_.concrete_types()
    where, params = filter_.sql()
    assert "type IN" in where
    assert params[-2:] == ["site", "web"]
    assert EventFilter().sql() == ("1", [])


def test_a_filter_resolves_names_in_the_registry_it_is_given() -> None:
    """A family covers the types of the registry given: the storm types only where registered."""
    with_storms = EventTypeRegistry.with_core_types()
    register_storm_types(with_storms)
    assert EventFilter.build(registry=with_storms, types=["STORM"]).concrete_types() == (
        "GROUP_STORM_BEGIN",
        "GROUP_STORM_END",
        "HOST_STORM_BEGIN",
        "HOST_STORM_END",
        "PROCESS_STORM_BEGIN",
        "PROCESS_STORM_END",
    )
    everything = EventFilter.build(registry=with_storms, types=["EVENT"])
    assert "PROCESS_STORM_BEGIN" in everything.concrete_types()
    assert "PROCESS_STORM_BEGIN" not in EventFilter.build(registry=CORE, types=["EVENT"]).concrete
    with pytest.raises(UnknownEventType, match="STORM"):
        EventFilter.build(registry=CORE, types=["STORM"])


def test_filter_by_cause_selects_state_changes_with_those_causes() -> None:
    """A cause filter matches live events and builds SQL on the cause column alike."""
    filter_ = EventFilter.build(registry=CORE, causes=["autorestart", "damped"])
    assert filter_.matches(stamp(RESTART))
    assert not filter_.matches(stamp(EXITED))
    assert not filter_.matches(stamp(Tick5(when=1)))  # no cause at all
    assert filter_.sql() == ("cause IN (?, ?)", ["autorestart", "damped"])
    with pytest.raises(ValueError, match=r"unknown cause 'crash' \(known: autostart, operator"):
        EventFilter.build(registry=CORE, causes=["crash"])


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("7d", RetentionPolicy(max_age=604800.0)),
        ("100MB", RetentionPolicy(max_bytes=100 * 1024 * 1024)),
        ("7d, 100MB", RetentionPolicy(max_age=604800.0, max_bytes=100 * 1024 * 1024)),
        ("1GB 2h", RetentionPolicy(max_age=7200.0, max_bytes=1024**3)),
        ("none", RetentionPolicy()),
    ],
)
def test_parse_retention(text: str, policy: RetentionPolicy) -> None:
    """Retention combines an age and a size in any order; ``none`` keeps everything."""
    assert parse_retention(text) == policy


@pytest.mark.parametrize("text", ["", "7d 8d", "1MB 2MB", "forever", "0d"])
def test_bad_retention(text: str) -> None:
    """Empty, doubled, zero or unknown retention values are refused."""
    with pytest.raises(ValueError):
        parse_retention(text)


def test_settings_defaults_live_under_childlogdir() -> None:
    """Without a section the journal is <childlogdir>/superd-journal.sqlite3, 7d/100MB."""
    settings = settings_from_section(
        ExtensionSection(name=SECTION), childlogdir="/var/log/sv", here="/etc/sv"
    )
    assert settings.path == "/var/log/sv/superd-journal.sqlite3"
    assert settings.retention == RetentionPolicy(max_age=604800.0, max_bytes=100 * 1024 * 1024)
    assert settings.notes == ()


def test_settings_parse_every_key() -> None:
    """Every key is parsed; a relative path is taken from the config file's directory."""
    values = {
        "path": "j.db",
        "retention": "1h",
        "batch_size": "10",
        "flush_interval": "10ms",
    }
    section = ExtensionSection(name=SECTION, values=values)
    settings = settings_from_section(section, childlogdir="/tmp", here="/etc/sv")
    assert settings.path == "/etc/sv/j.db"
    assert settings.retention == RetentionPolicy(max_age=3600.0)
    assert settings.batch_size == 10
    assert settings.flush_interval == pytest.approx(0.01)


def test_stderr_lines_is_accepted_and_noted_as_ignored() -> None:
    """The old stderr_lines key still parses, with a note naming its line and the new key."""
    section = ExtensionSection(
        name=SECTION, values={"stderr_lines": "5"}, origins={"stderr_lines": Origin("/c.conf", 7)}
    )
    settings = settings_from_section(section, childlogdir="/tmp", here="/etc/sv")
    assert settings.notes == (
        "/c.conf:7: [exporter:journal] stderr_lines: ignored: the journal keeps the stderr "
        "tail exit events carry; its length is [supervisord] stderr_tail_lines",
    )


def test_settings_errors_name_every_bad_key_with_its_line() -> None:
    """Unknown keys and bad values all come back in one ConfigError with file:line."""
    origins = {"colour": Origin("/c.conf", 3), "stderr_lines": Origin("/c.conf", 4)}
    values = {"colour": "red", "stderr_lines": "-1"}
    section = ExtensionSection(name=SECTION, values=values, origins=origins)
    with pytest.raises(ConfigError) as info:
        settings_from_section(section, childlogdir="/tmp", here="/etc/sv")
    assert str(info.value).splitlines() == [
        "/c.conf:3: [exporter:journal] colour: unknown option: 'red'",
        "/c.conf:4: [exporter:journal] stderr_lines: must be >= 0: '-1'",
    ]


# --------------------------------------------------------------------------- retention


def test_age_cutoff() -> None:
    """Events older than max_age before now are due; no age limit gives no cutoff."""
    assert RetentionPolicy(max_age=60).age_cutoff(1000.0) == 940.0
    assert RetentionPolicy().age_cutoff(1000.0) is None


@pytest.mark.parametrize(
    ("used", "rows", "expected"),
    [
        (900, 100, 0),  # under the limit
        (2000, 100, 55),  # trim to 90% of 1000: delete 55% of the rows
        (10**9, 100, 99),  # never the newest row
        (2000, 1, 0),  # a single row stays
    ],
)
def test_excess_rows(used: int, rows: int, expected: int) -> None:
    """Size retention deletes the oldest share of rows down to 90% of the limit."""
    policy = RetentionPolicy(max_bytes=1000)
    assert policy.excess_rows(used_bytes=used, row_count=rows) == expected


# --------------------------------------------------------------------------- /events query


def query(**params: str) -> MultiDict[str]:
    return MultiDict(params)


def test_parse_query_defaults_and_lists() -> None:
    """No parameters: since 0, all types, no limit; lists may be comma separated."""
    q = parse_query(query(), next_serial=10, registry=CORE)
    assert (q.since, q.limit, q.filter) == (0, None, EventFilter())
    q = parse_query(
        MultiDict([("types", "TICK_5,PROCESS_STATE"), ("process", "a"), ("process", "g:*")]),
        next_serial=10,
        registry=CORE,
    )
    assert q.filter.types == {"TICK_5", "PROCESS_STATE"}
    assert len(q.filter.processes) == 2
    q = parse_query(
        MultiDict([("cause", "autorestart,damped"), ("cause", "retry")]),
        next_serial=1,
        registry=CORE,
    )
    assert q.filter.causes == {Cause.AUTORESTART, Cause.DAMPED, Cause.RETRY}


def test_last_since_time_and_exclude() -> None:
    """last, since_time and exclude are read; exclude leaves a whole family out."""
    q = parse_query(
        MultiDict([("last", "5"), ("since_time", "1700000000.5"), ("exclude", "TICK")]),
        next_serial=10,
        registry=CORE,
    )
    assert (q.last, q.since_time, q.filter.exclude) == (5, 1_700_000_000.5, {"TICK"})
    where, params = q.filter.sql()
    assert "type NOT IN" in where
    assert set(params) == {"TICK_5", "TICK_60", "TICK_3600"}


def test_last_event_id_resumes_after_it() -> None:
    """Last-Event-ID N overrides since and resumes at N + 1."""
    assert (
        parse_query(query(since="0"), next_serial=10, registry=CORE, last_event_id="4").since == 5
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"foo": "1"}, "unknown parameter 'foo'"),
        ({"since": "-1"}, "since: must be >= 0"),
        ({"since": "abc"}, "since: not an integer"),
        ({"since": "11"}, "since: 11 is beyond 10"),
        ({"since": str(10**30)}, "is beyond 10"),
        ({"limit": "-5"}, "limit: must be >= 0"),
        ({"types": "NOPE"}, "types: unknown event type 'NOPE'"),
        ({"process": "g:"}, "process: bad process name"),
        ({"cause": "autorestart,crash"}, "cause: unknown cause 'crash'"),
        ({"exclude": "NOPE"}, "exclude: unknown event type 'NOPE'"),
        ({"last": "-1"}, "last: must be >= 0"),
        ({"since_time": "yesterday"}, "since_time: not a unix time"),
        ({"since_time": "-3"}, "since_time: must be a unix time >= 0"),
        ({"since_time": "nan"}, "since_time: must be a unix time >= 0"),
    ],
)
def test_bad_queries_name_the_parameter(params: dict[str, str], message: str) -> None:
    """Each bad parameter raises QueryError naming it."""
    with pytest.raises(QueryError, match=message):
        parse_query(query(**params), next_serial=10, registry=CORE)


def test_bad_last_event_id() -> None:
    """A Last-Event-ID that is not a serial the bus has given out is refused."""
    with pytest.raises(QueryError, match="Last-Event-ID"):
        parse_query(query(), next_serial=10, registry=CORE, last_event_id="10")


def test_sse_message_is_one_data_line() -> None:
    """An SSE message carries the serial as id and the JSON on a single data line."""
    assert sse_message(3, {"a": "x\ny"}) == b'id: 3\ndata: {"a":"x\\ny"}\n\n'
