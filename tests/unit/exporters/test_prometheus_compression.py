"""GzipSegments: one valid gzip member of the joined segments, call after call."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporters.prometheus.compression import GzipSegments, accepts_gzip


def _single_member(body: bytes) -> bytes:
    """What a client that reads only the first gzip member gets (aiohttp's, zlib's)."""
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = reader.decompress(body) + reader.flush()
    assert reader.eof
    assert reader.unused_data == b""
    return data


@given(st.lists(st.lists(st.binary(max_size=3000), max_size=6), min_size=1, max_size=4))
def test_every_call_is_the_gzip_of_the_joined_segments(calls: list[list[bytes]]) -> None:
    """Whatever segments come (repeated, reordered, empty), the body inflates to their join."""
    compressor = GzipSegments()
    pool: dict[bytes, bytes] = {}
    for segments in calls:
        # The same content as an earlier call is handed out as the same object.
        same_objects = [pool.setdefault(segment, segment) for segment in segments]
        body = compressor.compress(same_objects)
        assert gzip.decompress(body) == b"".join(segments)
        assert _single_member(body) == b"".join(segments)


def test_repeated_segments_give_the_same_body() -> None:
    """A scrape whose families did not change is compressed to the same bytes again."""
    text = b"".join(b'm{group="g%d",name="n"} 1.0\n' % index for index in range(2000))
    segments = [b"# HELP m x\n# TYPE m gauge\n", text, b"# EOF\n"]
    compressor = GzipSegments()
    first = compressor.compress(segments)
    assert compressor.compress(segments) == first
    assert len(first) < len(text) // 10
    changed = [segments[0], text.replace(b"g7", b"h7"), segments[2]]
    assert gzip.decompress(compressor.compress(changed)) == b"".join(changed)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("gzip", True),
        ("GZip", True),
        ("gzip, deflate, br", True),
        ("deflate;q=1.0, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("deflate", False),
        ("gzip;q=0", False),
        ("gzip; q=0.0, *", False),
        ("*;q=0", False),
        ("gzip;q=bad", False),
    ],
)
def test_accept_encoding(header: str, allowed: bool) -> None:
    """gzip is sent when Accept-Encoding names it (or *) with a quality above 0."""
    assert accepts_gzip(header) is allowed
