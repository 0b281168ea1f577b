"""Defect 3: what is not a still photo is refused with a reason; HEIC is decoded, within limits."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import jpeg_bytes, scene
from tests.hostile_images import heic_bytes
from vision.budget import DecodeBudget
from vision.errors import ImageTooLargeError, NotAnImageError
from vision.image import WORKING_SIDE, ImageLimits, decode_image


def _encode(img: Image.Image, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def _frames(n: int) -> list[Image.Image]:
    return [Image.fromarray(scene(120, 160, seed)) for seed in range(n)]


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("frames", [1, 3])
def test_gif_is_refused_as_gif(frames: int) -> None:
    first, *rest = _frames(frames)
    data = _encode(first, "GIF", save_all=True, append_images=rest)
    with pytest.raises(NotAnImageError, match="GIF") as info:
        decode_image(data)
    assert "JPEG, PNG or HEIC" in info.value.reason


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animations_are_refused(fmt: str) -> None:
    first, *rest = _frames(3)
    data = _encode(first, fmt, save_all=True, append_images=rest)
    assert Image.open(io.BytesIO(data)).format == fmt  # a real APNG / animated WebP
    with pytest.raises(NotAnImageError, match="animation"):
        decode_image(data)


def test_multi_page_tiff_is_refused() -> None:
    first, *rest = _frames(2)
    with pytest.raises(NotAnImageError, match="several images"):
        decode_image(_encode(first, "TIFF", save_all=True, append_images=rest))


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
)
def test_svg_is_refused_as_a_drawing(data: bytes) -> None:
    with pytest.raises(NotAnImageError, match="SVG"):
        decode_image(data)


def test_formats_we_do_not_run_are_not_even_opened() -> None:
    # Pillow reads ICO, PSD, EPS, ...: none of those decoders is ever tried on an upload.
    data = _encode(Image.fromarray(scene(64, 64)), "ICO")
    with pytest.raises(NotAnImageError, match="not a readable image"):
        decode_image(data)


def test_mpo_from_a_phone_is_its_first_view() -> None:
    first, second = _frames(2)
    out = decode_image(_encode(first, "MPO", save_all=True, append_images=[second]))
    assert out.format == "MPO" and (out.width, out.height) == (160, 120)
    assert 3 * _diff(out.rgb, np.asarray(first)) < _diff(out.rgb, np.asarray(second))


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_png_and_heic_are_refused(cut: float) -> None:
    for data in (_encode(Image.fromarray(scene()), "PNG"), heic_bytes(scene())):
        with pytest.raises(NotAnImageError, match="corrupt or truncated"):
            decode_image(data[: int(len(data) * cut)])


def test_real_heic_decodes() -> None:
    rgb = scene()
    data = heic_bytes(rgb, quality=90)
    assert data[4:12] == b"ftypheic"
    out = decode_image(data)
    assert out.format == "HEIF" and (out.width, out.height) == (320, 240)
    assert _diff(out.rgb, rgb) < 6.0


def test_heic_orientation_is_applied_once() -> None:
    rgb = scene()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = decode_image(heic_bytes(rgb, quality=90, exif=exif.tobytes()))
    assert (out.width, out.height) == (240, 320)
    assert _diff(out.rgb, np.rot90(rgb, k=-1)) < 6.0


def test_heic_is_held_to_the_pixel_limit_before_decoding() -> None:
    data = heic_bytes(scene())
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(data, limits=ImageLimits(max_pixels=320 * 240 - 1))
    assert info.value.actual == 320 * 240


def test_heic_decodes_reduced_and_through_the_budget() -> None:
    rgb = cv2.resize(scene(), (1600, 1200))
    budget = DecodeBudget(max_decodes=1, wait_seconds=0)
    out = decode_image(heic_bytes(rgb), max_side=WORKING_SIDE, budget=budget)
    assert out.rgb.shape == (400, 534, 3) and (out.width, out.height) == (1600, 1200)
    # libheif's own buffers count beside Pillow's 4 bytes a pixel.
    assert budget.peak_bytes >= 1600 * 1200 * 8
    small = cv2.resize(rgb, (534, 400), interpolation=cv2.INTER_AREA)
    assert _diff(out.rgb, small) < 6.0


def test_a_jpeg_named_heic_is_judged_by_its_bytes() -> None:
    # decode_image never sees a file name: the bytes say what the file is.
    assert decode_image(jpeg_bytes(scene())).format == "JPEG"
