"""Evidence files: originals kept byte for byte, served copies without GPS or serials.

One contract, two stores: local disk (the embedded default) and S3 with object lock on a
real SeaweedFS. What only S3 does (retention, versions, credentials) is in
tests/storage/test_s3.py.
"""

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from storage.errors import EvidenceIntegrityError, EvidenceNotFoundError
from storage.evidence import EvidenceStore, LocalEvidenceStore
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
