"""Label photos for measuring OCR: rendered pack labels with a known lot code and date.

Each photo is a label (a sticker, or text printed straight onto the film or carton by an
inkjet or thermal printer) in one of several real fonts, layouts and date formats,
composited onto a pack-like background (synthetic, or crops of real pack photos when a
folder of them is given), then photographed: perspective, rotation, and for the ``hard``
subset also curvature (a cylinder: cans, tubs), blur, glare, low contrast, sensor noise and
strong JPEG. Seeded: the same seed gives the same photos, so they are regenerated, never
committed.

Fonts come from Debian packages (fonts-dejavu, fonts-liberation, fonts-freefont-ttf,
fonts-courier-prime, fonts-ocr-b, fonts-dotgothic16, fonts-wqy-microhei); those missing are
skipped, and ``fonts()`` says which were used.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FONTS",
    "FONT_PACKAGES",
    "LabelPhoto",
    "LabelTruth",
    "fonts",
    "generate",
    "missing_fonts",
    "render_label_photo",
]

_ROOT = Path("/usr/share/fonts")
FONTS: dict[str, str] = {
    "dejavu-mono-bold": "truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "dejavu-sans": "truetype/dejavu/DejaVuSans.ttf",
    "dejavu-condensed-bold": "truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "liberation-sans-bold": "truetype/liberation/LiberationSans-Bold.ttf",
    "liberation-mono": "truetype/liberation/LiberationMono-Regular.ttf",
    "freemono-bold": "truetype/freefont/FreeMonoBold.ttf",
    "freesans": "truetype/freefont/FreeSans.ttf",
    "courier-prime": "opentype/courier-prime/Courier Prime.otf",
    "ocr-b": "opentype/ocr-b/OCRB.otf",
    "dotgothic16": "truetype/dotgothic16/DotGothic16-Regular.ttf",
}
CJK_FONT = "truetype/wqy/wqy-microhei.ttc"
FONT_PACKAGES = (
    "fonts-dejavu-core",
    "fonts-liberation",
    "fonts-freefont-ttf",
    "fonts-courier-prime",
    "fonts-ocr-b",
    "fonts-dotgothic16",
    "fonts-wqy-microhei",
)
"""Debian's packages holding FONTS and CJK_FONT: without them a seed draws other photos
(a missing font is skipped, and the Chinese layout with the CJK font), so every figure and
test of the label set assumes all of them (`.ci/run` installs them)."""
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class LabelTruth:
    """What the label says: the lot, the date and its kind, and how it was drawn."""

    lot: str
    kind: str  # use_by | best_before
    date: date
    layout: str
    font: str
    printing: str  # solid | dots (inkjet / dot-matrix)
    subset: str  # clear | hard


@dataclass(frozen=True)
class LabelPhoto:
    """A JPEG photo of a label and its truth."""

    name: str
    jpeg: bytes
    truth: LabelTruth


def fonts() -> dict[str, Path]:
    """The fonts installed here (name → file)."""
    return {n: _ROOT / p for n, p in FONTS.items() if (_ROOT / p).exists()}


def missing_fonts() -> list[str]:
    """The label set's font files not installed here (empty: the set is drawn as documented)."""
    wanted = [*FONTS.values(), CJK_FONT]
    return [p for p in wanted if not (_ROOT / p).exists()]


def _lot(rng: random.Random) -> str:
    digits = "0123456789"
    # Letters that producers avoid in codes people retype are still printed: keep them all.
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    shape = rng.choice(("LyyddX#", "yydddX", "X#####", "yy-ddd", "XX####", "LyymmddX", "#####"))
    out = []
    for c in shape:
        if c in "#dym":
            out.append(rng.choice(digits))
        elif c == "X":
            out.append(rng.choice(letters))
        else:
            out.append(c)
    return "".join(out)


def _date_text(d: date, style: str) -> str:
    return {
        "dmy/": f"{d:%d/%m/%Y}",
        "dmy.": f"{d:%d.%m.%Y}",
        "dmy2": f"{d:%d.%m.%y}",
        "iso": d.isoformat(),
        "dmon": f"{d.day:02d}{_MONTHS[d.month - 1]}{d:%y}",
        "d mon y": f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}",
        "compact": f"{d:%Y%m%d}",
        "cjk": f"{d.year}年{d.month:02d}月{d.day:02d}日",
    }[style]


def _lines(truth_lot: str, kind: str, d: date, layout: str, rng: random.Random) -> list[str]:
    """The label's printed lines for a layout."""
    packed = d - timedelta(days=rng.randint(3, 10))
    if layout == "one-line":
        key = "USE BY" if kind == "use_by" else "BB"
        return [f"LOT {truth_lot}  {key} {_date_text(d, rng.choice(('dmy/', 'dmy.')))}"]
    if layout == "two-line":
        key = "USE BY" if kind == "use_by" else "BEST BEFORE"
        return [
            f"{key} {_date_text(d, rng.choice(('dmy/', 'iso', 'd mon y')))}",
            f"LOT: {truth_lot}",
        ]
    if layout == "exp-batch":
        key = "EXP" if kind == "use_by" else "BB"
        return [f"{key} {_date_text(d, 'dmon')}", f"BATCH NO. {truth_lot}"]
    if layout == "sticker":
        key = "Use by" if kind == "use_by" else "Best before"
        return [
            rng.choice(
                (
                    "Strawberries 250 g",
                    "Chicken breast fillets",
                    "Beef mince 5% fat",
                    "Fresh salmon",
                )
            ),
            "Keep refrigerated 0-5 C",
            f"{key}: {_date_text(d, rng.choice(('dmy/', 'iso')))}",
            f"Packed on: {_date_text(packed, 'dmy2')}",
            f"Lot: {truth_lot}",
        ]
    if layout == "cjk":
        key = "有效期至" if kind == "use_by" else "保质期至"
        return [
            f"生产日期 {_date_text(packed, 'cjk')}",
            f"{key} {_date_text(d, rng.choice(('cjk', 'compact')))}",
            f"批号\uff1a{truth_lot}",  # a full-width colon, as Chinese labels print it
        ]
    raise ValueError(layout)


LAYOUTS = ("one-line", "two-line", "exp-batch", "sticker", "cjk")


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_ROOT / FONTS[name]), size)


_SIZE = 40  # the font size labels are drawn at, before the photo scales them


def _draw_label(
    lines: Sequence[str], font: str, cjk: bool, printing: str, rng: random.Random
) -> np.ndarray:
    """The label as an RGBA array: ink on a sticker, or ink alone (printed onto the pack)."""
    size = _SIZE
    f = ImageFont.truetype(str(_ROOT / CJK_FONT), size) if cjk else _font(font, size)
    pad, gap = size // 2, size // 3
    widths = [f.getbbox(t)[2] for t in lines]
    w = int(max(widths)) + 2 * pad
    h = len(lines) * (size + gap) + 2 * pad
    mask = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(mask)
    for n, t in enumerate(lines):
        d.text((pad, pad + n * (size + gap)), t, fill=255, font=f)
    ink = np.asarray(mask, dtype=np.float32) / 255.0
    if printing == "dots":
        # Inkjet / dot-matrix: the strokes sampled on a grid of round dots.
        step = max(2, size // 12)
        dots = np.zeros_like(ink)
        for y in range(step // 2, h, step):
            for x in range(step // 2, w, step):
                if ink[y, x] > 0.5:
                    cv2.circle(dots, (x, y), max(1, int(step * 0.55)), 1.0, -1, cv2.LINE_AA)
        ink = dots
    colour = np.array(
        rng.choice(((20, 20, 20), (30, 30, 90), (10, 10, 10), (90, 20, 20))), np.float32
    )
    sticker = rng.random() < 0.6
    base = (
        np.array(rng.choice(((250, 250, 245), (255, 255, 255), (245, 240, 220))), np.float32)
        if sticker
        else np.zeros(3, np.float32)
    )
    rgb = base * (1 - ink[..., None]) + colour * ink[..., None]
    alpha = np.ones_like(ink) if sticker else ink
    return np.dstack([rgb, alpha * 255]).astype(np.uint8)


def _background(w: int, h: int, rng: random.Random, backgrounds: Sequence[Path]) -> np.ndarray:
    if backgrounds and rng.random() < 0.5:
        img = cv2.imread(str(rng.choice(backgrounds)), cv2.IMREAD_COLOR)
        if img is not None:
            return cv2.resize(img[..., ::-1], (w, h), interpolation=cv2.INTER_LINEAR)
    # A pack: a base colour (carton, tray film, printed sleeve) with a gradient and texture.
    base = np.array(
        rng.choice(
            (
                (196, 164, 120),
                (230, 230, 235),
                (40, 90, 160),
                (200, 60, 50),
                (240, 240, 225),
                (70, 120, 60),
            )
        ),
        np.float32,
    )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = 0.85 + 0.25 * (xx / w) * rng.choice((-1, 1)) + 0.1 * (yy / h)
    texture = cv2.GaussianBlur(
        np.random.default_rng(rng.randint(0, 2**31)).normal(0, 10, (h, w)).astype(np.float32),
        (0, 0),
        2,
    )
    return np.clip(base * grad[..., None] + texture[..., None], 0, 255).astype(np.float32)


def _curve(label: np.ndarray, strength: float) -> np.ndarray:
    """The label wrapped round a cylinder: squeezed towards its sides, bowed vertically."""
    h, w = label.shape[:2]
    xs = np.linspace(-1, 1, w, dtype=np.float32)
    theta = xs * strength
    src_x = (np.sin(theta) / math.sin(strength) + 1) / 2 * (w - 1)
    map_x = np.tile(src_x, (h, 1))
    bow = (1 - np.cos(theta)) * h * 0.15
    map_y = np.arange(h, dtype=np.float32)[:, None] - bow[None, :]
    return cv2.remap(label, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderValue=0)


def render_label_photo(
    truth: LabelTruth, rng: random.Random, backgrounds: Sequence[Path] = ()
) -> bytes:
    """A JPEG photo of the label ``truth`` describes."""
    hard = truth.subset == "hard"
    lines = _lines(truth.lot, truth.kind, truth.date, truth.layout, rng)
    label = _draw_label(lines, truth.font, truth.layout == "cjk", truth.printing, rng).astype(
        np.float32
    )
    if hard and rng.random() < 0.5:
        label = _curve(label, rng.uniform(0.6, 1.1))
    W, H = 1280, 960
    photo = _background(W, H, rng, backgrounds)
    lh, lw = label.shape[:2]
    # Characters this many pixels tall in the photo: a phone held close (clear) or farther.
    glyph = rng.uniform(26, 40) if not hard else rng.uniform(18, 34)
    scale = min(glyph / _SIZE, 0.92 * W / lw, 0.85 * H / lh)
    tw, th = lw * scale, lh * scale
    cx, cy = W / 2 + rng.uniform(-0.1, 0.1) * W, H / 2 + rng.uniform(-0.1, 0.1) * H
    jitter = (0.03 if not hard else 0.12) * tw
    corners: np.ndarray = np.array(
        [
            [cx - tw / 2, cy - th / 2],
            [cx + tw / 2, cy - th / 2],
            [cx + tw / 2, cy + th / 2],
            [cx - tw / 2, cy + th / 2],
        ],
        np.float32,
    )
    angle = math.radians(rng.uniform(-4, 4) if not hard else rng.uniform(-12, 12))
    rot = np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32
    )
    corners = (corners - [cx, cy]) @ rot.T + [cx, cy]
    corners += np.array(
        [[rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)] for _ in range(4)], np.float32
    )
    src = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    m = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    warped = cv2.warpPerspective(label, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = warped[..., 3:4] / 255.0
    photo = photo * (1 - alpha) + warped[..., :3] * alpha
    # Lighting: a gentle falloff always; glare (a bright specular patch on the film) when hard.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = 1.0 - 0.15 * (((xx - rng.uniform(0, W)) / W) ** 2 + ((yy - rng.uniform(0, H)) / H) ** 2)
    photo *= light[..., None]
    if hard:
        if rng.random() < 0.6:
            gx, gy = cx + rng.uniform(-0.4, 0.4) * tw, cy + rng.uniform(-0.5, 0.5) * th
            sx, sy = rng.uniform(0.04, 0.15) * W, rng.uniform(0.03, 0.08) * H
            glare = np.exp(-(((xx - gx) / sx) ** 2 + ((yy - gy) / sy) ** 2)) * rng.uniform(80, 200)
            photo += glare[..., None]
        if rng.random() < 0.4:  # low contrast: faded ink, dim light
            photo = photo * rng.uniform(0.6, 0.8) + rng.uniform(20, 50)
    photo = np.clip(photo, 0, 255)
    sigma = rng.uniform(0.0, 0.6) if not hard else rng.uniform(0.8, 2.0)
    if hard and rng.random() < 0.35:  # motion blur: a hand moving
        k = rng.randint(5, 11)
        kernel: np.ndarray = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        kernel = cv2.warpAffine(
            kernel, cv2.getRotationMatrix2D((k / 2, k / 2), rng.uniform(0, 180), 1.0), (k, k)
        )
        photo = cv2.filter2D(photo, -1, kernel / max(kernel.sum(), 1e-6))
    elif sigma > 0.1:
        photo = cv2.GaussianBlur(photo, (0, 0), sigma)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(
        0, 2.0 if not hard else rng.uniform(5, 12), photo.shape
    )
    photo = np.clip(photo + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(
        buf, "JPEG", quality=rng.randint(85, 95) if not hard else rng.randint(35, 70)
    )
    return buf.getvalue()


def generate(
    n: int, *, seed: int = 0, subset: str = "clear", backgrounds: Sequence[Path] = ()
) -> Iterator[LabelPhoto]:
    """``n`` label photos of ``subset`` (clear or hard), the same for the same seed."""
    if subset not in ("clear", "hard"):
        raise ValueError(f"subset must be clear or hard, not {subset!r}")
    installed = sorted(fonts())
    if not installed:
        raise FileNotFoundError("no label fonts installed (apt-get install fonts-dejavu-core)")
    cjk = (_ROOT / CJK_FONT).exists()
    layouts = [x for x in LAYOUTS if cjk or x != "cjk"]
    rng = random.Random(f"{seed}:{subset}")
    for i in range(n):
        layout = layouts[i % len(layouts)]
        font = rng.choice(installed)
        printing = "dots" if rng.random() < (0.25 if subset == "clear" else 0.4) else "solid"
        truth = LabelTruth(
            lot=_lot(rng),
            kind=rng.choice(("use_by", "best_before")),
            date=date(2026, 1, 1) + timedelta(days=rng.randint(0, 700)),
            layout=layout,
            font="wqy-microhei" if layout == "cjk" else font,
            printing=printing,
            subset=subset,
        )
        yield LabelPhoto(
            f"{subset}-{seed}-{i:04d}.jpg", render_label_photo(truth, rng, backgrounds), truth
        )
