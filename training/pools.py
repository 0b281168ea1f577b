"""Readers for the real photo pools in ``../shared/datasets``: each yields labelled samples.

Every pool is mapped onto freshproof's four labels. What a pool cannot teach is left out
rather than guessed (banana 'overripe' is not spoilage, apple scab is a tree disease,
minor can defects are cosmetic), so the mapping here is the honest training contract that
the model card repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vision.labels import LABELS

__all__ = ["POOLS", "Box", "Sample", "iter_pool", "object_box", "object_mask"]

SPOILAGE, MOLD, SWELLING, PACKAGE_DAMAGE = (LABELS.index(n) for n in LABELS)


@dataclass(frozen=True)
class Box:
    """One labelled box in normalised ``x1, y1, x2, y2`` (0..1) image coordinates."""

    label: int
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Sample:
    """One real photo with its boxes (empty = a clean negative) and its source facts."""

    pool: str
    path: Path
    boxes: tuple[Box, ...]
    kind: str  # produce | package
    defective: bool
    tags: tuple[str, ...] = field(default=())


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"unreadable image {path}")
    return img


def _foreground(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Label image, stats and index of the largest non-background component (0 = none)."""
    h, w = img.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(img, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    b = max(2, min(h, w) // 40)
    border = np.concatenate(
        [
            lab[:b].reshape(-1, 3),
            lab[-b:].reshape(-1, 3),
            lab[:, :b].reshape(-1, 3),
            lab[:, -b:].reshape(-1, 3),
        ]
    )
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, _, centers = cv2.kmeans(border, 3, None, criteria, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    dist = np.min(np.linalg.norm(lab[:, :, None, :] - centers[None, None], axis=-1), axis=-1)
    mask = (dist > 18.0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n <= 1:
        return labels, stats, 0
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[i, cv2.CC_STAT_AREA] < 0.01 * h * w:
        return labels, stats, 0
    return labels, stats, i


def object_box(img: np.ndarray) -> tuple[float, float, float, float]:
    """Estimate the single object's box on a plain background, normalised.

    Background colours are sampled on the border and clustered (k=3) because many pool
    images are rotated copies with black corners beside the studio background. Falls
    back to a near-full-frame box when no plausible foreground is found.
    """
    h, w = img.shape[:2]
    _, stats, i = _foreground(img)
    if i == 0:
        return (0.02, 0.02, 0.98, 0.98)
    x, y, bw, bh, _ = stats[i]
    return (x / w, y / h, (x + bw) / w, (y + bh) / h)


def object_mask(img: np.ndarray) -> np.ndarray | None:
    """The single object's pixels (bool, holes filled) as ``object_box`` sees them, or None.

    Same border-colour k-means as ``object_box``, so a cut-out and the box a pool reader
    gave that photo agree. Holes are filled because highlights on fruit or labels on cans
    can match the studio colour and would otherwise be pasted as see-through.
    """
    labels, _, i = _foreground(img)
    if i == 0:
        return None
    blob = (labels == i).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(blob)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def _mask_boxes(mask: np.ndarray, label: int, min_frac: float = 0.0015) -> tuple[Box, ...]:
    h, w = mask.shape
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    out = []
    for x, y, bw, bh, area in stats[1:n]:
        if area >= min_frac * h * w:
            out.append(Box(label, x / w, y / h, (x + bw) / w, (y + bh) / h))
    return tuple(out)


def _yolo_boxes(label_file: Path, mapping: dict[int, int]) -> tuple[Box, ...]:
    out = []
    if label_file.exists():
        for line in label_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) != 5 or int(parts[0]) not in mapping:
                continue
            cx, cy, bw, bh = map(float, parts[1:])
            out.append(
                Box(mapping[int(parts[0])], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            )
    return tuple(out)


def _classes(root: Path) -> list[str]:
    return (root / "classes.txt").read_text().split()


def _fruit_fresh_rotten(root: Path) -> Iterator[Sample]:
    # Rotten oranges in this pool are overwhelmingly visibly mouldy: they are the only
    # real source for `mold`. Rotten apples and bananas teach `spoilage`.
    for folder in sorted(root.iterdir()):
        rotten = folder.name.startswith("rotten")
        label = MOLD if folder.name == "rottenoranges" else SPOILAGE
        for p in sorted(folder.glob("*.jpg")):
            boxes = (Box(label, *object_box(_read(p))),) if rotten else ()
            yield Sample("fruit_fresh_rotten", p, boxes, "produce", rotten, (folder.name,))


def _banana(root: Path) -> Iterator[Sample]:
    names = _classes(root)
    mapping = {names.index("rotten"): SPOILAGE}
    for p in sorted((root / "images").glob("*.jpg")):
        boxes = _yolo_boxes(root / "labels" / f"{p.stem}.txt", mapping)
        yield Sample("banana_ripeness_det", p, boxes, "produce", bool(boxes))


def _mango(root: Path) -> Iterator[Sample]:
    names = _classes(root)
    mapping = {names.index("slight_rotten"): SPOILAGE, names.index("severe_rotten"): SPOILAGE}
    for p in sorted((root / "images").glob("*.jpg")):
        boxes = _yolo_boxes(root / "labels" / f"{p.stem}.txt", mapping)
        yield Sample("mango_rot_grade_det", p, boxes, "produce", bool(boxes))


def _looks_mouldy(img: np.ndarray, region: np.ndarray) -> bool:
    """Mould is fuzzy white, grey-green or blue-green; brown rot is saturated orange-brown."""
    if region.shape != img.shape[:2]:
        region = cv2.resize(
            region.astype(np.uint8), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[region]
    if len(hsv) == 0:
        return False
    greenish = (hsv[:, 0] >= 30) & (hsv[:, 0] <= 110) & (hsv[:, 1] > 25)
    whitish = (hsv[:, 1] < 45) & (hsv[:, 2] > 150)
    return float(np.mean(greenish | whitish)) > 0.5


def _rot_masks(root: Path) -> Iterator[Sample]:
    # The pool marks rot without saying which kind; mouldy regions are told apart by colour
    # so this pool agrees with fruit_fresh_rotten, where mouldy oranges are `mold`.
    for p in sorted((root / "images").glob("*.jpg")):
        m = cv2.imread(str(root / "masks" / f"{p.stem}.png"), cv2.IMREAD_COLOR)
        if m is None:
            continue
        rot = (m[:, :, 0] > 127) & (m[:, :, 2] < 127)  # blue in BGR
        label = MOLD if _looks_mouldy(_read(p), rot) else SPOILAGE
        boxes = _mask_boxes(rot, label)
        yield Sample("rot_region_masks", p, boxes, "produce", bool(boxes))


def _apple_lesions(root: Path) -> Iterator[Sample]:
    for p in sorted((root / "images").glob("*.jpg")):
        if p.name.startswith("SCAB"):
            continue  # scab is a tree disease, not spoilage in the supply chain
        m = cv2.imread(str(root / "masks" / f"{p.stem}.png"), cv2.IMREAD_GRAYSCALE)
        if m is None:
            continue
        boxes = _mask_boxes(m > 127, SPOILAGE)
        yield Sample("apple_lesion_masks", p, boxes, "produce", bool(boxes))


def _damaged_intact(pool: str) -> object:
    def read(root: Path) -> Iterator[Sample]:
        for name in ("damaged", "intact"):
            for p in sorted((root / name).glob("*.jpg")):
                dmg = name == "damaged"
                boxes = (Box(PACKAGE_DAMAGE, *object_box(_read(p))),) if dmg else ()
                yield Sample(pool, p, boxes, "package", dmg, (name,))

    return read


def _cans(root: Path) -> Iterator[Sample]:
    # Minor defects (light scratches, spots) are cosmetic: resellable, so not labelled
    # package_damage and not used as negatives either.
    for name in ("no_defect", "major_defect", "critical_defect"):
        for p in sorted((root / name).glob("*.jpg")):
            dmg = name != "no_defect"
            boxes = (Box(PACKAGE_DAMAGE, *object_box(_read(p))),) if dmg else ()
            yield Sample("can_defects", p, boxes, "package", dmg, (name,))


POOLS = {
    "fruit_fresh_rotten": _fruit_fresh_rotten,
    "banana_ripeness_det": _banana,
    "mango_rot_grade_det": _mango,
    "rot_region_masks": _rot_masks,
    "apple_lesion_masks": _apple_lesions,
    "parcel_damaged_intact": _damaged_intact("parcel_damaged_intact"),
    "box_damaged_fine": _damaged_intact("box_damaged_fine"),
    "can_defects": _cans,
}


def iter_pool(name: str, root: Path) -> Iterator[Sample]:
    """Yield the samples of one pool found under ``root`` (the pool's own folder)."""
    yield from POOLS[name](root)  # type: ignore[operator]
