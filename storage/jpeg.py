"""Rewrite a JPEG's metadata segments without touching its compressed pixels.

A JPEG (ITU T.81 Annex B) is a sequence of marker segments up to the first start of scan;
from there on the entropy-coded data runs to the end-of-image marker. Metadata lives in the
application segments before the scan, so it can be replaced by copying every other byte as
it is: no decode, no re-encode, no generation loss, and the pixels of the copy are exactly
the original's. ``rewrite_metadata`` returns None for anything it does not fully understand,
and the caller falls back to decoding and re-encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["Segment", "rewrite_metadata"]

_SOI = b"\xff\xd8"
_SOS = 0xDA
_EOI = b"\xff\xd9"
# Markers without a length field (B.1.1.3): TEM and RST0..RST7 (SOI/EOI are handled apart).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

# One segment before the scan: its marker byte and its payload (after the length field).
Segment = tuple[int, bytes]


def _segments(data: bytes) -> tuple[list[Segment], int] | None:
    """The segments before the first scan, and where that scan's marker starts (B.2.1)."""
    if not data.startswith(_SOI):
        return None
    out: list[Segment] = []
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            return None
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes (B.1.1.2)
            pos += 1
        if pos >= len(data):
            return None
        marker = data[pos]
        pos += 1
        if marker == _SOS:
            return out, pos - 2
        if marker in _STANDALONE:
            out.append((marker, b""))
            continue
        if marker in (0xD8, 0xD9) or pos + 2 > len(data):
            return None
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            return None
        out.append((marker, data[pos + 2 : pos + length]))
        pos += length
    return None


def _first_image_end(data: bytes, scan: int) -> int | None:
    """The end of the first EOI after ``scan``: where the primary image stops.

    Inside entropy-coded data a 0xFF byte is always followed by 0x00 (stuffing) or a marker,
    and no marker there is EOI except the real one, so the first FF D9 ends the image.
    Anything after it (an MPO's second view, a trailer) is not part of the photo.
    """
    end = data.find(_EOI, scan)
    return None if end < 0 else end + 2


def rewrite_metadata(data: bytes, edit: Callable[[list[Segment]], list[Segment]]) -> bytes | None:
    """The JPEG with its pre-scan segments replaced by ``edit(segments)``; the scan data and
    everything in it are copied byte for byte. None when ``data`` is not a JPEG whose
    structure parses (the caller re-encodes instead)."""
    parsed = _segments(data)
    if parsed is None:
        return None
    segments, scan = parsed
    end = _first_image_end(data, scan)
    if end is None:
        return None
    out = bytearray(_SOI)
    for marker, payload in edit(segments):
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if len(payload) + 2 > 0xFFFF:
            return None
        out += bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
    out += data[scan:end]
    return bytes(out)
