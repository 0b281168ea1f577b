import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import jpeg_bytes, scene, textured
from vision.errors import ImageTooLargeError, NotAnImageError
from vision.image import ImageLimits, QualityThresholds, assess_quality, decode_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions over a few bytes of data: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _lossless_jpeg(rgb: np.ndarray) -> bytes:
    """A lossless (SOF3) JPEG of 8-bit RGB, which Pillow cannot write: predictor 1 (the left
    neighbour), one Huffman table of 4-bit codes for the nine difference sizes, components
    tagged R, G, B so libjpeg takes the samples as RGB."""
    h, w, _ = rgb.shape
    x = rgb.astype(np.int32)
    pred = np.empty_like(x)
    pred[0, 0] = 128
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    bits = []
    for diff in (x - pred).ravel().tolist():
        size = abs(diff).bit_length()
        extra = (diff if diff >= 0 else diff - 1) & ((1 << size) - 1)
        bits.append(format(size, "04b") + (format(extra, f"0{size}b") if size else ""))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    scan = int(stream, 2).to_bytes(len(stream) // 8, "big").replace(b"\xff", b"\xff\x00")

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    sof = struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([c, 0x11, 0]) for c in b"RGB")
    dht = bytes([0, 0, 0, 0, 9] + [0] * 12) + bytes(range(9))
    sos = bytes([3]) + b"".join(bytes([c, 0]) for c in b"RGB") + bytes([1, 0, 0])
    return (
        b"\xff\xd8"
        + segment(0xC3, sof)
        + segment(0xC4, dht)
        + segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )


def test_decodes_jpeg_to_rgb() -> None:
    img = textured(50, 80)
    out = decode_image(jpeg_bytes(img))
    assert (out.width, out.height, out.format) == (80, 50, "JPEG")
    assert out.rgb.shape == (50, 80, 3) and out.rgb.dtype == np.uint8


def test_applies_exif_orientation() -> None:
    img = textured(40, 100)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = decode_image(jpeg_bytes(img, exif=exif.tobytes()))
    assert (out.width, out.height) == (40, 100)


def test_non_images_are_refused_where_ultralytics_patched_pillow() -> None:
    """ultralytics replaces Image.open process-wide (its HEIF fallback): in a process that
    loaded it (a worker with the train extra), a non-image must still be "not an image"."""
    pytest.importorskip("ultralytics")
    import ultralytics.utils.patches  # noqa: F401  (applies the patch)

    assert Image.open.__module__ == "ultralytics.utils.patches"
    for data in (b"hello, this is text", b"<svg xmlns='http://www.w3.org/2000/svg'/>"):
        with pytest.raises(NotAnImageError):
            decode_image(data)


@pytest.mark.parametrize("data", [b"hello, this is text", b"%PDF-1.7\n...", b"\x00" * 2048])
def test_rejects_non_images(data: bytes) -> None:
    with pytest.raises(NotAnImageError):
        decode_image(data)


def test_rejects_empty_file() -> None:
    with pytest.raises(NotAnImageError, match="empty"):
        decode_image(b"")


def test_rejects_truncated_jpeg() -> None:
    data = jpeg_bytes(textured())
    with pytest.raises(NotAnImageError):
        decode_image(data[: len(data) // 3])


def test_rejects_too_many_bytes_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(b"\xff" * 5000, limits=ImageLimits(max_bytes=4096))
    assert (info.value.limit, info.value.actual) == (4096, 5000)


def test_refuses_decompression_bomb_from_header() -> None:
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(bomb)
    assert info.value.actual == 10_000_000_000


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageTooLargeError):
        decode_image(jpeg_bytes(textured(100, 100)), limits=ImageLimits(max_pixels=9_999))


def test_png_with_alpha_becomes_rgb() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.dstack([textured(30, 30), np.full((30, 30), 128, np.uint8)])).save(
        buf, format="PNG"
    )
    assert decode_image(buf.getvalue()).rgb.shape == (30, 30, 3)


def test_quality_accepts_a_good_photo() -> None:
    report = assess_quality(textured())
    assert report.ok and report.issues == ()


@pytest.mark.parametrize(("value", "code"), [(5, "too_dark"), (260, "too_bright")])
def test_quality_flags_exposure(value: int, code: str) -> None:
    img = np.clip(textured().astype(int) // 8 + value - 16, 0, 255).astype(np.uint8)
    report = assess_quality(img)
    assert not report.ok
    assert code in {i.code for i in report.issues}
    assert all("retake" in i.message for i in report.issues if i.code == code)


def test_quality_flags_blur() -> None:
    flat = np.full((240, 320, 3), 128, np.uint8)
    flat[:, :160] = 120  # one soft edge: nothing a model could judge
    import cv2

    blurred = cv2.GaussianBlur(flat, (31, 31), 0)
    report = assess_quality(blurred)
    assert [i.code for i in report.issues] == ["blurry"]


def test_quality_flags_too_small() -> None:
    report = assess_quality(textured(40, 40), thresholds=QualityThresholds(min_side=64))
    assert "too_small" in {i.code for i in report.issues}


def test_format_survives_orientation_fix() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(textured(20, 30)).save(buf, format="PNG", exif=exif.tobytes())
    assert decode_image(buf.getvalue()).format == "PNG"


def _phone_jpeg(w: int = 4032, h: int = 3024, **save: object) -> bytes:
    """A phone-sized JPEG (12 MP) made from a smooth real-looking scene."""
    return jpeg_bytes(cv2.resize(scene(h // 8, w // 8), (w, h)), **save)


def test_phone_photo_decodes_reduced_but_reports_its_own_size() -> None:
    out = decode_image(_phone_jpeg(), max_side=512)
    # 1/4 DCT scale (the smallest whose longer side is still at least 512; 1/8 gives 504),
    # 1008x756, still over 1.5x the side: area-averaged once to 512.
    assert out.rgb.shape == (384, 512, 3)
    assert (out.width, out.height) == (4032, 3024)
    assert out.scale == (7.875, 7.875)


def test_reduced_decode_leaves_the_quality_gate_exactly_as_it_was() -> None:
    """The gate measured at 512 px by resizing what it was given; it is given 512 px now, the
    same resize of the same pixels, so brightness and sharpness come out bit for bit."""
    data = jpeg_bytes(cv2.resize(scene(135, 240), (1920, 1080)))
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (960, 540))  # the 1/2 DCT scale the decode picks for 1080p
    before = assess_quality(np.asarray(img.convert("RGB")))
    out = decode_image(data, max_side=512)
    assert out.rgb.shape == (288, 512, 3)
    assert assess_quality(out.rgb, size=(out.width, out.height)) == before


def test_photos_up_to_one_and_a_half_times_the_side_keep_their_pixels() -> None:
    data = jpeg_bytes(textured(576, 768))
    assert np.array_equal(decode_image(data, max_side=512).rgb, decode_image(data).rgb)


def test_reduced_decode_keeps_the_upright_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = decode_image(_phone_jpeg(exif=exif.tobytes()), max_side=512)
    assert (out.width, out.height) == (3024, 4032)
    assert out.rgb.shape == (512, 384, 3)
    assert out.scale == (7.875, 7.875)


def test_reduced_decode_shows_the_same_picture() -> None:
    data = _phone_jpeg()
    full = decode_image(data).rgb
    small = decode_image(data, max_side=512).rgb
    area = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert float(np.abs(area.astype(int) - small.astype(int)).mean()) < 2.0


def test_small_photos_decode_at_full_size_other_formats_reduce_after_decoding() -> None:
    assert decode_image(jpeg_bytes(textured(500, 700)), max_side=512).rgb.shape == (500, 700, 3)
    # Over 1.5x the side, but no DCT scale covers 512: decoded whole, then area-averaged.
    assert decode_image(jpeg_bytes(textured(600, 900)), max_side=512).rgb.shape == (341, 512, 3)
    buf = io.BytesIO()
    Image.fromarray(textured(1200, 1600)).save(buf, format="PNG")
    # No DCT for PNG: decoded whole, then box-reduced by 3, the largest factor keeping 512.
    png = decode_image(buf.getvalue(), max_side=512)
    assert png.rgb.shape == (400, 534, 3) and (png.width, png.height) == (1600, 1200)
    assert decode_image(buf.getvalue()).rgb.shape == (1200, 1600, 3)  # no max_side: full
    assert decode_image(_phone_jpeg()).rgb.shape == (3024, 4032, 3)


def test_quality_judges_size_as_shot() -> None:
    small = textured(60, 80)
    assert "too_small" in {i.code for i in assess_quality(small).issues}
    assert assess_quality(small, size=(4032, 3024)).ok


def test_reduction_starts_where_half_scale_still_covers_the_working_side() -> None:
    at_edge = cv2.resize(textured(100, 128), (1024, 800))
    assert decode_image(jpeg_bytes(at_edge), max_side=512).rgb.shape == (400, 512, 3)
    under = cv2.resize(textured(100, 128), (1000, 800))
    # Decoded at full size (half would be 500), then brought to the side once.
    assert decode_image(jpeg_bytes(under), max_side=512).rgb.shape == (410, 512, 3)


@pytest.mark.parametrize(
    ("size", "options"),
    [
        ((1920, 1080), {}),  # a station frame: 1/2 scale, 4:2:0
        ((1921, 1083), {"quality": 95, "subsampling": 0}),  # odd sides, 4:4:4
        ((4032, 3024), {"progressive": True}),  # a phone photo: 1/4 scale
        ((1280, 721), {"subsampling": 1, "optimize": True}),  # 4:2:2
        ((800, 600), {}),  # full scale
    ],
)
def test_colour_jpegs_decode_to_exactly_pillows_pixels(
    size: tuple[int, int], options: dict[str, object]
) -> None:
    # OpenCV decodes these (vision.image._jpeg_by_opencv); Pillow's own decode at the same
    # DCT scale, then the same area resize, is what they must equal bit for bit.
    buf = io.BytesIO()
    Image.fromarray(cv2.resize(scene(135, 240), size)).save(buf, format="JPEG", **options)
    img = Image.open(io.BytesIO(buf.getvalue()))
    if 512 / max(size) <= 0.5:
        img.draft("RGB", tuple(-(-side * 512 // max(size)) for side in size))
    pillow = np.asarray(img.convert("RGB"))
    if max(pillow.shape[:2]) > 768:
        h, w = pillow.shape[:2]
        size = (round(w * 512 / max(h, w)), round(h * 512 / max(h, w)))
        pillow = cv2.resize(pillow, size, interpolation=cv2.INTER_AREA)
    out = decode_image(buf.getvalue(), max_side=512)
    assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous
    assert np.array_equal(out.rgb, pillow)


def test_lossless_jpegs_are_reduced_after_decoding() -> None:
    # A lossless JPEG has no DCT, so no reduced scale: asked for one by Pillow's draft,
    # libjpeg failed the decode and a valid photo was refused as corrupt whenever it was at
    # least twice the side asked for. It decodes at full size and is box-reduced instead.
    src = scene(48, 64)
    data = _lossless_jpeg(src)
    assert np.array_equal(decode_image(data).rgb, src)  # lossless, and read as RGB
    out = decode_image(data, max_side=16)
    assert (out.width, out.height) == (64, 48)
    assert np.array_equal(out.rgb, np.asarray(Image.fromarray(src).reduce(4)))
