"""gzip of a body made of segments, compressing only the segments not seen last time.

Rules of this file:
- The output is one gzip member (RFC 1952), so every client reads it, including
  those that stop after the first member: a fixed header, the raw deflate data of
  every segment, one empty final block, then CRC-32 and size of the whole body.
- Each segment is compressed by a fresh compressor and ends with a sync flush, so it
  starts and ends on a byte boundary and refers to no byte outside itself: the
  compressed segments can be concatenated in any order, and the compressed bytes of
  a segment can be reused whenever the same segment comes again (RFC 1951: a
  back-reference may reach into earlier blocks, but need not).
- Segments are recognised by identity: ``exposition.CachingEncoder`` hands out the
  same ``bytes`` object for a family that did not change. Only the previous call's
  segments are cached (and held, so an ``id`` cannot be reused while cached).
- A 2,000-process scrape is ~11 MB of text: compressing it whole costs ~65 ms of
  CPU at zlib's default level; a quiet fleet's scrape now compresses a few KiB and
  checksums the rest (~5 ms).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["GzipSegments", "accepts_gzip"]

# ID1 ID2, CM=deflate, FLG=0, MTIME=0 (none), XFL=0, OS=255 (unknown).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block.
_FINAL_BLOCK = b"\x03\x00"


def _deflate(segment: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(segment) + compressor.flush(zlib.Z_SYNC_FLUSH)


class GzipSegments:
    """Gzips ``b"".join(segments)``, reusing the deflate output of repeated segments.

    Example::

        gzip = GzipSegments()
        body = gzip.compress([header, family_a, family_b])   # gzip.decompress(body) == join
    """

    def __init__(self, level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        self._level = level
        self._cache: dict[int, tuple[bytes, bytes]] = {}

    def compress(self, segments: Sequence[bytes]) -> bytes:
        """One gzip member whose content is the segments, in order."""
        previous, current = self._cache, {}
        parts = [_HEADER]
        crc = 0
        size = 0
        for segment in segments:
            if not segment:
                continue
            hit = previous.get(id(segment))
            if hit is None or hit[0] is not segment:
                hit = (segment, _deflate(segment, self._level))
            current[id(segment)] = hit
            parts.append(hit[1])
            crc = zlib.crc32(segment, crc)
            size += len(segment)
        self._cache = current
        parts.append(_FINAL_BLOCK)
        parts.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
        return b"".join(parts)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110 12.5.3).

    ``q=0`` refuses a coding; ``*`` stands for any coding not named.
    """
    qualities: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.strip()] = quality
    for coding in ("gzip", "x-gzip", "*"):
        if coding in qualities:
            return qualities[coding] > 0
    return False
