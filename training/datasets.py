"""Build freshproof's YOLO dataset from the real pools plus generated swelling images.

Splitting is by *original photo*: several pools hold rotated, shifted or noised copies
of one shot under unrelated file names, so near-duplicates are grouped (union-find over
a rotation-invariant colour histogram) and a whole group lands in one split. The split
of a group is a hash of its first member, so rebuilding gives the same split.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.composites import build_banks, make_composite
from training.imageio import read_bgr
from training.pools import POOLS, SWELLING, Box, Sample, iter_pool, object_box
from training.synthetic import bulge_can, synthetic_pouch
from vision.labels import LABELS

__all__ = [
    "SPLITS",
    "BuildReport",
    "build_dataset",
    "capped_train_yaml",
    "group_near_duplicates",
    "split_of",
]

SPLITS = ("train", "val", "test")
# train / val (operating thresholds, calibration) / test (reported, never tuned on)
_SPLIT_EDGES = (70, 85)


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: image counts per split and pool, box counts per label."""

    root: Path
    images: dict[str, dict[str, int]]
    boxes: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary for the manifest and the model card."""
        return {"images": self.images, "boxes": self.boxes}


def _descriptor(path: Path) -> np.ndarray:
    img = read_bgr(path)
    img = cv2.GaussianBlur(cv2.resize(img, (96, 96), interpolation=cv2.INTER_AREA), (7, 7), 0)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    keep = (hsv[:, :, 2] > 30).astype(np.uint8)  # rotated copies add black corners
    hist = cv2.calcHist([hsv], [0, 1, 2], keep, [12, 3, 3], [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def group_near_duplicates(paths: list[Path], threshold: float = 0.30) -> list[int]:
    """Group ids per path; paths whose colour histograms are within ``threshold`` (L1) join."""
    if not paths:
        return []
    d = np.stack([_descriptor(p) for p in paths])
    parent = list(range(len(paths)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(paths)):
        dist = np.abs(d[i + 1 :] - d[i]).sum(axis=1)
        for j in np.nonzero(dist < threshold)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[b] = a
    return [find(i) for i in range(len(paths))]


def split_of(key: str) -> str:
    """Deterministic split of a group, from the SHA-256 of its key."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    if bucket < _SPLIT_EDGES[0]:
        return SPLITS[0]
    return SPLITS[1] if bucket < _SPLIT_EDGES[1] else SPLITS[2]


def _assign_splits(samples: list[Sample]) -> list[str]:
    # Near-duplicates only matter within one pool and one class folder.
    by_folder: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(samples):
        by_folder.setdefault((s.pool, s.path.parent.name), []).append(i)
    out = [""] * len(samples)
    for idx in by_folder.values():
        groups = group_near_duplicates([samples[i].path for i in idx])
        for i, g in zip(idx, groups, strict=True):
            out[i] = split_of(samples[idx[g]].path.name)
    return out


def _write(
    img: np.ndarray, boxes: Iterable[Box], root: Path, split: str, name: str, max_side: int
) -> None:
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    lines = []
    for b in boxes:
        x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in (b.x1, b.y1, b.x2, b.y2))
        if x2 - x1 > 0.005 and y2 - y1 > 0.005:
            lines.append(
                f"{b.label} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"
            )
    (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def build_dataset(
    *,
    pools_dir: Path,
    out: Path,
    max_side: int = 416,
    synthetic_per_split: dict[str, int] | None = None,
    pools: Iterable[str] | None = None,
    seed: int = 0,
    composites_per_split: dict[str, int] | None = None,
) -> BuildReport:
    """Write a YOLO dataset (images/, labels/, data.yaml, samples.jsonl) under ``out``.

    ``composites_per_split`` adds cut-paste composites (see ``training.composites``); off
    by default so a build without it is the same, file for file, as before they existed.
    """
    synthetic_per_split = synthetic_per_split or {"train": 400, "val": 80, "test": 80}
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    names = [p for p in (pools or POOLS) if (pools_dir / p).is_dir()]
    samples = [s for p in names for s in iter_pool(p, pools_dir / p)]
    splits = _assign_splits(samples)
    images: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    boxes: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    index = []
    intact_cans: dict[str, list[Sample]] = {s: [] for s in SPLITS}
    for s, split in zip(samples, splits, strict=True):
        name = f"{s.pool}__{s.path.stem}"
        img = read_bgr(s.path)
        _write(img, s.boxes, out, split, name, max_side)
        images[split][s.pool] += 1
        for b in s.boxes:
            boxes[split][LABELS[b.label]] += 1
        index.append(
            {
                "file": f"images/{split}/{name}.jpg",
                "pool": s.pool,
                "split": split,
                "kind": s.kind,
                "defective": s.defective,
                "tags": list(s.tags),
                "source": str(s.path.relative_to(pools_dir)),
            }
        )
        if s.pool == "can_defects" and not s.defective:
            intact_cans[split].append(s)
    rng = np.random.default_rng(seed)
    for split, n in synthetic_per_split.items():
        for k in range(n):
            # Half are real intact cans bulged by a warp, half procedural vacuum pouches;
            # each with a flat twin so the model must look at the bulge, not the object.
            swollen = k % 2 == 0
            cans = intact_cans[split]
            if k % 4 < 2 and cans:
                src = cans[int(rng.integers(len(cans)))]
                img = read_bgr(src.path)
                box = object_box(img)
                if swollen:
                    img = bulge_can(img, box, rng)
                kind = "synthetic_can"
            else:
                img, box = synthetic_pouch(rng, swollen=swollen)
                kind = "synthetic_pouch"
            bxs = (Box(SWELLING, *box),) if swollen else ()
            name = f"{kind}__{split}_{k:04d}"
            _write(img, bxs, out, split, name, max_side)
            images[split][kind] += 1
            boxes[split]["swelling"] += len(bxs)
            index.append(
                {
                    "file": f"images/{split}/{name}.jpg",
                    "pool": kind,
                    "split": split,
                    "kind": "package",
                    "defective": swollen,
                    "tags": [],
                    "source": None,
                }
            )
    if composites_per_split:
        index += _write_composites(
            samples=samples,
            splits=splits,
            per_split=composites_per_split,
            pools_dir=pools_dir,
            out=out,
            max_side=max_side,
            seed=seed,
            images=images,
            boxes=boxes,
        )
    (out / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in index) + "\n")
    # Which real photo went where, so anyone can check that no test photo was trained on.
    for split in SPLITS:
        sources = sorted(str(r["source"]) for r in index if r["split"] == split and r["source"])
        (out / f"split-{split}.txt").write_text("\n".join(sources) + "\n")
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(LABELS))
    )
    report = BuildReport(
        out, {k: dict(v) for k, v in images.items()}, {k: dict(v) for k, v in boxes.items()}
    )
    (out / "build.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report


def _write_composites(
    *,
    samples: list[Sample],
    splits: list[str],
    per_split: dict[str, int],
    pools_dir: Path,
    out: Path,
    max_side: int,
    seed: int,
    images: dict[str, Counter[str]],
    boxes: dict[str, Counter[str]],
) -> list[dict[str, object]]:
    """Write composites per split from that split's photos only; returns their index rows."""
    rows: list[dict[str, object]] = []
    for split, n in per_split.items():
        if n <= 0:
            continue
        # A generator of its own per split, so the synthetic images keep their stream and
        # one split's composites do not change when another's count does.
        rng = np.random.default_rng([seed, 0xC0, SPLITS.index(split)])
        mine = [s for s, sp in zip(samples, splits, strict=True) if sp == split]
        banks = build_banks(samples=mine, rng=rng)
        kinds = sorted(banks)
        if not kinds:
            continue  # no photo in this split can be cut out: nothing honest to paste
        for k in range(n):
            # One kind per scene (a crate of fruit, a pile of parcels) as customers shoot them.
            kind = kinds[int(rng.integers(len(kinds)))]
            comp = make_composite(bank=banks[kind], rng=rng)
            name = f"composite__{split}_{k:04d}"
            _write(comp.image, comp.boxes, out, split, name, max_side)
            images[split]["composite"] += 1
            for b in comp.boxes:
                boxes[split][LABELS[b.label]] += 1
            rows.append(
                {
                    "file": f"images/{split}/{name}.jpg",
                    "pool": "composite",
                    "split": split,
                    "kind": kind,
                    "defective": bool(comp.boxes),
                    "tags": list(comp.tags),
                    "source": None,
                    # The real photos pasted in, so a split audit can check composites too.
                    "parts": [str(o.source.relative_to(pools_dir)) for o in comp.objects],
                }
            )
    return rows


def capped_train_yaml(dataset: Path, caps: dict[str, int]) -> Path:
    """A data.yaml whose train set keeps at most ``caps[pool]`` images of a pool.

    For CPU training budgets: pools made of augmented copies of few shots (fruit_fresh_rotten)
    give little per extra image. The kept images are chosen by hash, so the list is stable.
    """
    rows = [json.loads(line) for line in (dataset / "samples.jsonl").read_text().splitlines()]
    by_pool: dict[str, list[str]] = {}
    for r in rows:
        if r["split"] == "train":
            by_pool.setdefault(r["pool"], []).append(r["file"])
    keep = []
    for pool, files in sorted(by_pool.items()):
        files.sort(key=lambda f: hashlib.sha256(f.encode()).hexdigest())
        keep += files[: caps.get(pool, len(files))]
    listing = dataset / "train-capped.txt"
    listing.write_text("\n".join(str((dataset / f).resolve()) for f in sorted(keep)) + "\n")
    yaml = (
        (dataset / "data.yaml").read_text().replace("train: images/train", f"train: {listing.name}")
    )
    out = dataset / "data-capped.yaml"
    out.write_text(yaml)
    return out
