"""``to_json_text`` and the journal row built from it, against the dict encoding."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.journal.rows import _int, _text, event_row
from supervisor_core.events import (
    PROCESS_STATE_EVENT_TYPES,
    Event,
    EventData,
    ProcessLogStdout,
    RemoteCommunication,
    Tick60,
    encode_json,
    to_json_dict,
    to_json_text,
)
from supervisor_core.lifecycle import Cause, ProcessState


class _Color(enum.Enum):
    RED = 1


class _Mode(enum.StrEnum):
    FAST = "fast"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Odd(EventData):
    """A type with fields of every kind an extension might declare."""

    event_name: ClassVar[str] = "ODD_EVENT"

    serial: object = None  # collides with a stamp key
    color: object = None
    groupname: object = None
    pid: object = None
    items: object = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Twice(EventData):
    """Two fields under one JSON key (``type`` moves to ``twice_event_type``)."""

    event_name: ClassVar[str] = "TWICE_EVENT"

    twice_event_type: object = None
    type: object = None


class _Bits(enum.Flag):
    A = 1
    B = 2


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    _FLOATS,
    _TEXT,
    st.binary(max_size=8),
    st.sampled_from(
        [_Color.RED, _Mode.FAST, ProcessState.EXITED, Cause.AUTORESTART, _Bits.A | _Bits.B]
    ),
)


@st.composite
def _state_events(draw: st.DrawFn) -> EventData:
    cls = draw(st.sampled_from(sorted(PROCESS_STATE_EVENT_TYPES.values(), key=str)))
    return cls(
        processname=draw(_TEXT),
        groupname=draw(_TEXT),
        from_state=draw(st.sampled_from(list(ProcessState))),
        cause=draw(st.sampled_from(list(Cause))),
        origin=draw(st.none() | _TEXT),
        run=draw(st.integers(0, 2**40)),
        episode=draw(st.integers(0, 2**40)),
        pid=draw(st.integers(0, 2**31)),
        tries=draw(st.integers(0, 10)),
        expected=draw(st.none() | st.booleans()),
        returncode=draw(st.none() | st.integers(-64, 255)),
        run_duration=draw(st.none() | _FLOATS),
        spawnerr=draw(st.none() | _TEXT),
        core_dumped=draw(st.none() | st.booleans()),
        oom_killed=draw(st.none() | st.booleans()),
        oom_evidence=draw(st.none() | _TEXT),
        stderr_tail=draw(st.none() | st.tuples(_TEXT, _TEXT)),
    )


_DATA = st.one_of(
    _state_events(),
    st.builds(
        ProcessLogStdout,
        processname=_TEXT,
        groupname=_TEXT,
        pid=st.integers(0, 99),
        data=st.binary(max_size=16),
    ),
    st.builds(RemoteCommunication, type=_TEXT, data=_TEXT),
    st.builds(Tick60, when=st.integers(0, 2**33)),
    st.builds(_Twice, twice_event_type=_SCALARS, type=_SCALARS),
    st.builds(
        _Odd,
        serial=_SCALARS,
        color=_SCALARS,
        groupname=_SCALARS,
        pid=_SCALARS,
        items=st.lists(_SCALARS, max_size=3).map(tuple),
    ),
)
_EVENTS = st.builds(
    Event,
    serial=st.integers(0, 2**62),
    wall_time=_FLOATS,
    monotonic_time=_FLOATS,
    data=_DATA,
)


@settings(max_examples=1500, deadline=None)
@given(_EVENTS)
def test_json_text_is_the_dict_encoding_byte_for_byte(event: Event) -> None:
    """to_json_text gives the same text as encode_json(to_json_dict), with and without the tail."""
    payload = to_json_dict(event)
    assert to_json_text(event) == encode_json(payload)
    payload.pop("stderr_tail", None)
    assert to_json_text(event, stderr_tail=False) == encode_json(payload)


def _reference_row(event: Event) -> tuple[object, ...]:
    # The row as the journal built it from the dict before it had to_json_text.
    payload = to_json_dict(event)
    payload.pop("stderr_tail", None)
    row = event_row(event)
    return (
        *row[:4],
        _text(payload.get("groupname")),
        _text(payload.get("processname")),
        *row[6:11],
        _int(payload.get("pid")),
        *row[12:17],
        encode_json(payload),
    )


@settings(max_examples=400, deadline=None)
@given(_EVENTS)
def test_event_row_matches_the_dict_built_row(event: Event) -> None:
    """event_row's payload, group, process and pid columns are what the dict gives."""
    row = event_row(event)
    assert row == _reference_row(event) or _nan_in(row)
    assert len(row) == 18


def _nan_in(row: tuple[object, ...]) -> bool:
    # NaN != NaN: compare those rows through their JSON text instead.
    return any(isinstance(value, float) and value != value for value in row)


def test_state_event_row_columns() -> None:
    """A process state event's row holds its states, cause, exit and the tail apart."""
    data = PROCESS_STATE_EVENT_TYPES[ProcessState.EXITED](
        processname="web",
        groupname="g",
        from_state=ProcessState.RUNNING,
        cause=Cause.EXIT,
        run=3,
        episode=2,
        pid=42,
        expected=False,
        returncode=-9,
        run_duration=0.25,
        stderr_tail=("boom", "é"),
    )
    event = Event(serial=7, wall_time=1700000000.123456, monotonic_time=12.5, data=data)
    row = event_row(event)
    assert row[:17] == (
        7,
        1700000000.123456,
        12.5,
        "PROCESS_STATE_EXITED",
        "g",
        "web",
        "RUNNING",
        "EXITED",
        "exit",
        3,
        2,
        42,
        -9,
        9,
        0,
        0.25,
        '{"lines":["boom","é"]}',
    )
    payload = json.loads(str(row[17]))
    assert "stderr_tail" not in payload
    assert payload["signal_name"] == "SIGKILL"
