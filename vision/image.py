"""Decode uploads safely and judge whether a photo can carry a finding at all.

Decoding refuses oversized files and decompression bombs from the header alone, before a
single pixel is decompressed; EXIF orientation is applied so boxes match what people see.
A phone photo is 12 MP while nothing downstream looks at more than ``WORKING_SIDE`` pixels,
so JPEGs are decoded straight at a reduced DCT scale (1/2, 1/4, 1/8) and every other format
is box-reduced right after decoding, then brought to the working side once when still far
larger: only the small image outlives the decode, and the photo's size is still reported as
shot. While full-size pixels exist the decode holds its
cost, estimated from the header, in a process-wide ``DecodeBudget``; 16-bit, palette,
alpha and CMYK images are brought to 8-bit RGB by value, not clipped. Animations, GIF, SVG
and the like are refused with a reason a customer can act on.
The quality gate gives reasons a customer can act on instead of a silent low confidence.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from vision.budget import DecodeBudget
from vision.errors import ImageTooLargeError, NotAnImageError

__all__ = [
    "WORKING_SIDE",
    "DecodedImage",
    "ImageLimits",
    "QualityIssue",
    "QualityReport",
    "QualityThresholds",
    "assess_quality",
    "decode_image",
    "working_size",
]

# iPhones send HEIC. Only the primary image is opened: thumbnails, depth and auxiliary
# images would be decoded (and held) for nothing.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

# Decoders we run, by Pillow's format id (MPO comes through JPEG's); no other Pillow plugin is
# even tried, so a hostile file cannot reach the long tail of rarely exercised decoders.
_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "HEIF")
# Phones store more than one image in these (MPO: a second view or a preview; HEIC: depth
# maps, bursts): the first, primary image is the photo.
_PRIMARY_ONLY = frozenset({"MPO", "HEIF"})
# The longest side any consumer of the pixels needs: the quality gate measures at 512 px, the
# networks take 256 px or less, the perceptual hash 32 px.
WORKING_SIDE = 512
_SEND_INSTEAD = "send the photo as JPEG, PNG or HEIC"
# What transparent parts become: mid grey moves neither the exposure check nor the models'
# view toward dark or bright the way black or white would.
_BACKGROUND = (128, 128, 128, 255)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Bytes per pixel of Pillow's own storage for a mode; every mode not named takes 4.
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# Bytes per full-size pixel a format's decoder holds beside Pillow's image while it runs,
# from peak RSS over the decoded image (bench/memory.py --calibrate, 12 Mpx photos; HEIC at
# 24 Mpx too) with some room: libwebp keeps two RGBA canvases and hands Pillow a third copy
# (measured 12); libheif decodes to planes and an interleaved buffer of its own (3.4); libtiff
# reads a whole strip, which can be the whole image (16-bit RGB: 6); a progressive JPEG keeps
# every DCT coefficient (2 bytes a sample, 3 samples a pixel at 4:4:4) even when decoded at a
# reduced scale.
_DECODER_BYTES = {"WEBP": 13, "HEIF": 5, "TIFF": 8}
_PROGRESSIVE_JPEG_BYTES = 6
# Per pixel of the reduced image: the reduced copy, its upright and RGB copies, the array.
_SMALL_BYTES = 24
# Decoder complaints about corrupt or truncated data surface as these, from deep inside.
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds on one upload; pixels are checked from the header before decoding."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image (h, w, 3) uint8 and the facts of its source.

    ``width`` and ``height`` are the upright photo's size as shot; ``rgb`` can be smaller when
    the photo was decoded at a reduced scale (see ``scale``).
    """

    rgb: np.ndarray
    format: str
    width: int
    height: int

    @property
    def scale(self) -> tuple[float, float]:
        """Photo pixels per decoded pixel along x and y (1.0 when decoded at full size)."""
        return self.width / self.rgb.shape[1], self.height / self.rgb.shape[0]


def _reduce_jpeg(img: Image.Image, side: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale whose longer side is still >= ``side``.

    Pillow's ``draft`` only ever picks a size at or above the one asked for, so the result
    never has fewer pixels than the consumers need; other formats ignore it. A lossless JPEG
    (SOF3: no DCT, so no quantization tables) has no reduced scales: libjpeg fails the whole
    decode when asked for one, so it is decoded at full size and box-reduced like a PNG.
    """
    if img.format in ("JPEG", "MPO") and not getattr(img, "quantization", None):
        return
    r = side / max(img.width, img.height)
    if r <= 0.5:  # above that no DCT scale fits; skip the call altogether
        img.draft("RGB", (math.ceil(img.width * r), math.ceil(img.height * r)))


def _not_supported(data: bytes) -> str:
    """Why bytes that no decoder of ours recognises are refused, in the customer's terms."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return f"GIF files are animations or graphics, not photos; {_SEND_INSTEAD}"
    if head[:1] == b"<" and (b"<svg" in head.lower() or head.startswith(b"<?xml")):
        return f"the file is an SVG drawing, not a photo; {_SEND_INSTEAD}"
    if head.startswith(b"%PDF"):
        return f"the file is a PDF document, not a photo; {_SEND_INSTEAD}"
    return f"the file is not a readable image; {_SEND_INSTEAD}"


def _decode_cost(img: Image.Image, *, fmt: str, full: tuple[int, int], factor: int) -> int:
    """Bytes a decode holds at its peak, from the header (and the JPEG draft) alone."""
    w, h = img.size  # after draft: what the decoder will really produce
    cost = w * h * _STORAGE_BYTES.get(img.mode, 4)
    if img.mode in ("1", "P", "PA"):
        cost += w * h * 4  # converted at full size: averaging palette indices means nothing
    if img.mode in ("LA", "RGBA", "P", "PA") and factor > 1:
        cost += w * h * 4  # reduce() averages alpha premultiplied, in a full-size copy
    if fmt in ("JPEG", "MPO"):
        progressive = img.info.get("progressive") or img.info.get("progression")
        cost += full[0] * full[1] * (_PROGRESSIVE_JPEG_BYTES if progressive else 0)
    else:
        cost += full[0] * full[1] * _DECODER_BYTES.get(fmt, 0)
    return cost + math.ceil(w / factor) * math.ceil(h / factor) * _SMALL_BYTES


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation, 1 when absent, out of range or unreadable (a corrupt EXIF
    block costs the photo its rotation, not its judgement)."""
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except _CORRUPT:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _shrink(img: Image.Image, factor: int) -> Image.Image:
    """The loaded image box-averaged by ``factor`` (>= the working side still), or itself."""
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA" if img.has_transparency_data else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    if factor < 2:
        return img
    if img.mode.startswith("I;16"):  # reduce() does not take 16-bit grey; a box resize does
        size = (math.ceil(img.width / factor), math.ceil(img.height / factor))
        return img.resize(size, Image.Resampling.BOX, reducing_gap=None)
    return img.reduce(factor)


def working_size(width: int, height: int, side: int = WORKING_SIDE) -> tuple[int, int]:
    """(width, height) with the longer side brought down to ``side``; unchanged if shorter.

    The quality gate measures at this size; ``decode_image`` resizes to the same size, so the
    gate finds its pixels ready and measures exactly what it would have measured itself.
    """
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_working_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` area-averaged down to the working side when it is far larger (over 1.5x).

    A 1080p frame decodes at half scale to 960x540 and a 12 MP photo at a quarter to
    1008x756; the gate, the not-a-product check, the perceptual hash and both networks' inputs
    were each resized from those pixels, one resize per consumer. Resized once here, every
    consumer starts from 512 px. Photos up to 1.5x the side (every web-sized photo the
    releases are measured on) keep their pixels, and their findings, exactly.
    """
    h, w = rgb.shape[:2]
    if max(h, w) <= side * 3 // 2:
        return rgb
    return cv2.resize(rgb, working_size(w, h, side), interpolation=cv2.INTER_AREA)


# OpenCV's reduced JPEG decodes, by DCT scale (see ``_jpeg_by_opencv``).
_OPENCV_SCALES = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _jpeg_by_opencv(data: bytes, img: Image.Image, full: tuple[int, int]) -> np.ndarray | None:
    """A colour JPEG with no rotation decoded by OpenCV at the DCT scale Pillow's draft chose
    (BGR), or None: anything else is Pillow's.

    Both run libjpeg-turbo with the same settings, so the pixels are the same bit for bit
    (288 variants checked: subsampling 4:4:4 to 4:2:0, progressive, restart markers, odd
    sizes, scales 1 to 1/4), but OpenCV hands over a numpy array where Pillow's goes
    through its 4-byte pixels, a packed copy and a join: 1.1 ms less CPU for a 1080p frame
    at half scale (of about 24 ms graded). A file that does not end in its end-of-image
    marker (truncated) is left to Pillow, which refuses it as before, and so is anything
    OpenCV cannot decode.
    """
    if img.format != "JPEG" or img.mode != "RGB" or not data.endswith(b"\xff\xd9"):
        return None
    if _orientation(img) != 1:
        return None
    w, h = full
    scale = next(
        (k for k in _OPENCV_SCALES if (math.ceil(w / k), math.ceil(h / k)) == img.size), None
    )
    if scale is None:
        return None
    flags = _OPENCV_SCALES[scale] | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None or bgr.shape != (img.height, img.width, 3):
        return None
    return bgr


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    """Grey levels 0..255 (any dtype) as an RGB uint8 array."""
    return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _to_rgb(img: Image.Image) -> np.ndarray:
    """8-bit RGB of any mode our formats decode to, at the image's (already reduced) size.

    Pillow's ``convert("RGB")`` clips 16- and 32-bit grey at 255 instead of scaling it (a
    16-bit grey photo turns white) and drops alpha, leaving whatever colour transparent
    pixels happen to hold; both are done here instead.
    """
    mode = img.mode
    if mode.startswith("I;16"):
        return _grey_rgb(np.asarray(img).astype(np.float32) * (255 / 65535))
    if mode in ("I", "F"):
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        peak = float(values.max())
        # The file does not say its range: floats up to 1 are a unit range; otherwise the
        # smallest integer range (8, 16 or 32 bits) that holds the data.
        if mode == "F" and peak <= 1.0:
            top = 1.0
        else:
            top = next((t for t in (255.0, 65535.0) if peak <= t), 2.0**32 - 1)
        return _grey_rgb(values * (255 / top))
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        background = Image.new("RGBA", img.size, _BACKGROUND)
        return np.asarray(Image.alpha_composite(background, img.convert("RGBA")).convert("RGB"))
    if mode == "RGB":  # what JPEGs decode to: one copy into numpy, not two
        return np.asarray(img)
    try:
        return np.asarray(img.convert("RGB"))
    except ValueError as exc:
        raise NotAnImageError(
            f"the photo's colour mode ({mode}) is not supported; {_SEND_INSTEAD}"
        ) from exc


def _decode(
    img: Image.Image,
    data: bytes,
    *,
    limits: ImageLimits,
    max_side: int | None,
    budget: DecodeBudget | None,
) -> DecodedImage:
    """Check the opened header, then decode within the budget down to the working size."""
    fmt = str(img.format)
    pixels = img.width * img.height
    if pixels > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image is {img.width}x{img.height} pixels; the limit is "
            f"{limits.max_pixels} pixels",
            limit=limits.max_pixels,
            actual=pixels,
        )
    if fmt not in _PRIMARY_ONLY and getattr(img, "is_animated", False):
        raise NotAnImageError(
            f"the file is an animation or holds several images; {_SEND_INSTEAD}, one photo a file"
        )
    full = img.size
    if max_side is not None:
        _reduce_jpeg(img, max_side)
    factor = 1 if max_side is None else max(1, max(img.size) // max_side)
    cost = _decode_cost(img, fmt=fmt, full=full, factor=factor)
    with budget.hold(cost) if budget is not None else contextlib.nullcontext():
        if factor == 1 and (bgr := _jpeg_by_opencv(data, img, full)) is not None:
            if max_side is not None:
                bgr = _to_working_side(bgr, max_side)  # per channel: the same either order
            return DecodedImage(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), fmt, full[0], full[1])
        img.load()
        orientation = _orientation(img)
        small = _shrink(img, factor)
        if small is not img:
            img.close()  # the full-size pixels go now, while the budget still counts them
        if orientation != 1:
            small = small.transpose(_TRANSPOSE[orientation])
        rgb = np.ascontiguousarray(_to_rgb(small))
    if max_side is not None:
        rgb = _to_working_side(rgb, max_side)
    if orientation in (5, 6, 7, 8):  # a quarter turn swaps the photo's sides too
        full = (full[1], full[0])
    return DecodedImage(rgb, fmt, full[0], full[1])


def decode_image(
    data: bytes,
    *,
    limits: ImageLimits = ImageLimits(),
    max_side: int | None = None,
    budget: DecodeBudget | None = None,
) -> DecodedImage:
    """Decode upload bytes to upright 8-bit RGB, or raise an ``ImageRejected`` subclass.

    With ``max_side`` the photo is reduced to the smallest integer scale whose longer side is
    at least ``max_side`` (a JPEG right in its DCT, any other format right after decoding),
    and when that is still over 1.5x ``max_side`` (a 1080p frame at half scale, a 12 MP photo
    at a quarter) area-averaged to ``max_side``; ``width``/``height`` stay the photo's own. With ``budget`` the decode waits for room in
    it and holds its estimated cost while full-size pixels exist; ``DecoderBusyError`` (not
    an ``ImageRejected``) says there was none in time.
    """
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"the file is {len(data)} bytes; the limit is {limits.max_bytes}",
            limit=limits.max_bytes,
            actual=len(data),
        )
    if not data:
        raise NotAnImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns about big images (our own pixel limit is the real guard) and about
            # corrupt metadata (a bad EXIF block costs the rotation, not the photo).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            img = Image.open(io.BytesIO(data), formats=_FORMATS)
            try:
                return _decode(img, data, limits=limits, max_side=max_side, budget=budget)
            finally:
                img.close()
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires inside open() for gross bombs, before our check can.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise ImageTooLargeError(
            f"the image claims more pixels than the limit of {limits.max_pixels}",
            limit=limits.max_pixels,
            actual=int(found.group(1)) if found else 0,
        ) from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(_not_supported(data)) from exc
    except _CORRUPT as exc:
        raise NotAnImageError(
            "the image data is corrupt or truncated; send the original photo again"
        ) from exc


@dataclass(frozen=True)
class QualityThresholds:
    """Where the gate draws its lines; measured on 1,200 real pool photos: 0.1% rejected."""

    min_side: int = 64
    min_brightness: float = 25.0
    max_brightness: float = 250.0
    min_sharpness: float = 4.0  # variance of the Laplacian at 512 px; real pools: 0.1% below 5


@dataclass(frozen=True)
class QualityIssue:
    """One reason a photo cannot be judged, with advice the customer can follow."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form for API and CLI output."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class QualityReport:
    """The gate's verdict and its measurements."""

    ok: bool
    issues: tuple[QualityIssue, ...] = field(default=())
    brightness: float = 0.0
    sharpness: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON form for API and CLI output."""
        return {
            "ok": self.ok,
            "issues": [i.as_dict() for i in self.issues],
            "brightness": round(self.brightness, 1),
            "sharpness": round(self.sharpness, 1),
        }


def assess_quality(
    rgb: np.ndarray,
    *,
    thresholds: QualityThresholds = QualityThresholds(),
    size: tuple[int, int] | None = None,
) -> QualityReport:
    """Judge size, exposure and focus of an upright RGB image.

    ``size`` is the photo's (width, height) as shot when ``rgb`` was decoded reduced.
    """
    w, h = size or (rgb.shape[1], rgb.shape[0])
    issues = []
    if min(h, w) < thresholds.min_side:
        issues.append(
            QualityIssue(
                "too_small",
                f"the photo is only {w}x{h} pixels; send the original photo, "
                f"at least {thresholds.min_side} pixels on each side",
            )
        )
    h, w = rgb.shape[:2]
    size = working_size(w, h)
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if size != (w, h) else rgb
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    brightness = float(gray.mean())
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    if brightness < thresholds.min_brightness:
        issues.append(QualityIssue("too_dark", "the photo is too dark; retake it in better light"))
    elif brightness > thresholds.max_brightness:
        issues.append(
            QualityIssue(
                "too_bright", "the photo is washed out; retake it without direct light or flash"
            )
        )
    if sharpness < thresholds.min_sharpness:
        issues.append(
            QualityIssue("blurry", "the photo is too blurry; hold the phone still and tap to focus")
        )
    return QualityReport(not issues, tuple(issues), brightness, sharpness)
