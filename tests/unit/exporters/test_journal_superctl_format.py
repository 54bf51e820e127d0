"""``superctl events``: argument parsing, request URLs and the people format (pure)."""

from __future__ import annotations

import datetime

import pytest

from supervisor_core.ctl.events import (
    EventsArgs,
    EventsUsageError,
    format_event,
    parse_args,
    request_path,
)

EXIT = {
    "serial": 42,
    "type": "PROCESS_STATE_EXITED",
    "wall_time": 1_700_000_000.25,
    "processname": "web_0",
    "groupname": "web",
    "from_state": "RUNNING",
    "to_state": "EXITED",
    "cause": "exit",
    "pid": 4242,
    "expected": False,
    "returncode": 3,
    "run_duration": 1.5,
    "signal": None,
    "stderr_tail": ["boom"],
}


def test_parse_args_and_request_path() -> None:
    """Flags and names become /events query parameters (names as repeated process=)."""
    args = parse_args("--since 5 -f --json --types PROCESS_STATE --cause damped web 'grp:*'")
    assert args == EventsArgs(
        since=5,
        follow=True,
        json=True,
        types="PROCESS_STATE",
        cause="damped",
        names=("web", "grp:*"),
    )
    assert request_path(args) == (
        "/events?since=5&types=PROCESS_STATE&cause=damped&process=web&process=grp%3A%2A"
    )


def test_ticks_are_left_out_unless_types_ask_for_them() -> None:
    """Without --types the query excludes the TICK family; --types TICK asks for them."""
    assert request_path(EventsArgs()) == "/events?exclude=TICK"
    assert request_path(parse_args("--types TICK")) == "/events?types=TICK"


def test_lines_and_since_as_a_time() -> None:
    """-n N asks for the last N; --since 10m and an ISO time become since_time."""
    assert request_path(parse_args("-n 3")) == "/events?last=3&exclude=TICK"
    args = parse_args("--since 10m", now=1_700_000_600.0)
    assert (args.since, args.since_time) == (None, 1_700_000_000.0)
    assert "since_time=1700000000.0" in request_path(args)
    local = datetime.datetime(2026, 12, 3, 8, 0).astimezone().timestamp()
    assert parse_args("--since 2026-12-03T08:00").since_time == local


def test_follow_starts_with_the_last_ten_like_tail() -> None:
    """--follow alone starts at the last 10 events; with --since or -n as given."""
    assert parse_args("-f").lines == 10
    assert parse_args("-f -n 2").lines == 2
    assert parse_args("-f --since 0").lines is None


@pytest.mark.parametrize(
    "arg",
    ["--since x", "--since -1", "-n -2", "-n x", "--bogus", "'unclosed", "--cause crash"],
)
def test_bad_arguments(arg: str) -> None:
    """Bad --since, -n or --cause, unknown flags and bad quoting are usage errors."""
    with pytest.raises(EventsUsageError):
        parse_args(arg)


def test_exit_line_explains_the_exit_and_shows_the_tail() -> None:
    """An exit shows states, pid, status, expectedness and run time, then its stderr tail."""
    line, tail = format_event(EXIT)
    assert line.split()[0] == "42"
    assert "web:web_0" in line
    assert line.endswith("RUNNING -> EXITED, pid 4242, exit 3, unexpected, ran 1.500s")
    assert tail.strip() == "| boom"


def test_the_cause_follows_the_transition() -> None:
    """A transition with a cause names it: ``EXITED -> STARTING (autorestart)``."""
    start = {**EXIT, "from_state": "EXITED", "to_state": "STARTING", "cause": "autorestart"}
    start.update(pid=None, returncode=None, expected=None, run_duration=None, stderr_tail=None)
    assert format_event(start)[0].endswith("EXITED -> STARTING (autorestart)")


def test_storm_lines_show_human_times() -> None:
    """A storm event's start/end are local times and its durations carry units."""
    storm = {
        "serial": 9,
        "type": "PROCESS_STORM_BEGIN",
        "wall_time": 1_700_000_000.5,
        "processname": "web",
        "groupname": "web",
        "scope": "process",
        "start": 1_700_000_000.4519138,
        "end": None,
        "restarts": 5,
        "exit_codes": [3],
        "signals": [],
        "median_run_duration": 0.51234,
    }
    line = format_event(storm)[0]
    start = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.UTC).astimezone()
    assert f"start={start:%Y-%m-%d %H:%M:%S} " in line
    assert "1700000000.45" not in line
    assert "median_run_duration=0.512s" in line
    assert "exit_codes=3" in line
    assert "signals=" not in line


def test_colour_only_when_asked_and_columns_align() -> None:
    """Colour codes wrap the type column only with colour=True; columns line up."""
    tick = {"serial": 7, "type": "TICK_5", "wall_time": 1_700_000_000.0, "when": 1_700_000_000}
    plain = format_event(tick)[0]
    coloured = format_event(EXIT, colour=True)[0]
    assert "\x1b[31m" in coloured
    assert "\x1b[" not in plain
    assert plain.index("TICK_5") == format_event(EXIT)[0].index("PROCESS_STATE_EXITED")
    when = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.UTC).astimezone()
    assert plain.endswith(f"when={when:%Y-%m-%d %H:%M:%S}")
