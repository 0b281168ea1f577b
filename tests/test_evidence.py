"""Evidence files: originals kept byte for byte, served copies without GPS or serials."""

import hashlib
import io
from pathlib import Path

from PIL import Image

from storage.evidence import LocalEvidenceStore
from tests.conftest import textured


def _photo_with_private_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: kept
    exif[0x010F] = "PhoneMaker"  # make: kept
    gps = exif.get_ifd(0x8825)
    gps[2] = (52.0, 22.0, 1.0)  # latitude
    gps[4] = (13.0, 24.0, 1.0)  # longitude
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-123456"
    buf = io.BytesIO()
    Image.fromarray(textured(60, 80)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_original_kept_and_served_copy_stripped(tmp_path: Path) -> None:
    data = _photo_with_private_exif()
    store = LocalEvidenceStore(tmp_path)
    stored = store.put(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.get_original(stored.sha256) == data
    served = Image.open(io.BytesIO(store.get_served(stored.sha256)))
    exif = served.getexif()
    assert exif.get(0x0112) == 6 and exif.get(0x010F) == "PhoneMaker"
    assert not exif.get_ifd(0x8825)
    assert 0xA431 not in exif.get_ifd(0x8769)
    assert b"SERIAL-123456" not in store.get_served(stored.sha256)
    assert b"SERIAL-123456" in store.get_original(stored.sha256)


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    data = _photo_with_private_exif()
    a, b = store.put(data), store.put(data)
    assert a == b
    assert not [p for p in tmp_path.rglob(".tmp-*")]
