"""Synthetic `swelling` images: there is no real photo of a puffed pack or bulging can.

Two generators, both crude and said to be so in the model card: a warp that bulges the
silhouette of a real intact can, and procedural vacuum pouches drawn swollen (smooth
dome shading, a specular highlight, rounded outline) or flat (wrinkles, hard edges).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["bulge_can", "synthetic_pouch"]


def bulge_can(
    img: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Widen the middle of the object in ``box`` (normalised) like a can under pressure."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    cx = (x1 + x2) / 2
    amount = float(rng.uniform(0.10, 0.22))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.clip((ys - y1) / max(y2 - y1, 1.0), 0.0, 1.0)
    scale = 1.0 + amount * np.sin(np.pi * t)
    inside = (ys >= y1) & (ys <= y2)
    map_x = np.where(inside, cx + (xs - cx) / scale, xs).astype(np.float32)
    return cv2.remap(img, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 230, size=3).astype(np.float32)
    grad = np.linspace(-30, 30, size, dtype=np.float32)[None, :, None]
    coarse = rng.normal(0, 12, (size // 8, size // 8, 3)).astype(np.float32)
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + grad + noise, 0, 255)


def synthetic_pouch(
    rng: np.random.Generator, *, swollen: bool, size: int = 416
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Draw one vacuum pouch on a random background; returns the image and its box."""
    img = _background(rng, size)
    pw, ph = (int(size * f) for f in rng.uniform(0.35, 0.75, size=2))
    x0 = int(rng.integers(5, size - pw - 5))
    y0 = int(rng.integers(5, size - ph - 5))
    mask = np.zeros((size, size), np.uint8)
    radius = int(min(pw, ph) * (0.35 if swollen else 0.08))
    cv2.rectangle(mask, (x0 + radius, y0), (x0 + pw - radius, y0 + ph), 255, -1)
    cv2.rectangle(mask, (x0, y0 + radius), (x0 + pw, y0 + ph - radius), 255, -1)
    for cx, cy in (
        (x0 + radius, y0 + radius),
        (x0 + pw - radius, y0 + radius),
        (x0 + radius, y0 + ph - radius),
        (x0 + pw - radius, y0 + ph - radius),
    ):
        cv2.circle(mask, (cx, cy), radius, 255, -1)
    color = rng.integers(60, 220, size=3).astype(np.float32)  # meat, cheese, film tint
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (xs - (x0 + pw / 2)) / (pw / 2)
    v = (ys - (y0 + ph / 2)) / (ph / 2)
    r2 = np.clip(u * u + v * v, 0, 1)
    if swollen:
        shade = 0.55 + 0.45 * np.sqrt(1 - r2)  # a dome
        hx, hy = rng.uniform(-0.4, 0.1, size=2)
        spec = np.exp(-(((u - hx) ** 2 + (v - hy) ** 2) / 0.03)) * 120
    else:
        shade = np.full_like(u, 0.85)
        spec = np.zeros_like(u)
        for _ in range(int(rng.integers(6, 14))):  # wrinkles of a tight vacuum film
            pts = np.stack([rng.uniform(x0, x0 + pw, 3), rng.uniform(y0, y0 + ph, 3)], 1)
            cv2.polylines(shade, [pts.astype(np.int32)], False, 0.55, int(rng.integers(1, 4)))
        shade = cv2.GaussianBlur(shade, (5, 5), 0)
    pouch = np.clip(color[None, None] * shade[..., None] + spec[..., None], 0, 255)
    m = (cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32) / 255)[..., None]
    out = (img * (1 - m) + pouch * m).astype(np.uint8)
    if rng.random() < 0.5:
        k = int(rng.choice([3, 5, 7]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
    decoded = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else None
    out = out if decoded is None else np.asarray(decoded)
    box = (x0 / size, y0 / size, (x0 + pw) / size, (y0 + ph) / size)
    return out, box


def write_fixtures(folder: Path) -> list[Path]:
    """Write the small generated images the README's examples and tests use (seed fixed)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, swollen, seed in (("swollen_pouch.jpg", True, 7), ("flat_pouch.jpg", False, 8)):
        img, _ = synthetic_pouch(np.random.default_rng(seed), swollen=swollen, size=320)
        path = folder / name
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.append(path)
    return out


if __name__ == "__main__":
    import sys

    for p in write_fixtures(Path(sys.argv[1] if len(sys.argv) > 1 else "datasets/fixtures")):
        print(p)
