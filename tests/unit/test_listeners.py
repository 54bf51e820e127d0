"""The listener protocol and the pool buffer, as scripted byte streams (no I/O, no time)."""

from __future__ import annotations

import pytest

from supervisor_core.lifecycle import EventListenerState as S
from supervisor_core.listeners import (
    DEFAULT_RESULT_HANDLER,
    Accepted,
    BadResultHandler,
    BecameReady,
    HandlerError,
    ListenerConnection,
    PoolBuffer,
    ProtocolViolation,
    Rejected,
    Verdict,
    default_result_handler,
    resolve_result_handler,
)


def busy(event: str = "ev") -> ListenerConnection[str]:
    """A connection that said READY and was sent ``event``."""
    connection: ListenerConnection[str] = ListenerConnection()
    assert connection.receive_data(b"READY\n") == (BecameReady(),)
    connection.assign(event)
    return connection


def test_a_new_run_is_acknowledged_and_ready_token_makes_it_ready() -> None:
    """A run starts ACKNOWLEDGED; READY\\n (even split in pieces) makes it READY."""
    connection: ListenerConnection[str] = ListenerConnection()
    assert connection.state is S.ACKNOWLEDGED
    assert connection.receive_data(b"REA") == ()
    assert connection.state is S.ACKNOWLEDGED
    assert connection.receive_data(b"DY\n") == (BecameReady(),)
    assert connection.state is S.READY


@pytest.mark.parametrize(
    ("stream", "outcome_type", "final"),
    [
        (b"RESULT 2\nOK", Accepted, S.ACKNOWLEDGED),
        (b"RESULT 4\nFAIL", Rejected, S.ACKNOWLEDGED),
        (b"RESULT 0\n\n", Rejected, S.ACKNOWLEDGED),  # empty body; "\n" waits for more
        (b"RESULT 3\nOK!", Rejected, S.ACKNOWLEDGED),
        (b"RESULT two\nOK", ProtocolViolation, S.UNKNOWN),
    ],
)
def test_results_are_judged_by_the_default_handler(
    stream: bytes, outcome_type: type, final: S
) -> None:
    """OK accepts, any other body rejects, a non-integer length is a violation."""
    connection = busy()
    outcomes = connection.receive_data(stream)
    assert isinstance(outcomes[0], outcome_type)
    assert outcomes[0].event == "ev"  # type: ignore[union-attr]
    assert connection.state is final
    assert connection.in_flight is None


def test_result_split_byte_by_byte_then_ready_again() -> None:
    """A result may arrive one byte at a time; READY after it makes the listener READY."""
    connection = busy()
    stream = b"RESULT 2\nOKREADY\n"
    outcomes = []
    for index in range(len(stream)):
        outcomes.extend(connection.receive_data(stream[index : index + 1]))
    assert outcomes == [Accepted(event="ev", body=b"OK"), BecameReady()]
    assert connection.state is S.READY


def test_a_wrong_result_length_takes_bytes_of_what_follows() -> None:
    """supervisord quirk: RESULT 5 + OK + READY judges 'OKREA', then waits on 'DY\\n'."""
    connection = busy()
    outcomes = connection.receive_data(b"RESULT 5\nOKREADY\n")
    assert outcomes == (Rejected(event="ev", body=b"OKREA"),)
    assert connection.state is S.ACKNOWLEDGED  # 'DY\n' is shorter than READY\n: waiting
    assert connection.receive_data(b"xyz") == (
        ProtocolViolation(reason="expected READY", data=b"DY\nxyz", event=None),
    )
    assert connection.state is S.UNKNOWN


@pytest.mark.parametrize(
    ("prelude", "stream", "reason"),
    [
        (b"", b"HELLO!", "expected READY"),
        (b"READY\n", b"x", "unexpected output while READY"),
    ],
)
def test_garbage_makes_the_listener_unknown_for_the_rest_of_the_run(
    prelude: bytes, stream: bytes, reason: str
) -> None:
    """Garbage instead of READY, or any output while READY, is a violation; UNKNOWN is final."""
    connection: ListenerConnection[str] = ListenerConnection()
    connection.receive_data(prelude)
    (violation,) = connection.receive_data(stream)
    assert violation == ProtocolViolation(reason=reason, data=stream, event=None)
    assert connection.state is S.UNKNOWN
    assert connection.receive_data(b"READY\n") == ()
    assert connection.state is S.UNKNOWN
    with pytest.raises(RuntimeError, match="UNKNOWN"):
        connection.assign("ev")


def test_bad_result_line_returns_the_event_to_rebuffer() -> None:
    """A result line with a bad length hands back the in-flight event."""
    connection = busy("e1")
    (violation,) = connection.receive_data(b"RESULT\nOK")
    assert violation == ProtocolViolation(reason="bad result line", data=b"RESULT", event="e1")


def test_abandon_and_close_hand_back_the_in_flight_event() -> None:
    """A run that ends (exit) or closes stdout gives its event back; close makes it UNKNOWN."""
    connection = busy("e1")
    assert connection.abandon() == "e1"
    assert connection.abandon() is None
    connection = busy("e2")
    assert connection.close() == "e2"
    assert connection.state is S.UNKNOWN


def test_assign_requires_ready() -> None:
    """Sending to a listener that is not READY is a pool bug, refused loudly."""
    connection: ListenerConnection[str] = ListenerConnection()
    with pytest.raises(RuntimeError, match="ACKNOWLEDGED"):
        connection.assign("ev")


def test_a_handler_error_makes_the_listener_unknown() -> None:
    """A result handler that fails: HandlerError, listener UNKNOWN (supervisord's bare except)."""
    connection: ListenerConnection[str] = ListenerConnection(lambda event, body: Verdict.ERROR)
    connection.receive_data(b"READY\n")
    connection.assign("ev")
    assert connection.receive_data(b"RESULT 2\nOK") == (HandlerError(event="ev", body=b"OK"),)
    assert connection.state is S.UNKNOWN


class RejectEvent(Exception):
    """Named like supervisord's, which is how a custom handler rejects."""


def rejecting_handler(event: object, body: bytes) -> None:
    """A custom handler: rejects 'NO', fails on 'BOOM', accepts the rest."""
    if body == b"NO":
        raise RejectEvent(body)
    if body == b"BOOM":
        raise KeyError(body)


def test_resolve_result_handler_default_and_custom() -> None:
    """The default spec is our default handler; a custom one maps its exceptions to verdicts."""
    assert resolve_result_handler(DEFAULT_RESULT_HANDLER) is default_result_handler
    handler = resolve_result_handler(f"{__name__}:rejecting_handler")
    assert handler("ev", b"YES") is Verdict.ACCEPTED
    assert handler("ev", b"NO") is Verdict.REJECTED
    assert handler("ev", b"BOOM") is Verdict.ERROR
    for spec in ("no.such.module:x", f"{__name__}:missing", f"{__name__}:RESULT_NOT_CALLABLE"):
        with pytest.raises(BadResultHandler, match="result_handler"):
            resolve_result_handler(spec)


RESULT_NOT_CALLABLE = 3


def test_pool_buffer_serials_order_and_overflow() -> None:
    """New events get pool serials 0, 1, ...; a full buffer discards the oldest."""
    buffer: PoolBuffer[str] = PoolBuffer(2)
    assert buffer.accept("a") is None
    assert buffer.accept("b") is None
    discarded = buffer.accept("c")
    assert discarded is not None
    assert (discarded.event, discarded.pool_serial) == ("a", 0)
    assert [(e.event, e.pool_serial) for e in buffer] == [("b", 1), ("c", 2)]
    assert buffer.next_pool_serial == 3


def test_rebuffer_goes_to_the_head_keeps_its_serial_and_discards_the_head_when_full() -> None:
    """supervisord's rebuffer: head insert, same pool serial; when full the old head goes."""
    buffer: PoolBuffer[str] = PoolBuffer(2)
    buffer.accept("a")
    first = buffer.pop()
    buffer.accept("b")
    assert buffer.rebuffer(first) is None
    assert [(e.event, e.pool_serial) for e in buffer] == [("a", 0), ("b", 1)]
    second = buffer.pop()
    buffer.accept("c")
    discarded = buffer.rebuffer(second)  # full: b (the head) is discarded, a goes first
    assert discarded is not None
    assert discarded.event == "b"
    assert [e.event for e in buffer] == ["a", "c"]
    assert [e.event for e in buffer.clear()] == ["a", "c"]
    assert len(buffer) == 0
    with pytest.raises(ValueError, match="at least 1"):
        PoolBuffer(0)
