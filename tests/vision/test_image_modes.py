"""Defect 2: every mode our formats decode to reaches 8-bit RGB by value, not by clipping."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import scene
from vision.image import WORKING_SIDE, assess_quality, decode_image


def _encode(img: Image.Image, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def _cv2(ext: str, array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, array)
    assert ok
    return buf.tobytes()


def _grey8(h: int = 240, w: int = 320) -> np.ndarray:
    return cv2.cvtColor(scene(h, w), cv2.COLOR_RGB2GRAY)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_16bit_grey_gradient_is_not_washed_out() -> None:
    """The reported bug: Pillow's convert("RGB") clipped I;16 at 255, so all of it was white."""
    gradient = np.tile(np.linspace(0, 65535, 320).astype(np.uint16), (240, 1))
    gradient[::2] //= 2  # some texture, so only exposure is in question
    out = decode_image(_cv2(".png", gradient))
    eight = (gradient / 257).round()
    assert abs(float(out.rgb.mean()) - float(eight.mean())) < 1.0
    report = assess_quality(out.rgb)
    assert "too_bright" not in {i.code for i in report.issues}


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_grey_matches_its_8bit_equivalent(ext: str) -> None:
    grey = _grey8()
    out = decode_image(_cv2(ext, grey.astype(np.uint16) * 257))
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (240, 320, 3)
    assert _diff(out.rgb[..., 0], grey) < 0.5
    assert (out.rgb[..., 0] == out.rgb[..., 2]).all()


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_rgb_matches_its_8bit_equivalent(ext: str) -> None:
    rgb = scene()
    bgr16 = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    out = decode_image(_cv2(ext, bgr16))
    assert _diff(out.rgb, rgb) < 0.5


def test_16bit_grey_reduced_to_the_working_side_keeps_its_brightness() -> None:
    grey = _grey8(1200, 1600)
    out = decode_image(_cv2(".png", grey.astype(np.uint16) * 257), max_side=WORKING_SIDE)
    assert out.rgb.shape == (400, 534, 3) and (out.width, out.height) == (1600, 1200)
    small = cv2.resize(grey, (534, 400), interpolation=cv2.INTER_AREA)
    assert _diff(out.rgb[..., 0], small) < 2.0


@pytest.mark.parametrize(
    ("mode", "scale"),
    [("I", 257), ("I", 1), ("F", 1 / 255)],
    ids=["int32-16bit-range", "int32-8bit-range", "float-unit-range"],
)
def test_32bit_int_and_float_tiff(mode: str, scale: float) -> None:
    grey = _grey8()
    dtype = np.int32 if mode == "I" else np.float32
    img = Image.fromarray((grey.astype(np.float64) * scale).astype(dtype), mode=mode)
    out = decode_image(_encode(img, "TIFF"))
    assert _diff(out.rgb[..., 0], grey) < 1.0


def test_palette_png_with_transparency_composites_on_neutral_grey() -> None:
    pal = Image.fromarray(scene()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    pixels = np.asarray(pal).copy()
    pixels[:, :80] = 0  # index 0 becomes the transparent one
    img = Image.fromarray(pixels, mode="P")
    img.putpalette(pal.getpalette() or [])
    out = decode_image(_encode(img, "PNG", transparency=0))
    assert (out.rgb[:, :80] == 128).all()
    opaque = np.asarray(img.convert("RGB"))[:, 80:]
    visible = pixels[:, 80:] != 0
    assert (out.rgb[:, 80:][visible] == opaque[visible]).all()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_composites_on_neutral_grey_not_on_hidden_colour(mode: str) -> None:
    rgb = scene()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :80, :3] = np.random.default_rng(0).integers(0, 256, (240, 80, 3))  # hidden junk
    rgba[:, :80, 3] = 0
    rgba[:, 80:160, 3] = 128  # half transparent
    img = Image.fromarray(rgba).convert(mode)
    out = decode_image(_encode(img, "PNG"))
    assert (out.rgb[:, :80] == 128).all()
    shown = np.asarray(img.convert("RGBA").convert("RGB"))
    half = (shown[:, 80:160].astype(float) * 128 + 128 * 127) / 255
    assert _diff(out.rgb[:, 80:160], half.round()) < 1.0
    assert (out.rgb[:, 160:] == shown[:, 160:]).all()


def test_reduced_rgba_keeps_transparent_parts_grey() -> None:
    rgba = np.dstack([cv2.resize(scene(), (1600, 1200)), np.full((1200, 1600), 255, np.uint8)])
    rgba[:, :400] = 0  # transparent black
    out = decode_image(_encode(Image.fromarray(rgba), "PNG"), max_side=WORKING_SIDE)
    assert out.rgb.shape == (400, 534, 3)
    # Averaged premultiplied: the transparent black does not darken the photo's edge.
    assert (out.rgb[:, :133] == 128).all()
    assert _diff(out.rgb[:, 134:], cv2.resize(rgba[:, 402:, :3], (400, 400))) < 40


def test_cmyk_jpeg_matches_the_rgb_photo() -> None:
    rgb = scene()
    out = decode_image(_encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95))
    assert out.format == "JPEG" and _diff(out.rgb, rgb) < 4.0


def test_orientation_follows_a_reduction() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    png = _encode(Image.fromarray(cv2.resize(scene(), (1600, 1200))), "PNG", exif=exif.tobytes())
    out = decode_image(png, max_side=WORKING_SIDE)
    assert (out.width, out.height) == (1200, 1600)
    assert out.rgb.shape == (534, 400, 3) and out.scale == (3.0, 1600 / 534)
