"""Images that are not photos of a product, generated (never committed), and what the model
does with them: refused as "not a product photo", or how confident a decision it takes.

Kinds: noise (uniform, Gaussian, salt-and-pepper, smooth blobs, coloured), flat colours and
blank walls (gradients, vignetting, sensor noise), rendered documents (invoices, letters),
screenshot-like app windows, checkerboards and stripes, and plain geometric shapes. Each is
drawn from a seed, so a set is reproducible; ``--seed`` picks another set.

    nice -n 10 python -m bench.not_products --per-kind 20 --seed 1
        [--dataset var/datasets/fp-v1]   # also: false refusals on the real val/test photos

Prints per kind how many were refused, and of the rest how many got a confident finding or a
decision the release would take alone; with ``--dataset``, the share of real in-domain photos
refused (false refusals), per split and pool.
"""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["KINDS", "not_product_images"]

Rng = np.random.Generator


def _size(rng: Rng) -> tuple[int, int]:
    w = int(rng.integers(320, 900))
    return w, int(w * rng.uniform(0.6, 1.5))


def _font(rng: Rng, lo: int = 11, hi: int = 30) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=int(rng.integers(lo, hi)))


def _colour(rng: Rng, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(lo, hi, 3))
    return r, g, b


def uniform_noise(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def gaussian_noise(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    grey = rng.random() < 0.5
    base = rng.normal(rng.uniform(60, 200), rng.uniform(15, 70), (h, w, 1 if grey else 3))
    return np.clip(np.repeat(base, 3, axis=2) if grey else base, 0, 255).astype(np.uint8)


def salt_and_pepper(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    img = np.full((h, w, 3), rng.integers(0, 256), dtype=np.uint8)
    mask = rng.random((h, w))
    share = rng.uniform(0.05, 0.4)
    img[mask < share / 2] = 0
    img[mask > 1 - share / 2] = 255
    return img


def smooth_noise(rng: Rng) -> np.ndarray:
    """Low-frequency coloured blobs: noise that is smooth at every scale a gate looks at."""
    w, h = _size(rng)
    cells = int(rng.integers(3, 12))
    small = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 6))))


def coloured_noise(rng: Rng) -> np.ndarray:
    """Noise at a middle scale (blocks a few pixels wide), tinted."""
    w, h = _size(rng)
    block = int(rng.integers(2, 9))
    small = rng.integers(0, 256, (h // block + 1, w // block + 1, 3), dtype=np.uint8)
    img = np.repeat(np.repeat(small, block, 0), block, 1)[:h, :w]
    tint = np.array(_colour(rng), dtype=np.float32)
    return np.clip(0.6 * img + 0.4 * tint, 0, 255).astype(np.uint8)


def flat_colour(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    img = np.full((h, w, 3), _colour(rng, 30, 240), dtype=np.float32)
    img += rng.normal(0, rng.uniform(0, 4), img.shape)  # a camera's sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


def blank_wall(rng: Rng) -> np.ndarray:
    """A painted wall: a smooth gradient of one colour, vignetting, a little texture."""
    w, h = _size(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) * rng.uniform(20, 80)
    r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
    light = ramp - r * rng.uniform(0, 90)
    base = np.array(_colour(rng, 90, 235), dtype=np.float32)
    img = base[None, None, :] + light[:, :, None]
    img += rng.normal(0, rng.uniform(1, 6), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


_WORDS = [
    "invoice",
    "total",
    "amount",
    "due",
    "item",
    "qty",
    "unit",
    "price",
    "tax",
    "vat",
    "subtotal",
    "order",
    "number",
    "customer",
    "account",
    "date",
    "payment",
    "terms",
    "bank",
    "transfer",
    "reference",
    "delivery",
    "address",
    "shipping",
    "net",
    "gross",
    "description",
    "discount",
    "thank",
    "you",
    "for",
    "your",
    "business",
    "page",
    "of",
]


def _line(rng: Rng, words: int) -> str:
    return " ".join(str(rng.choice(_WORDS)) for _ in range(words))


def document(rng: Rng) -> np.ndarray:
    """A printed invoice or letter, as scanned or photographed flat."""
    w = int(rng.integers(500, 900))
    h = int(w * 1.41)
    paper = _colour(rng, 235, 256)
    img = Image.new("RGB", (w, h), paper)
    d = ImageDraw.Draw(img)
    ink = _colour(rng, 0, 60)
    d.text((40, 30), "INVOICE" if rng.random() < 0.6 else "Dear customer,", ink, _font(rng, 24, 40))
    y = 110
    table = rng.random() < 0.7
    while y < h - 60:
        if table and rng.random() < 0.15:
            d.line((40, y, w - 40, y), ink, 1)
            y += 6
        text = _line(rng, int(rng.integers(3, 10)))
        if table:
            text += f"   {rng.integers(1, 20)}   {rng.uniform(1, 500):.2f}"
        d.text((40, y), text, ink, _font(rng, 11, 18))
        y += int(rng.integers(18, 30))
    out = np.asarray(img).astype(np.float32)
    if rng.random() < 0.5:  # photographed, not scanned: uneven light
        yy = np.linspace(-1, 1, h)[:, None, None]
        out = out * (1 - rng.uniform(0, 0.25) * yy**2)
    return np.clip(out, 0, 255).astype(np.uint8)


def screenshot(rng: Rng) -> np.ndarray:
    """An app window: title bar, side panel, buttons, text, a chart."""
    w, h = _size(rng)
    bg = _colour(rng, 200, 256) if rng.random() < 0.7 else _colour(rng, 20, 60)
    fg = (30, 30, 30) if sum(bg) > 380 else (230, 230, 230)
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    accent = _colour(rng, 40, 220)
    d.rectangle((0, 0, w, 36), accent)
    d.text((12, 8), "freshproof - dashboard", (255, 255, 255), _font(rng, 14, 20))
    side = int(w * rng.uniform(0.15, 0.3))
    d.rectangle((0, 36, side, h), _colour(rng, 150, 250))
    for i in range(int(rng.integers(4, 12))):
        d.text((10, 50 + 28 * i), _line(rng, 2), fg, _font(rng, 11, 16))
    y = 50
    while y < h - 40:
        if rng.random() < 0.3:
            bw = int(rng.integers(60, 160))
            d.rounded_rectangle((side + 20, y, side + 20 + bw, y + 28), 6, accent)
            d.text((side + 30, y + 6), _line(rng, 1), (255, 255, 255), _font(rng, 11, 15))
            y += 40
        elif rng.random() < 0.2:
            bars = int(rng.integers(4, 12))
            for b in range(bars):
                bh = int(rng.integers(10, 80))
                x = side + 20 + b * 24
                d.rectangle((x, y + 80 - bh, x + 16, y + 80), accent)
            y += 95
        else:
            d.text((side + 20, y), _line(rng, int(rng.integers(3, 8))), fg, _font(rng, 11, 17))
            y += 24
    return np.asarray(img)


def checkerboard(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    cell = int(rng.integers(4, 80))
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((yy // cell + xx // cell) % 2).astype(bool)
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[on], img[~on] = _colour(rng), _colour(rng)
    return img


def stripes(rng: Rng) -> np.ndarray:
    w, h = _size(rng)
    period = rng.uniform(4, 60)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period)
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    mix = (wave[:, :, None] > 0) if rng.random() < 0.5 else (wave[:, :, None] + 1) / 2
    return (a * mix + b * (1 - mix)).astype(np.uint8)


def shapes(rng: Rng) -> np.ndarray:
    """Flat geometric shapes (no faces, no products) on a plain ground."""
    w, h = _size(rng)
    img = Image.new("RGB", (w, h), _colour(rng, 150, 256))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 8))):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        shape = rng.integers(0, 3)
        if shape == 0:
            d.ellipse((x0, y0, x1, y1), _colour(rng))
        elif shape == 1:
            d.rectangle((x0, y0, x1, y1), _colour(rng))
        else:
            d.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], _colour(rng))
    return np.asarray(img)


KINDS: dict[str, Callable[[Rng], np.ndarray]] = {
    "uniform_noise": uniform_noise,
    "gaussian_noise": gaussian_noise,
    "salt_and_pepper": salt_and_pepper,
    "smooth_noise": smooth_noise,
    "coloured_noise": coloured_noise,
    "flat_colour": flat_colour,
    "blank_wall": blank_wall,
    "document": document,
    "screenshot": screenshot,
    "checkerboard": checkerboard,
    "stripes": stripes,
    "shapes": shapes,
}


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """The image as a phone would send it."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def not_product_images(per_kind: int, *, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``per_kind`` JPEGs of each kind, reproducible from ``seed``."""
    for k, (kind, draw) in enumerate(KINDS.items()):
        rng = np.random.default_rng([seed, k])
        for _ in range(per_kind):
            yield kind, jpeg(draw(rng), int(rng.integers(70, 95)))


def _judge_ood(predictor: object, per_kind: int, seed: int) -> dict[str, Counter[str]]:
    from vision.predictor import Predictor

    assert isinstance(predictor, Predictor)
    out: dict[str, Counter[str]] = {}
    for kind, data in not_product_images(per_kind, seed=seed):
        c = out.setdefault(kind, Counter())
        c["images"] += 1
        result = predictor.inspect(data, image=kind)
        codes = {i.code for i in result.quality.issues}
        if "not_a_product_photo" in codes:
            c["refused: not a product photo"] += 1
            continue
        if not result.quality.ok:
            c["refused by the gate: " + ",".join(sorted(codes))] += 1
            continue
        if any(not f.uncertain for f in result.findings):
            c["confident finding (sure)"] += 1
        alone = sorted(f for f, d in result.decisions.items() if d.alone)
        if alone:
            c["decided alone as " + "+".join(alone)] += 1
        else:
            c["judged, to a person"] += 1
    return out


def _false_refusals(predictor: object, dataset: Path) -> dict[str, dict[str, list[int]]]:
    from training.evaluate import is_real_pool, sample_rows
    from vision.predictor import Predictor

    assert isinstance(predictor, Predictor)
    rows = sample_rows(dataset)
    out: dict[str, dict[str, list[int]]] = {}
    for split in ("val", "test"):
        per_pool: dict[str, list[int]] = {}
        for path in sorted((dataset / "images" / split).glob("*.jpg")):
            pool = rows.get(f"images/{split}/{path.name}", {}).get("pool", "unknown")
            if not is_real_pool(pool):
                continue
            result = predictor.inspect(path.read_bytes(), image=path.name)
            refused = any(i.code == "not_a_product_photo" for i in result.quality.issues)
            tally = per_pool.setdefault(pool, [0, 0])
            tally[0] += 1
            tally[1] += int(refused)
        out[split] = per_pool
    return out


def main() -> None:
    """Run the measurement and print it as JSON."""
    from vision.predictor import Predictor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--weights", type=Path, default=Path("weights"))
    args = ap.parse_args()
    predictor = Predictor.from_weights(args.weights, threads=1)
    report: dict[str, object] = {
        "model": predictor.spec.version,
        "not_products": {
            k: dict(v) for k, v in _judge_ood(predictor, args.per_kind, args.seed).items()
        },
    }
    if args.dataset is not None:
        fr = _false_refusals(predictor, args.dataset)
        report["false_refusals"] = {
            split: {
                "photos": sum(t[0] for t in pools.values()),
                "refused": sum(t[1] for t in pools.values()),
                "per_pool": {p: {"photos": t[0], "refused": t[1]} for p, t in pools.items()},
            }
            for split, pools in fr.items()
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
