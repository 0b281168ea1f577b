"""Evidence files: originals kept byte for byte, served copies without GPS or serials.

One contract, two stores: local disk (the embedded default) and S3 with object lock on a
real SeaweedFS. What only S3 does (retention, versions, credentials) is in
tests/storage/test_s3.py.
"""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storage.errors import EvidenceIntegrityError, EvidenceNotFoundError
from storage.evidence import EvidenceStore, LocalEvidenceStore
from storage.jpeg import rewrite_metadata
from storage.s3 import S3EvidenceStore
from tests.conftest import textured
from tests.storage.seaweedfs import fresh_bucket


def photo_with_private_exif(seed: int = 0) -> bytes:
    """A JPEG with orientation, make, GPS and a body serial in its EXIF."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: kept
    exif[0x010F] = "PhoneMaker"  # make: kept
    gps = exif.get_ifd(0x8825)
    gps[2] = (52.0, 22.0, 1.0)  # latitude
    gps[4] = (13.0, 24.0, 1.0)  # longitude
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-123456"
    buf = io.BytesIO()
    Image.fromarray(textured(60, 80, seed)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EvidenceStore:
    if request.param == "local":
        return LocalEvidenceStore(tmp_path)
    server = request.getfixturevalue("s3_server")
    return S3EvidenceStore(server.client(), bucket=fresh_bucket())


def test_original_kept_and_served_copy_stripped(store: EvidenceStore) -> None:
    data = photo_with_private_exif()
    stored = store.put(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert store.get_original(stored.sha256) == data
    served = Image.open(io.BytesIO(store.get_served(stored.sha256)))
    exif = served.getexif()
    assert exif.get(0x0112) == 6 and exif.get(0x010F) == "PhoneMaker"
    assert not exif.get_ifd(0x8825)
    assert 0xA431 not in exif.get_ifd(0x8769)
    assert b"SERIAL-123456" not in store.get_served(stored.sha256)
    assert b"SERIAL-123456" in store.get_original(stored.sha256)


def test_put_is_idempotent(store: EvidenceStore) -> None:
    data = photo_with_private_exif()
    first = store.put(data)
    served = store.get_served(first.sha256)
    assert store.put(data) == first
    assert store.get_served(first.sha256) == served  # not re-encoded a second time
    other = store.put(photo_with_private_exif(seed=1))
    assert other.sha256 != first.sha256 and store.get_original(first.sha256) == data


@pytest.mark.parametrize("name", ["0" * 64, "../" * 8 + "etc/passwd", "AB" * 32, ""])
def test_unknown_or_malformed_names_are_not_found(store: EvidenceStore, name: str) -> None:
    store.put(photo_with_private_exif())
    with pytest.raises(EvidenceNotFoundError):
        store.get_original(name)
    with pytest.raises(EvidenceNotFoundError):
        store.get_served(name)


def test_local_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    store.put(photo_with_private_exif())
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_local_original_edited_on_disk_is_detected(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    stored = store.put(photo_with_private_exif())
    Path(stored.original).write_bytes(photo_with_private_exif(seed=1))
    with pytest.raises(EvidenceIntegrityError) as err:
        store.get_original(stored.sha256)
    assert err.value.sha256 == stored.sha256 and err.value.found != stored.sha256


def test_local_photo_with_nothing_private_is_served_from_its_own_bytes(tmp_path: Path) -> None:
    # A station camera's frame: no EXIF, nothing to drop. Its served copy is the original's
    # second name (no second write, no second fsync); a photo with GPS still gets its own.
    buf = io.BytesIO()
    Image.fromarray(textured(60, 80, 3)).save(buf, format="JPEG")
    store = LocalEvidenceStore(tmp_path)
    plain = store.put(buf.getvalue())
    assert store.get_served(plain.sha256) == buf.getvalue()
    assert Path(plain.served).samefile(plain.original)
    private = store.put(photo_with_private_exif())
    assert not Path(private.served).samefile(private.original)
    assert store.put(buf.getvalue()) == plain  # stored again: nothing changes
    assert store.get_original(plain.sha256) == buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def test_jpeg_served_copy_keeps_the_compressed_pixels(store: EvidenceStore) -> None:
    data = photo_with_private_exif()
    served = store.get_served(store.put(data).sha256)
    # No decode and re-encode: the copy decodes to exactly the original's pixels, and its
    # entropy-coded scan is the original's byte for byte.
    assert np.array_equal(_pixels(served), _pixels(data))
    scan = data.index(b"\xff\xda")
    assert served.endswith(data[scan:])


def test_jpeg_served_copy_drops_xmp_and_other_views(tmp_path: Path) -> None:
    xmp = b"<x:xmpmeta><exif:GPSLatitude>52,22N</exif:GPSLatitude></x:xmpmeta>"
    first = io.BytesIO()
    Image.fromarray(textured(60, 80, 0)).save(first, format="JPEG", xmp=xmp)
    second = io.BytesIO()
    Image.fromarray(textured(60, 80, 1)).save(second, format="JPEG")
    data = first.getvalue() + second.getvalue()  # a second view after the first's EOI
    store = LocalEvidenceStore(tmp_path)
    served = store.get_served(store.put(data).sha256)
    assert b"GPSLatitude" not in served and b"GPSLatitude" in data
    assert served == served[: served.index(b"\xff\xd9") + 2]  # the primary view only
    assert np.array_equal(_pixels(served), _pixels(first.getvalue()))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats_are_re_encoded_without_gps(tmp_path: Path, fmt: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (52.0, 22.0, 1.0)
    buf = io.BytesIO()
    Image.fromarray(textured(60, 80, 0)).save(buf, format=fmt, exif=exif.tobytes())
    store = LocalEvidenceStore(tmp_path)
    served = store.get_served(store.put(buf.getvalue()).sha256)
    with Image.open(io.BytesIO(served)) as img:
        assert img.format == fmt and not img.getexif().get_ifd(0x8825)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff",  # a marker cut short
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a segment longer than the file
        b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02",  # a scan that never ends
        b"\x89PNG\r\n\x1a\n",
    ],
)
def test_unparsable_jpeg_structure_is_not_rewritten(data: bytes) -> None:
    assert rewrite_metadata(data, lambda segments: segments) is None
