"""Capture-mode parsing and ANSI stripping (pure), with supervisord's own code as oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from supervisor.dispatchers import stripEscapes

from supervisor_core.logs.filters import (
    BEGIN_TOKEN,
    END_TOKEN,
    AnsiStripper,
    ChannelFilter,
    Communication,
    Item,
    Output,
    find_prefix_at_end,
)

_ANSI_ALPHABET = st.sampled_from([b"\x1b", b"[", b"3", b"1", b"m", b"K", b"x", b"\n", b";"])
_ansi_streams = st.lists(_ANSI_ALPHABET, max_size=60).map(b"".join)


def _strip_chunks(chunks: list[bytes]) -> bytes:
    stripper = AnsiStripper()
    return b"".join(stripper.feed(chunk) for chunk in chunks) + stripper.finish()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain", b"plain"),
        (b"\x1b[31mred\x1b[0m", b"red"),
        (b"a\x1b[2Kb", b"ab"),
        (b"a\x1b[12;", b"a"),  # unterminated: the rest is dropped, as supervisord does
        (b"a\x1b", b"a\x1b"),  # a lone ESC is not an escape sequence
        (b"\x1b[1;32;40mgreen\x1b[m\n", b"green\n"),
    ],
)
def test_strip_matches_examples(raw: bytes, expected: bytes) -> None:
    """Known escape sequences are removed exactly as supervisord's stripEscapes does."""
    assert _strip_chunks([raw]) == expected == stripEscapes(raw)


@given(_ansi_streams)
def test_strip_whole_stream_equals_supervisord(data: bytes) -> None:
    """On a single chunk the stripper gives supervisord's stripEscapes result."""
    assert _strip_chunks([data]) == stripEscapes(data)


@given(_ansi_streams, st.lists(st.integers(min_value=0, max_value=80), max_size=6))
def test_strip_is_independent_of_chunking(data: bytes, cuts: list[int]) -> None:
    """An escape cut across reads is removed as if the stream had come in one read."""
    assert _strip_chunks(_split(data, cuts)) == stripEscapes(data)


def test_find_prefix_at_end() -> None:
    """The longest proper token prefix at the end of the data is what gets held back."""
    assert find_prefix_at_end(b"abc<!--XSUP", BEGIN_TOKEN) == len(b"<!--XSUP")
    assert find_prefix_at_end(b"abc", BEGIN_TOKEN) == 0
    assert find_prefix_at_end(b"<", BEGIN_TOKEN) == 1


def _run(
    chunks: list[bytes], *, capture_maxbytes: int = 1000, strip_ansi: bool = False
) -> list[Item]:
    channel_filter = ChannelFilter(capture_maxbytes=capture_maxbytes, strip_ansi=strip_ansi)
    items: list[Item] = []
    for chunk in chunks:
        items.extend(channel_filter.feed(chunk))
    items.extend(channel_filter.finish())
    return items


def _logged(items: list[Item]) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, Output) and not i.captured)


def _comms(items: list[Item]) -> list[bytes]:
    return [i.data for i in items if isinstance(i, Communication)]


STREAM = b"before " + BEGIN_TOKEN + b"payload\n" + END_TOKEN + b" after"


def test_capture_whole_stream() -> None:
    """Text between the tokens becomes one communication and never reaches the log."""
    items = _run([STREAM])
    assert _logged(items) == b"before  after"
    assert _comms(items) == [b"payload\n"]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_capture_token_split_at_every_position(cut: int) -> None:
    """A token split across two reads at any byte is still recognised."""
    items = _run([STREAM[:cut], STREAM[cut:]])
    assert _logged(items) == b"before  after"
    assert _comms(items) == [b"payload\n"]


def test_capture_byte_by_byte() -> None:
    """Feeding one byte per read gives the same log and communication."""
    items = _run([bytes([b]) for b in STREAM])
    assert _logged(items) == b"before  after"
    assert _comms(items) == [b"payload\n"]


def test_capture_held_prefix_is_not_delayed_beyond_need() -> None:
    """Only a possible token prefix is held back; the rest is logged from the same read."""
    channel_filter = ChannelFilter(capture_maxbytes=100)
    items = channel_filter.feed(b"hello <!--XSUPER")
    assert _logged(items) == b"hello "
    assert _logged(channel_filter.feed(b"nope")) == b"<!--XSUPERnope"


def test_capture_held_prefix_is_released_at_eof() -> None:
    """A tail that looked like a token start is logged at EOF rather than lost."""
    assert _logged(_run([b"end <!--XSUP"])) == b"end <!--XSUP"


def test_capture_overflow_keeps_the_tail() -> None:
    """A communication longer than capture_maxbytes keeps its last capture_maxbytes bytes."""
    payload = bytes(range(256)) * 4
    items = _run([BEGIN_TOKEN, payload[:300], payload[300:], END_TOKEN], capture_maxbytes=100)
    assert _comms(items) == [payload[-100:]]


def test_captured_data_is_reported_as_output_but_not_logged() -> None:
    """Captured bytes still come out as captured Output items (PROCESS_LOG events)."""
    items = _run([STREAM])
    captured = b"".join(i.data for i in items if isinstance(i, Output) and i.captured)
    assert captured == b"payload\n"


def test_unterminated_capture_is_dropped_at_eof() -> None:
    """A BEGIN without END yields no communication and no log, like supervisord."""
    items = _run([b"x" + BEGIN_TOKEN + b"lost"])
    assert _logged(items) == b"x"
    assert _comms(items) == []


def test_several_communications_in_one_read() -> None:
    """Back-to-back blocks in a single read each produce a communication."""
    stream = (BEGIN_TOKEN + b"one" + END_TOKEN + b"-" + BEGIN_TOKEN + b"two" + END_TOKEN) * 2
    items = _run([stream])
    assert _comms(items) == [b"one", b"two", b"one", b"two"]
    assert _logged(items) == b"--"


def test_capture_disabled_passes_everything_through() -> None:
    """With capture_maxbytes=0 the tokens are ordinary output."""
    assert _logged(_run([STREAM], capture_maxbytes=0)) == STREAM


def test_capture_with_strip_ansi() -> None:
    """ANSI stripping applies to both logged and captured data."""
    stream = b"\x1b[1mA" + BEGIN_TOKEN + b"\x1b[32mB\x1b[0m" + END_TOKEN + b"C\x1b[0m"
    items = _run([stream], strip_ansi=True)
    assert _logged(items) == b"AC"
    assert _comms(items) == [b"B"]


def test_negative_capture_maxbytes_is_rejected() -> None:
    """A negative capture size is a programming error named in the message."""
    with pytest.raises(ValueError, match="capture_maxbytes"):
        ChannelFilter(capture_maxbytes=-1)


@given(
    st.lists(
        st.sampled_from([b"a", b"\n", BEGIN_TOKEN, END_TOKEN, b"<!--X", b"-->", b"<"]),
        max_size=30,
    ).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=500), max_size=5),
)
def test_capture_is_independent_of_chunking(data: bytes, cuts: list[int]) -> None:
    """Logged bytes and communications do not depend on how reads cut the stream."""
    whole = _run([data])
    chunked = _run(_split(data, cuts))
    assert _logged(chunked) == _logged(whole)
    assert _comms(chunked) == _comms(whole)
