"""Content-addressed evidence files: the original bytes, and a copy safe to show others.

Originals are kept byte for byte under their SHA-256 (what the ledger names). The served
copy drops EXIF GPS data and device serial numbers, which identify a customer's home and
phone, while keeping orientation. Writes are atomic (temp file + rename) and idempotent.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from storage.errors import EvidenceIntegrityError, EvidenceNotFoundError
from storage.jpeg import Segment, rewrite_metadata

__all__ = [
    "EvidenceStore",
    "LocalEvidenceStore",
    "StoredEvidence",
    "is_sha256",
    "strip_private_exif",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")

# EXIF tags that identify a person's place or device (Exif 2.32 tag ids).
_GPS_IFD = 0x8825
_PRIVATE_TAGS = (
    0xA431,
    0xA435,
    0xC62F,
    0x927C,
    0xA430,
)  # body/lens/camera serials, maker note, owner
_APP1, _APP2 = 0xE1, 0xE2
_EXIF = b"Exif\0\0"
# Segments a JPEG's served copy drops, by marker and how their payload starts: XMP packets
# (they can carry the GPS position again) and the MPO index of the views not kept.
_DROPPED: tuple[tuple[int, bytes], ...] = (
    (_APP1, b"http://ns.adobe.com/xap/1.0/"),
    (_APP1, b"http://ns.adobe.com/xmp/extension/"),
    (_APP2, b"MPF\0"),
)


@dataclass(frozen=True)
class StoredEvidence:
    """Where one photo's original and served copy live."""

    sha256: str
    original: str
    served: str
    size: int


class EvidenceStore(Protocol):
    """Keeps evidence photos; local disk by default, S3/MinIO in production."""

    def put(self, data: bytes) -> StoredEvidence:
        """Store a photo (idempotent by content) and return where it lives."""
        ...

    def get_original(self, sha256: str) -> bytes:
        """The original bytes, checked against ``sha256``.

        Raises ``EvidenceNotFoundError`` if absent and ``EvidenceIntegrityError`` if the
        stored bytes hash to something else.
        """
        ...

    def get_served(self, sha256: str) -> bytes:
        """The copy without GPS or device serials (``EvidenceNotFoundError`` if absent)."""
        ...


def is_sha256(name: str) -> bool:
    """Whether ``name`` is a lowercase hex SHA-256; anything else never names evidence.

    Checked before a name becomes a path or object key, so ``../`` cannot reach elsewhere.
    """
    return _SHA256.fullmatch(name) is not None


def _clean_exif(img: Image.Image) -> Image.Exif:
    exif = img.getexif()
    exif.pop(_GPS_IFD, None)
    for tag in _PRIVATE_TAGS:
        exif.pop(tag, None)
    exif_ifd = exif.get_ifd(0x8769)  # serials live in the Exif sub-IFD; the rest stays
    for tag in _PRIVATE_TAGS:
        exif_ifd.pop(tag, None)
    return exif


def _jpeg_without(data: bytes, exif: bytes) -> bytes | None:
    """The JPEG with ``exif`` in place of its EXIF segment, XMP (which can repeat the GPS
    position) and an MPO's other views dropped, its compressed pixels copied unchanged."""

    def edit(segments: list[Segment]) -> list[Segment]:
        kept: list[Segment] = []
        for marker, payload in segments:
            if marker == _APP1 and payload.startswith(_EXIF):
                kept.append((marker, exif))
            elif not any(marker == m and payload.startswith(p) for m, p in _DROPPED):
                kept.append((marker, payload))
        return kept

    return rewrite_metadata(data, edit)


def strip_private_exif(data: bytes) -> bytes:
    """The photo without GPS and serial-number EXIF tags (orientation and the rest kept).

    A JPEG's metadata segments are rewritten around its compressed data, so the copy's
    pixels are the original's exactly and no decode is paid; other formats are re-encoded.
    """
    with Image.open(io.BytesIO(data)) as img:
        exif = _clean_exif(img)
        if img.format in ("JPEG", "MPO") and (
            (copy := _jpeg_without(data, exif.tobytes())) is not None
        ):
            return copy
        out = io.BytesIO()
        fmt = img.format or "JPEG"
        rgb = img if fmt != "JPEG" or img.mode in ("RGB", "L") else img.convert("RGB")
        save: dict[str, Any] = {"exif": exif.tobytes()}
        if fmt == "JPEG":
            save |= {"quality": 95}
        rgb.save(out, format=fmt, **save)
    return out.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    if path.exists():
        # Content-addressed: the same name always holds the same bytes. Touched, so the
        # orphan sweep (claims.sweep) sees a re-uploaded photo as young and leaves it.
        try:
            os.utime(path)
            return
        except FileNotFoundError:
            pass  # swept a moment ago: written again below
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link(original: Path, served: Path) -> bool:
    """Make ``served`` a second name of ``original`` (a photo with nothing private to drop:
    the served copy would be the same bytes); False where the link cannot be made.

    The bytes are on disk already (the original was written and synced), so the served copy
    costs no second write and no second fsync, half of what storing a station photo waits
    on. Files are never changed in place (every write is a temp file renamed over the name),
    so the two names cannot come apart; the sweep unlinks each name on its own.
    """
    served.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(original, served)
    except FileExistsError:
        return True  # written a moment ago by another upload of the same photo
    except OSError:  # a filesystem without hard links
        return False
    return True


class LocalEvidenceStore:
    """Evidence under a folder: ``original/ab/<sha256>`` and ``served/ab/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, kind: str, sha256: str) -> Path:
        return self.root / kind / sha256[:2] / sha256

    def put(self, data: bytes) -> StoredEvidence:
        """Store a photo (idempotent by content) and return where it lives."""
        digest = hashlib.sha256(data).hexdigest()
        original = self._path("original", digest)
        served = self._path("served", digest)
        _atomic_write(original, data)
        if not served.exists():
            clean = strip_private_exif(data)
            if clean != data or not _link(original, served):
                _atomic_write(served, clean)
        return StoredEvidence(digest, str(original), str(served), len(data))

    def _read(self, kind: str, sha256: str) -> bytes:
        if not is_sha256(sha256):
            raise EvidenceNotFoundError(sha256, kind)
        try:
            return self._path(kind, sha256).read_bytes()
        except FileNotFoundError:
            raise EvidenceNotFoundError(sha256, kind) from None

    def get_original(self, sha256: str) -> bytes:
        """The original bytes, checked against their name: a file edited on disk is caught."""
        data = self._read("original", sha256)
        if (found := hashlib.sha256(data).hexdigest()) != sha256:
            raise EvidenceIntegrityError(sha256, "original", found)
        return data

    def get_served(self, sha256: str) -> bytes:
        """The copy without GPS or device serials."""
        return self._read("served", sha256)
