"""Cut-paste composites: real objects cut from studio photos, pasted into phone-like scenes.

The real pools are mostly single objects on plain studio backgrounds, while customers send
phone photos of crates, bags and hands. A composite cuts 1-3 objects out of one split's
photos with the same foreground mask the pool readers use for whole-object boxes, pastes
them with random scale, rotation and flip onto a procedurally drawn background (nothing
downloaded), may lay a hand over one, then degrades the whole frame like a phone camera.

Clean objects are pasted as often as defective ones and carry no box, so the model cannot
learn "pasted = defect". A labelled box follows its object through the warp, is cut to the
object's pixels that stay visible, and is dropped when most of it is hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.imageio import read_bgr
from training.pools import Box, Sample, object_mask

__all__ = [
    "CUTOUT_POOLS",
    "Bank",
    "Composite",
    "Cutout",
    "Pasted",
    "build_banks",
    "cut_out",
    "draw_background",
    "make_composite",
    "phone_photo",
]

# Pools whose photos are single objects on plain backgrounds, where a border-colour mask
# finds the object. Consumer photos (banana, mango) would cut out their clutter too.
CUTOUT_POOLS = ("fruit_fresh_rotten", "can_defects", "parcel_damaged_intact", "box_damaged_fine")
# A box keeps its label only while at least this share of its object pixels is visible.
MIN_VISIBLE = 0.4
# Phone-like frame sizes (w, h): square, landscape and portrait 4:3.
FRAMES = ((416, 416), (416, 312), (312, 416))
BACKGROUNDS = ("plain", "clutter", "crate", "bag", "cloth")


@dataclass(frozen=True)
class Cutout:
    """A real object cut from its photo: crop, mask and labelled boxes in crop pixels."""

    image: np.ndarray  # BGR crop around the object
    mask: np.ndarray  # bool, the object's pixels in the crop
    boxes: tuple[tuple[int, int, int, int, int], ...]  # label, x1, y1, x2, y2 (pixels)
    source: Path
    kind: str


@dataclass(frozen=True)
class Bank:
    """The cut-outs of one split and item kind: defective ones (with boxes) and clean ones."""

    defective: tuple[Cutout, ...]
    clean: tuple[Cutout, ...]


@dataclass(frozen=True)
class Pasted:
    """Where one cut-out landed: its visible pixels and the boxes it kept."""

    source: Path
    mask: np.ndarray  # bool, canvas-sized, visible after occlusion and clipping
    boxes: tuple[Box, ...]
    defective: bool


@dataclass(frozen=True)
class Composite:
    """One generated scene: the degraded image, its boxes and what went into it."""

    image: np.ndarray
    boxes: tuple[Box, ...]
    objects: tuple[Pasted, ...]
    tags: tuple[str, ...]
    jpeg_quality: int


def cut_out(*, img: np.ndarray, boxes: Sequence[Box], source: Path, kind: str) -> Cutout | None:
    """Cut the single object out of a studio photo, or None where the mask is implausible."""
    # object_mask's k-means draws from OpenCV's global RNG: seeding it makes a cut-out a
    # pure function of the photo, which the composites' determinism rests on.
    cv2.setRNGSeed(0)
    mask = object_mask(img)
    if mask is None:
        return None
    h, w = mask.shape
    share = float(mask.mean())
    if not 0.03 <= share <= 0.85:
        return None  # nothing found, or the "object" is the whole frame
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    crop_boxes = []
    for b in boxes:
        bx1, by1 = max(round(b.x1 * w), x0), max(round(b.y1 * h), y0)
        bx2, by2 = min(round(b.x2 * w), x1), min(round(b.y2 * h), y1)
        if bx2 <= bx1 or by2 <= by1 or mask[by1:by2, bx1:bx2].mean() < 0.3:
            return None  # the mask missed the labelled defect: pasting would mislabel it
        crop_boxes.append((b.label, bx1 - x0, by1 - y0, bx2 - x0, by2 - y0))
    return Cutout(
        np.ascontiguousarray(img[y0:y1, x0:x1]),
        mask[y0:y1, x0:x1].copy(),
        tuple(crop_boxes),
        source,
        kind,
    )


def _usable(s: Sample, pools: Iterable[str]) -> bool:
    # A defective photo without boxes (e.g. a banana with no rotten box) is neither a clean
    # negative nor a labelled positive.
    return s.pool in pools and (bool(s.boxes) or not s.defective)


def build_banks(
    *,
    samples: Sequence[Sample],
    rng: np.random.Generator,
    per_group: int = 150,
    pools: Iterable[str] = CUTOUT_POOLS,
) -> dict[str, Bank]:
    """Cut-outs per item kind from ``samples`` (one split's only), at most ``per_group`` each.

    Only a random subset is cut because masking every photo of a large split is slow and
    memory-hungry, while a few hundred objects already give endless combinations.
    """
    pools = tuple(pools)
    groups: dict[tuple[str, bool], list[Sample]] = {}
    for s in samples:
        if _usable(s, pools):
            groups.setdefault((s.kind, bool(s.boxes)), []).append(s)
    banks: dict[str, dict[bool, list[Cutout]]] = {}
    for (kind, defective), members in sorted(groups.items()):
        chosen: list[Cutout] = []
        for i in rng.permutation(len(members)):
            if len(chosen) >= per_group:
                break
            s = members[int(i)]
            c = cut_out(img=read_bgr(s.path), boxes=s.boxes, source=s.path, kind=kind)
            if c is not None:
                chosen.append(c)
        banks.setdefault(kind, {True: [], False: []})[defective] = chosen
    return {
        k: Bank(tuple(v[True]), tuple(v[False])) for k, v in banks.items() if v[True] or v[False]
    }


# --- backgrounds -------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in about -1..1: the base of grain, wrinkles and uneven light."""
    coarse = rng.normal(0, 1, (max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _plain(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.integers(40, 230, size=3).astype(np.float32)
    light = _smooth_noise(rng, h, w, 96)[..., None] * 18
    grain = _smooth_noise(rng, h, w, 6)[..., None] * 6
    return base + light + grain


def _clutter(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _plain(rng, h, w)
    for _ in range(int(rng.integers(8, 25))):
        color = tuple(float(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(10, max(h, w) // 3))
        shape = int(rng.integers(4))
        if shape == 0:
            cv2.rectangle(img, (x, y), (x + size, y + size // 2), color, -1)
        elif shape == 1:
            cv2.circle(img, (x, y), size // 2, color, -1)
        elif shape == 2:
            pts = rng.integers(-size, size, (int(rng.integers(3, 7)), 2)) + np.array([x, y])
            cv2.fillPoly(img, [pts.astype(np.int32)], color)
        else:
            end = (x + int(rng.integers(-size, size)), y + int(rng.integers(-size, size)))
            cv2.line(img, (x, y), end, color, int(rng.integers(2, 10)))
    # Real clutter sits at other depths: slightly out of focus behind the object.
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.5)))


def _crate(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Wooden crate slats: brown bands with stretched grain and dark gaps between them."""
    vertical = bool(rng.random() < 0.5)
    hh, ww = (w, h) if vertical else (h, w)  # draw horizontal slats, transpose if vertical
    wood = np.array([rng.uniform(40, 90), rng.uniform(90, 150), rng.uniform(140, 200)])
    ys = np.arange(hh, dtype=np.float32)[:, None]
    warp = _smooth_noise(rng, hh, ww, 48) * 6
    freq = float(rng.uniform(0.4, 1.2))
    grain = 0.85 + 0.15 * np.sin(ys * freq + warp) + 0.05 * _smooth_noise(rng, hh, ww, 4)
    img = wood[None, None] * grain[..., None]
    n = int(rng.integers(3, 7))
    edges = np.linspace(0, hh, n + 1).astype(int)
    for e in edges[1:-1]:
        gap = int(rng.integers(3, 12))
        img[max(0, e - gap // 2) : e + gap // 2] *= rng.uniform(0.15, 0.4)
    img = img.astype(np.float32)
    return np.ascontiguousarray(img.transpose(1, 0, 2)) if vertical else img


def _bag(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Plastic bag: a tinted film with wrinkled shading and sharp specular creases."""
    field = _smooth_noise(rng, h, w, 40) + 0.5 * _smooth_noise(rng, h, w, 14)
    shade = 0.7 + 0.2 * np.tanh(field)
    creases = np.abs(np.sin(field * float(rng.uniform(2, 5)))) ** 12
    tint = rng.uniform(150, 250, size=3) if rng.random() < 0.6 else rng.uniform(30, 200, size=3)
    img = tint[None, None] * shade[..., None] + 90 * creases[..., None]
    return img.astype(np.float32)


def _cloth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A tablecloth or tea towel: stripes or checks at a random angle."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = float(rng.uniform(0, np.pi))
    period = float(rng.uniform(12, 60))
    u = (xs * np.cos(a) + ys * np.sin(a)) / period
    v = (-xs * np.sin(a) + ys * np.cos(a)) / period
    pattern = (np.floor(u) % 2).astype(np.float32)
    if rng.random() < 0.5:
        pattern = np.abs(pattern - (np.floor(v) % 2))
    c1, c2 = rng.integers(30, 240, size=(2, 3)).astype(np.float32)
    img = c1[None, None] * (1 - pattern[..., None]) + c2[None, None] * pattern[..., None]
    return cv2.GaussianBlur(img, (3, 3), 0) + _smooth_noise(rng, h, w, 80)[..., None] * 15


_BACKGROUND_DRAW = {
    "plain": _plain,
    "clutter": _clutter,
    "crate": _crate,
    "bag": _bag,
    "cloth": _cloth,
}


def draw_background(*, rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, str]:
    """A procedural scene background (BGR uint8) and the name of its kind."""
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    img = _BACKGROUND_DRAW[kind](rng, height, width)
    return np.clip(img, 0, 255).astype(np.uint8), kind


# --- pasting -----------------------------------------------------------------------------


@dataclass
class _Placed:
    cutout: Cutout
    matrix: np.ndarray  # 2x3 affine, crop pixels -> canvas pixels
    area_scale: float
    visible: np.ndarray  # bool canvas mask, shrinks as later layers cover it


def _placement(
    *, rng: np.random.Generator, cutout: Cutout, width: int, height: int, n: int
) -> tuple[np.ndarray, float]:
    """A random similarity transform (scale, rotation, flip) that drops the crop in frame."""
    ch, cw = cutout.mask.shape
    # Several objects share the frame, so each is smaller when more are pasted.
    target = rng.uniform(0.25, 0.6) / np.sqrt(n) * min(width, height)
    s = float(target / max(ch, cw))
    angle = float(rng.uniform(-180, 180) if cutout.kind == "produce" else rng.uniform(-30, 30))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    # Centres reach the frame edge so some objects are cut off, as in hurried phone shots.
    cx, cy = rng.uniform(0.12, 0.88) * width, rng.uniform(0.12, 0.88) * height
    t = np.deg2rad(angle)
    rot = s * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.diag([flip, 1.0])
    offset = np.array([cx, cy]) - rot @ np.array([cw / 2, ch / 2])
    return np.hstack([rot, offset[:, None]]).astype(np.float64), s * s


def _warp(src: np.ndarray, matrix: np.ndarray, width: int, height: int, interp: int) -> np.ndarray:
    return cv2.warpAffine(
        src, matrix, (width, height), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _paste(canvas: np.ndarray, placed: _Placed) -> None:
    h, w = canvas.shape[:2]
    c = placed.cutout
    pixels = _warp(c.image, placed.matrix, w, h, cv2.INTER_LINEAR)
    hard = _warp(c.mask.astype(np.uint8), placed.matrix, w, h, cv2.INTER_NEAREST) > 0
    # Feather inwards only: a soft edge hides the cut, yet no pixel outside the mask (and
    # so outside the box) is touched.
    alpha = cv2.GaussianBlur(hard.astype(np.float32), (5, 5), 0) * hard
    canvas[:] = (canvas * (1 - alpha[..., None]) + pixels * alpha[..., None]).astype(np.uint8)
    placed.visible[:] = hard


_SKIN = ((60, 110, 180), (90, 140, 210), (70, 100, 150), (45, 70, 110), (30, 45, 75))


def _hand(
    *, rng: np.random.Generator, width: int, height: int, near: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A skin-toned palm with fingers over part of one object: (BGR layer, bool mask)."""
    ys, xs = np.nonzero(near)
    if len(xs) == 0:
        ys, xs = np.array([height // 2]), np.array([width // 2])
    span = max(int(xs.max() - xs.min()), int(ys.max() - ys.min()), 20)
    # The palm sits off the object's edge so fingers, not the palm, cover it: held, not hidden.
    side = rng.uniform(0, 2 * np.pi)
    cx = int(xs.mean() + np.cos(side) * span * 0.7)
    cy = int(ys.mean() + np.sin(side) * span * 0.7)
    palm = int(span * rng.uniform(0.35, 0.55))
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (cx, cy), (palm, int(palm * 0.8)), np.rad2deg(side), 0, 360, 1, -1)
    toward = side + np.pi
    for k in range(int(rng.integers(2, 5))):
        a = toward + (k - 1.5) * 0.3 + rng.normal(0, 0.08)
        length = palm * rng.uniform(1.2, 1.8)
        tip = (int(cx + np.cos(a) * length), int(cy + np.sin(a) * length))
        cv2.line(mask, (cx, cy), tip, 1, max(3, int(palm * 0.28)), lineType=cv2.LINE_8)
    tone = np.array(_SKIN[int(rng.integers(len(_SKIN)))], np.float32) * rng.uniform(0.85, 1.15)
    shade = 0.8 + 0.2 * cv2.GaussianBlur(mask.astype(np.float32), (0, 0), palm / 3 + 1)
    layer = np.clip(tone[None, None] * shade[..., None], 0, 255).astype(np.uint8)
    return layer, mask.astype(bool)


def _final_boxes(placed: _Placed, width: int, height: int) -> tuple[Box, ...]:
    """Each labelled box, cut to its object's visible pixels; dropped when mostly hidden."""
    c = placed.cutout
    out = []
    for label, x1, y1, x2, y2 in c.boxes:
        rect = np.zeros(c.mask.shape, np.uint8)
        rect[y1:y2, x1:x2] = 1
        inside = rect.astype(bool) & c.mask
        region = _warp(rect, placed.matrix, width, height, cv2.INTER_NEAREST) > 0
        seen = region & placed.visible
        # Expected area counts pixels pushed out of frame as hidden, too.
        expected = float(inside.sum()) * placed.area_scale
        if expected <= 0 or seen.sum() < MIN_VISIBLE * expected:
            continue
        ys, xs = np.nonzero(seen)
        out.append(
            Box(
                label,
                xs.min() / width,
                ys.min() / height,
                (xs.max() + 1) / width,
                (ys.max() + 1) / height,
            )
        )
    return tuple(out)


# --- phone camera ------------------------------------------------------------------------


def _colour_and_exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    warm = float(rng.uniform(-0.15, 0.15))  # white balance: tungsten warm .. shade cool
    gain = np.array([1 - warm, 1.0, 1 + warm], np.float32) * float(rng.uniform(0.65, 1.35))
    out = img * gain[None, None]
    gamma = float(rng.uniform(0.8, 1.25))
    return 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma


def _vignette(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xs - w / 2) / (w / 2)) ** 2 + ((ys - h / 2) / (h / 2)) ** 2
    strength = float(rng.uniform(0.0, 0.45))
    return img * (1 - strength * np.clip(r2 / 2, 0, 1))[..., None]


def _blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pick = rng.random()
    if pick < 0.35:
        return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.6, 2.0)))
    if pick < 0.6:  # hand shake: a short line kernel at a random angle
        n = int(rng.integers(5, 14))
        line = np.zeros((n, n), np.float32)
        line[n // 2, :] = 1
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        kernel = np.asarray(cv2.warpAffine(line, rot, (n, n)), np.float32)
        return cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    return img


def _sensor_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Shot noise grows with brightness, read noise does not; small sensors show both.
    # Filters leave values a rounding error below zero, where a square root is undefined.
    level = np.sqrt(np.clip(img, 0, 255) / 255.0)
    shot = rng.normal(0, 1, img.shape).astype(np.float32) * level
    read = rng.normal(0, 1, img.shape).astype(np.float32)
    return img + shot * float(rng.uniform(2, 10)) + read * float(rng.uniform(1, 4))


def phone_photo(
    img: np.ndarray, *, rng: np.random.Generator, jpeg_quality: tuple[int, int] = (40, 90)
) -> tuple[np.ndarray, int]:
    """Degrade ``img`` like a phone camera and re-encode as JPEG; returns (image, quality)."""
    out = img.astype(np.float32)
    out = _colour_and_exposure(out, rng)
    out = _vignette(out, rng)
    out = _blur(out, rng)
    out = _sensor_noise(out, rng)
    frame = np.clip(out, 0, 255).astype(np.uint8)
    quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
    ok, enc = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(enc, cv2.IMREAD_COLOR)), quality


# --- the scene ---------------------------------------------------------------------------


def _pick(rng: np.random.Generator, bank: Bank) -> Cutout:
    # Half defective, half clean where both exist: pasting must not predict the label.
    pools = [p for p in (bank.defective, bank.clean) if p]
    both = len(pools) == 2
    pool = pools[1] if both and rng.random() >= 0.5 else pools[0]
    return pool[int(rng.integers(len(pool)))]


def make_composite(
    *,
    bank: Bank,
    rng: np.random.Generator,
    max_objects: int = 3,
    hand_probability: float = 0.35,
) -> Composite:
    """Paste 1..``max_objects`` cut-outs from ``bank`` into a generated phone-photo scene."""
    if not bank.defective and not bank.clean:
        raise ValueError("empty cut-out bank")
    width, height = FRAMES[int(rng.integers(len(FRAMES)))]
    canvas, background = draw_background(rng=rng, width=width, height=height)
    n = int(rng.integers(1, max_objects + 1))
    placed: list[_Placed] = []
    for _ in range(n):
        c = _pick(rng, bank)
        matrix, area_scale = _placement(rng=rng, cutout=c, width=width, height=height, n=n)
        p = _Placed(c, matrix, area_scale, np.zeros((height, width), bool))
        _paste(canvas, p)
        for earlier in placed:
            earlier.visible &= ~p.visible
        placed.append(p)
    tags = [background]
    if rng.random() < hand_probability:
        target = placed[int(rng.integers(len(placed)))].visible
        layer, hand = _hand(rng=rng, width=width, height=height, near=target)
        canvas[hand] = layer[hand]
        for p in placed:
            p.visible &= ~hand
        tags.append("hand")
    image, quality = phone_photo(canvas, rng=rng)
    objects = tuple(
        Pasted(p.cutout.source, p.visible, _final_boxes(p, width, height), bool(p.cutout.boxes))
        for p in placed
    )
    boxes = tuple(b for o in objects for b in o.boxes)
    return Composite(image, boxes, objects, tuple(tags), quality)
