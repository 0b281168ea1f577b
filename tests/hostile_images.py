"""A corpus of hostile and careless uploads, made in memory, each with the outcome it must get.

Shared by the vision tests (``decode_image`` and ``Predictor.inspect``) and the API tests
(``POST /v1/inspect`` and claims: the status, and that nothing was stored). ``outcome`` is
what the decoder must do: ``ok`` (decoded; the quality gate may still refuse to judge it),
``not_an_image`` (``NotAnImageError``, HTTP 422) or ``too_large`` (``ImageTooLargeError``,
HTTP 413). Every case is under the default 15 MB byte limit unless its name says otherwise.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Literal

import cv2
import numpy as np
import pillow_heif
from PIL import Image

from tests.conftest import jpeg_bytes, scene

__all__ = [
    "HostileImage",
    "Outcome",
    "compressible_png",
    "heic_bytes",
    "hostile_images",
    "phone_jpeg",
]

Outcome = Literal["ok", "not_an_image", "too_large"]
_STATUS: dict[str, int] = {"ok": 200, "not_an_image": 422, "too_large": 413}


@dataclass(frozen=True)
class HostileImage:
    """One upload: its bytes, the file name it is sent under, and what must come of it."""

    name: str
    data: bytes
    filename: str
    outcome: Outcome
    note: str

    @property
    def status(self) -> int:
        """The HTTP status ``POST /v1/inspect`` answers with this photo alone."""
        return _STATUS[self.outcome]


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(width: int, height: int, idat: bytes, *, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG of the given header and compressed image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@cache
def compressible_png(side: int = 6300) -> bytes:
    """A real, fully decodable RGB PNG of ``side`` x ``side`` pixels in a few hundred KB.

    Every row repeats the first (a lit, textured stripe pattern that passes the quality
    gate), so all rows but one filter to zeros under PNG's "Up" filter and deflate to almost
    nothing: the 6300 px one is about 150 KB on the wire and 119 MB of pixels.
    """
    x = np.arange(side, dtype=np.float32)
    rng = np.random.default_rng(6300)
    light = 120 + 60 * np.sin(x / side * 6.0)
    stripes = 40 * np.sign(np.sin(x / 9.0)) + rng.normal(0, 12, side)
    row = np.clip(
        np.stack([light + stripes, light * 0.9 + stripes, light * 0.7 + stripes], 1), 0, 255
    )
    first = b"\x00" + row.astype(np.uint8).tobytes()
    up = b"\x02" + bytes(3 * side)  # filter 2 ("Up") of an identical row: all zeros
    deflate = zlib.compressobj(9)
    parts = [deflate.compress(first)]
    parts += [deflate.compress(up) for _ in range(side - 1)]
    parts.append(deflate.flush())
    return _png(side, side, b"".join(parts))


def _png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` over a few bytes of data."""
    return _png(width, height, zlib.compress(b"\x00" * 64))


def heic_bytes(rgb: np.ndarray, *, quality: int = 80, exif: bytes | None = None) -> bytes:
    """A real HEIC (HEVC by x265, as pillow-heif's wheels bundle it) of an RGB array."""
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(buf, quality=quality, exif=exif)
    return buf.getvalue()


def _encode(img: Image.Image, fmt: str, **save: object) -> bytes:
    """Pillow-encoded bytes of ``img``."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


@cache
def phone_jpeg(width: int = 4032, height: int = 3024, seed: int = 0) -> bytes:
    """A phone-sized photo-like JPEG (12 MP by default), a few MB as phones send them."""
    big = cv2.resize(scene(height // 8, width // 8, seed), (width, height))
    noise = np.random.default_rng(seed).normal(0, 6, big.shape)
    return jpeg_bytes(np.clip(big + noise, 0, 255).astype(np.uint8))


def _webp_header_bomb() -> bytes:
    """A real lossy WebP whose VP8 frame header is patched to claim 16383 x 16383 pixels."""
    data = bytearray(_encode(Image.fromarray(scene(16, 16)), "WEBP", quality=80))
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a", "not a simple VP8 WebP"
    data[26:30] = struct.pack("<HH", 16383, 16383)  # 14-bit sizes, scale bits 0
    return bytes(data)


def _gif_header_bomb() -> bytes:
    """A GIF whose logical screen claims 65535 x 65535 pixels."""
    return b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"\x3b"


def _with_app_segments(jpeg: bytes, segments: list[tuple[int, bytes]]) -> bytes:
    """``jpeg`` with APPn segments (marker number, payload) inserted after SOI."""
    out = bytearray(jpeg[:2])
    for n, payload in segments:
        out += bytes([0xFF, 0xE0 + n]) + struct.pack(">H", len(payload) + 2) + payload
    return bytes(out + jpeg[2:])


def _frames(n: int) -> list[Image.Image]:
    """``n`` distinct photo-like frames for the animation cases."""
    return [Image.fromarray(scene(120, 160, seed)) for seed in range(n)]


def _grey16() -> np.ndarray:
    """A photo-like 16-bit grey image using the whole 16-bit range."""
    grey = cv2.cvtColor(scene(240, 320), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.uint16) * 257


def _rgb16_bgr() -> np.ndarray:
    """A photo-like 16-bit colour image in OpenCV's BGR order."""
    return cv2.cvtColor(scene(240, 320), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257


def _cv2_encode(ext: str, array: np.ndarray) -> bytes:
    """OpenCV-encoded bytes (OpenCV writes real 16-bit PNG and TIFF)."""
    ok, buf = cv2.imencode(ext, array)
    assert ok
    return buf.tobytes()


def _palette_with_transparency() -> bytes:
    """A palette PNG whose background is transparent: how graphics tools export cut-outs."""
    img = Image.fromarray(scene()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    pixels = np.asarray(img).copy()
    pixels[:, :80] = 0
    out = Image.fromarray(pixels, mode="P")
    out.putpalette(img.getpalette() or [])
    return _encode(out, "PNG", transparency=0)


def _rgba() -> bytes:
    """An RGBA PNG with a transparent margin whose hidden colour is black."""
    rgba = np.dstack([scene(), np.full((240, 320), 255, np.uint8)])
    rgba[:, :80] = 0
    return _encode(Image.fromarray(rgba), "PNG")


def _mpo() -> bytes:
    """A two-view MPO, as some phones and 3D cameras save photos."""
    first, second = _frames(2)
    return _encode(first, "MPO", save_all=True, append_images=[second])


def _exif(orientation: int) -> bytes:
    """An EXIF block carrying ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def hostile_images() -> list[HostileImage]:
    """Every case, in a fixed order; built once per process (about three seconds)."""
    return list(_cases())


@cache
def _cases() -> tuple[HostileImage, ...]:
    """The cases, built."""
    photo = jpeg_bytes(scene())
    png = _encode(Image.fromarray(scene()), "PNG")
    heic = heic_bytes(scene())
    tiny_exif = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00\xff\xff" + bytes(20)
    return (
        HostileImage("zero_bytes", b"", "empty.jpg", "not_an_image", "an empty file"),
        HostileImage(
            "random_bytes",
            np.random.default_rng(1).bytes(4096),
            "noise.jpg",
            "not_an_image",
            "4 KB of noise",
        ),
        HostileImage(
            "truncated_jpeg",
            photo[: len(photo) // 3],
            "cut.jpg",
            "not_an_image",
            "a JPEG cut at a third",
        ),
        HostileImage(
            "truncated_png", png[: len(png) // 2], "cut.png", "not_an_image", "a PNG cut in half"
        ),
        HostileImage(
            "truncated_heic", heic[: len(heic) // 2], "cut.heic", "not_an_image", "HEIC cut"
        ),
        HostileImage(
            "over_byte_limit",
            photo + bytes(15 * 1024 * 1024),
            "padded.jpg",
            "too_large",
            "a JPEG padded past 15 MB",
        ),
        HostileImage(
            "png_header_bomb",
            _png_header_bomb(100_000, 100_000),
            "bomb.png",
            "too_large",
            "a 100 KB x 100 KB PNG header over 64 bytes of data",
        ),
        HostileImage(
            "webp_header_bomb",
            _webp_header_bomb(),
            "bomb.webp",
            "too_large",
            "a WebP frame header claiming 16383 x 16383",
        ),
        HostileImage(
            "gif_header_bomb",
            _gif_header_bomb(),
            "bomb.gif",
            "not_an_image",
            "a GIF claiming 65535 x 65535: refused as GIF before its size matters",
        ),
        HostileImage(
            "png_6300_compressible",
            compressible_png(6300),
            "flat.png",
            "ok",
            "a real 6300 x 6300 PNG (39.7 Mpx, just under 40) in about 150 KB",
        ),
        HostileImage(
            "png_6400_compressible",
            compressible_png(6400),
            "flat.png",
            "too_large",
            "a real 6400 x 6400 PNG (41 Mpx, just over 40) in about 150 KB",
        ),
        HostileImage(
            "jpeg_huge_exif",
            jpeg_bytes(scene(), exif=b"Exif\x00\x00" + _exif(1)[6:] + bytes(60_000)),
            "exif.jpg",
            "ok",
            "a 60 KB EXIF segment",
        ),
        HostileImage(
            "jpeg_many_app_segments",
            _with_app_segments(photo, [(n % 15 + 1, bytes(65_000)) for n in range(200)]),
            "apps.jpg",
            "ok",
            "200 APPn segments of 64 KB (13 MB of metadata)",
        ),
        HostileImage(
            "jpeg_exif_orientation_out_of_range",
            jpeg_bytes(scene(), exif=_exif(9)),
            "orient.jpg",
            "ok",
            "orientation 9: ignored",
        ),
        HostileImage(
            "jpeg_corrupt_exif",
            jpeg_bytes(scene(), exif=tiny_exif),
            "exif.jpg",
            "ok",
            "an EXIF block whose IFD runs off its end: rotation ignored",
        ),
        HostileImage(
            "jpeg_cmyk",
            _encode(Image.fromarray(scene()).convert("CMYK"), "JPEG", quality=90),
            "print.jpg",
            "ok",
            "a CMYK JPEG, as print workflows export",
        ),
        HostileImage(
            "png16_grey", _cv2_encode(".png", _grey16()), "grey16.png", "ok", "16-bit grey PNG"
        ),
        HostileImage(
            "png16_rgb", _cv2_encode(".png", _rgb16_bgr()), "rgb16.png", "ok", "16-bit RGB PNG"
        ),
        HostileImage(
            "tiff16_grey",
            _cv2_encode(".tiff", _grey16()),
            "grey16.tiff",
            "ok",
            "16-bit grey TIFF",
        ),
        HostileImage(
            "tiff16_rgb",
            _cv2_encode(".tiff", _rgb16_bgr()),
            "rgb16.tiff",
            "ok",
            "16-bit RGB TIFF",
        ),
        HostileImage(
            "png_palette_transparency",
            _palette_with_transparency(),
            "cutout.png",
            "ok",
            "palette PNG with a transparent index",
        ),
        HostileImage("png_rgba", _rgba(), "alpha.png", "ok", "RGBA PNG, transparent margin"),
        HostileImage(
            "gif_still",
            _encode(_frames(1)[0], "GIF"),
            "still.gif",
            "not_an_image",
            "a one-frame GIF",
        ),
        HostileImage(
            "gif_animated",
            _encode(_frames(1)[0], "GIF", save_all=True, append_images=_frames(3)[1:]),
            "anim.gif",
            "not_an_image",
            "a three-frame GIF",
        ),
        HostileImage(
            "png_animated",
            _encode(_frames(1)[0], "PNG", save_all=True, append_images=_frames(3)[1:]),
            "anim.png",
            "not_an_image",
            "a three-frame APNG",
        ),
        HostileImage(
            "webp_animated",
            _encode(_frames(1)[0], "WEBP", save_all=True, append_images=_frames(3)[1:]),
            "anim.webp",
            "not_an_image",
            "a three-frame WebP",
        ),
        HostileImage(
            "svg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
            b'height="64"><rect width="64" height="64" fill="red"/></svg>',
            "drawing.svg",
            "not_an_image",
            "an SVG drawing",
        ),
        HostileImage(
            "pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
            "scan.pdf",
            "not_an_image",
            "a PDF",
        ),
        HostileImage("jpeg_named_heic", photo, "IMG_0001.heic", "ok", "a JPEG under a .heic name"),
        HostileImage("heic", heic, "IMG_0002.heic", "ok", "a real HEIC (x265), as iPhones send"),
        HostileImage(
            "webp_still",
            _encode(Image.fromarray(scene()), "WEBP", quality=80),
            "photo.webp",
            "ok",
            "a still WebP",
        ),
        HostileImage(
            "jpeg_thumbnail",
            jpeg_bytes(scene(48, 64)),
            "thumb.jpg",
            "ok",
            "a 64 x 48 thumbnail: decoded, then too small for the quality gate",
        ),
        HostileImage("mpo", _mpo(), "IMG_3D.jpg", "ok", "a two-view MPO: its first view"),
    )
