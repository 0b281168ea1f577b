"""The perceptual hash: stable under what a re-upload does to a photo, far apart otherwise."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import jpeg_bytes, scene, textured
from vision.errors import PerceptualHashError, VisionError
from vision.image import decode_image
from vision.phash import format_phash, hamming, parse_phash, phash

NEAR = 8  # edits of one photo stay within this many bits
FAR = 20  # different photos are at least this far apart


def _decoded(data: bytes) -> np.ndarray:
    return decode_image(data).rgb


def _reencoded(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return _decoded(buf.getvalue())


def _edits(rgb: np.ndarray) -> dict[str, np.ndarray]:
    h, w = rgb.shape[:2]
    return {
        "jpeg_q35": _reencoded(rgb, 35),
        "jpeg_q15": _reencoded(rgb, 15),
        "half_size": cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "double_size": cv2.resize(rgb, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC),
        "brighter": np.clip(rgb.astype(np.int16) + 20, 0, 255).astype(np.uint8),
        "more_contrast": cv2.convertScaleAbs(rgb, alpha=1.1, beta=10),
        "bgr_order": _reencoded(rgb, 50)[..., ::-1],  # hashed below with order="bgr"
    }


@pytest.mark.parametrize("seed", range(6))
def test_edits_of_one_photo_stay_near(seed: int) -> None:
    original = _decoded(jpeg_bytes(scene(seed=seed)))
    base = phash(original)
    distances = {
        name: hamming(base, phash(img, order="bgr" if name == "bgr_order" else "rgb"))
        for name, img in _edits(original).items()
    }
    assert max(distances.values()) <= NEAR, distances


def test_different_photos_are_far_apart() -> None:
    h, w = 240, 320
    checker = (np.indices((6, 8)).sum(axis=0) % 2).astype(np.uint8)
    checker = np.kron(checker, np.ones((40, 40), np.uint8)) * 180 + 40
    stripes = (np.sin(np.arange(w) / 7)[None, :] * 90 + 128) * np.ones((h, 1))
    images = [scene(seed=s) for s in range(10)] + [
        textured(h, w, seed=5),
        np.repeat(checker[..., None], 3, axis=2),
        np.repeat(stripes.astype(np.uint8)[..., None], 3, axis=2),
    ]
    hashes = [phash(_decoded(jpeg_bytes(img))) for img in images]
    closest = min(hamming(a, b) for a, b in itertools.combinations(hashes, 2))
    assert closest >= FAR


def test_hash_is_64_bits_half_set_and_deterministic() -> None:
    img = scene(seed=3)
    value = phash(img)
    assert 0 <= value < 1 << 64 and value == phash(img.copy())
    # Median threshold: 32 of the 64 coefficients lie above it; DC (bit 63) always does.
    assert value.bit_count() == 32 and value >> 63 == 1


def test_gray_input_matches_rgb_of_the_same_gray() -> None:
    gray = cv2.cvtColor(scene(seed=1), cv2.COLOR_RGB2GRAY)
    assert phash(gray) == phash(np.repeat(gray[..., None], 3, axis=2))


def test_hamming_counts_differing_bits() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0, (1 << 64) - 1) == 64
    assert hamming(0b1011, 0b0110) == 3


def test_hex_round_trip() -> None:
    value = phash(scene(seed=2))
    text = format_phash(value)
    assert len(text) == 16 and text == text.lower() and parse_phash(text) == value
    assert format_phash(1) == "0000000000000001"


@pytest.mark.parametrize(
    "call",
    [
        lambda: phash(np.zeros((4, 4, 4), np.uint8)),
        lambda: phash(np.zeros((0, 5), np.uint8)),
        lambda: hamming(-1, 0),
        lambda: hamming(0, 1 << 64),
        lambda: parse_phash("0x00000000000001"),
        lambda: parse_phash("abc"),
        lambda: format_phash(1 << 64),
    ],
)
def test_bad_input_raises_a_vision_error(call: object) -> None:
    with pytest.raises(PerceptualHashError) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, VisionError) and isinstance(info.value, ValueError)


def test_the_predictor_reports_the_hash_of_the_upright_photo(tiny_weights: Path) -> None:
    from vision.predictor import Predictor

    data = jpeg_bytes(scene(seed=4), exif=_rotated_exif())
    upright = decode_image(data).rgb
    out = Predictor.from_weights(tiny_weights).inspect(data, image="p.jpg")
    assert out.phash == phash(upright) != phash(_decoded(jpeg_bytes(scene(seed=4))))
    assert out.as_dict()["phash"] == format_phash(out.phash)


def _rotated_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    return exif.tobytes()


@pytest.mark.parametrize("seed", range(3))
def test_a_phone_photo_hashes_alike_decoded_reduced_or_whole(seed: int) -> None:
    # The service decodes big JPEGs at a reduced DCT scale; a copy of the photo sent small,
    # or one hashed before that change, must still be found as the same photo.
    big = cv2.resize(scene(seed=seed), (4032, 3024), interpolation=cv2.INTER_CUBIC)
    data = jpeg_bytes(big)
    reduced = decode_image(data, max_side=512).rgb
    assert reduced.shape[1] < 4032  # the reduced path really ran
    whole = phash(decode_image(data).rgb)
    small_copy = phash(
        _decoded(jpeg_bytes(cv2.resize(big, (640, 480), interpolation=cv2.INTER_AREA)))
    )
    assert hamming(phash(reduced), whole) <= NEAR
    assert hamming(phash(reduced), small_copy) <= NEAR
