"""``superctl events``: argument parsing, request URLs and the people format (pure)."""

from __future__ import annotations

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
    assert request_path(EventsArgs()) == "/events"


@pytest.mark.parametrize(
    "arg", ["--since x", "--since -1", "--bogus", "'unclosed", "--cause crash", "--cause AUTOSTART"]
)
def test_bad_arguments(arg: str) -> None:
    """Non-numeric or negative --since, unknown causes, unknown flags and bad quoting are
    usage errors."""
    with pytest.raises(EventsUsageError):
        parse_args(arg)


def test_exit_line_explains_the_exit_and_shows_the_tail() -> None:
    """An exit shows states, pid, status, expectedness and run time, then its stderr tail."""
    line, tail = format_event(EXIT)
    assert line.split()[0] == "42"
    assert "web:web_0" in line
    assert line.endswith("RUNNING -> EXITED (exit), pid 4242, exit 3, unexpected, ran 1.500s")
    assert tail.strip() == "| boom"


def test_colour_only_when_asked_and_columns_align() -> None:
    """Colour codes wrap the type column only with colour=True; columns line up."""
    tick = {"serial": 7, "type": "TICK_5", "wall_time": 1_700_000_000.0, "when": 1_700_000_000}
    plain = format_event(tick)[0]
    coloured = format_event(EXIT, colour=True)[0]
    assert "\x1b[31m" in coloured
    assert "\x1b[" not in plain
    assert plain.index("TICK_5") == format_event(EXIT)[0].index("PROCESS_STATE_EXITED")
    assert plain.endswith("when=1700000000")
