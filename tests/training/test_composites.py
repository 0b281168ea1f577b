"""Cut-paste composites on small generated studio photos: boxes, determinism, splits, JPEG."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.composites import (
    MIN_VISIBLE,
    Bank,
    Cutout,
    _final_boxes,
    _Placed,
    build_banks,
    cut_out,
    draw_background,
    make_composite,
    phone_photo,
)
from training.datasets import build_dataset
from training.pools import MOLD, Box, Sample, object_box

# sha256 over samples.jsonl, split-{train,val,test}.txt and build.json of the build in
# `_build(composites=None)`, recorded with the code as it was before composites existed.
PRE_COMPOSITES_DIGEST = "31e1dc35605726f690712d91b937522798d33db8bb7525c15a422635896046ce"
ROWS_FILES = ("samples.jsonl", "split-train.txt", "split-val.txt", "split-test.txt", "build.json")


def fruit_photo(seed: int, *, rotten: bool, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 232, np.uint8)
    img = (img.astype(np.int16) + rng.integers(-4, 5, img.shape)).clip(0, 255).astype(np.uint8)
    color = tuple(int(c) for c in rng.integers(20, 190, 3))
    cx, cy = (int(v) for v in rng.integers(60, 100, 2))
    axes = (int(rng.integers(28, 45)), int(rng.integers(22, 40)))
    cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    if rotten:
        cv2.circle(img, (cx + 5, cy - 3), 9, (30, 50, 60), -1)
    return img


def fake_pools(root: Path) -> Path:
    for folder, seeds, rotten in (
        ("freshapples", range(8), False),
        ("rottenoranges", range(20, 28), True),
    ):
        d = root / "fruit_fresh_rotten" / folder
        d.mkdir(parents=True)
        for s in seeds:
            cv2.imwrite(str(d / f"{folder}_{s}.jpg"), fruit_photo(s, rotten=rotten))
    for folder, seeds in (("no_defect", range(40, 44)), ("major_defect", range(50, 54))):
        d = root / "can_defects" / folder
        d.mkdir(parents=True)
        for s in seeds:
            cv2.imwrite(str(d / f"can_{s}.jpg"), fruit_photo(s, rotten=folder != "no_defect"))
    return root


def _cutout(seed: int, *, rotten: bool) -> Cutout:
    img = fruit_photo(seed, rotten=rotten)
    boxes = (Box(MOLD, *object_box(img)),) if rotten else ()
    c = cut_out(img=img, boxes=boxes, source=Path(f"p/{seed}.jpg"), kind="produce")
    assert c is not None
    return c


@pytest.fixture(scope="module")
def bank() -> Bank:
    return Bank(
        tuple(_cutout(s, rotten=True) for s in range(3)),
        tuple(_cutout(s, rotten=False) for s in range(10, 13)),
    )


def test_cut_out_keeps_the_ellipse_and_its_box() -> None:
    c = _cutout(1, rotten=True)
    assert 0.6 < c.mask.mean() < 0.9  # an ellipse fills ~pi/4 of its bounding box
    (label, x1, y1, x2, y2) = c.boxes[0]
    assert label == MOLD and (x1, y1) == (0, 0) and (x2, y2) == c.mask.shape[::-1]


def test_cut_out_rejects_a_photo_without_an_object() -> None:
    flat = np.full((120, 120, 3), 200, np.uint8)
    assert cut_out(img=flat, boxes=(), source=Path("f.jpg"), kind="produce") is None


def test_boxes_stay_in_frame_and_cover_the_visible_object(bank: Bank) -> None:
    kept = 0
    for seed in range(25):
        comp = make_composite(bank=bank, rng=np.random.default_rng(seed))
        h, w = comp.image.shape[:2]
        for b in comp.boxes:
            assert 0 <= b.x1 < b.x2 <= 1 and 0 <= b.y1 < b.y2 <= 1
        for obj in comp.objects:
            if not obj.boxes:
                continue
            kept += 1
            (b,) = obj.boxes
            ys, xs = np.nonzero(obj.mask)
            assert xs.min() >= b.x1 * w - 1e-6 and xs.max() + 1 <= b.x2 * w + 1e-6
            assert ys.min() >= b.y1 * h - 1e-6 and ys.max() + 1 <= b.y2 * h + 1e-6
            # ... and tightly: the box is the visible object's extent, not a loose frame.
            assert (xs.max() + 1 - xs.min()) == pytest.approx((b.x2 - b.x1) * w, abs=1)
    assert kept >= 10


def test_a_mostly_hidden_object_drops_its_box() -> None:
    c = _cutout(2, rotten=True)
    ch, cw = c.mask.shape
    matrix = np.array([[1.0, 0, 10], [0, 1.0, 10]])
    full = np.zeros((200, 200), bool)
    full[10 : 10 + ch, 10 : 10 + cw] = c.mask
    rows = np.nonzero(full.any(axis=1))[0]
    for share, expect in ((MIN_VISIBLE - 0.15, 0), (MIN_VISIBLE + 0.15, 1)):
        visible = full.copy()
        visible[: rows[0] + int(len(rows) * (1 - share))] = False  # a hand from the top
        boxes = _final_boxes(_Placed(c, matrix, 1.0, visible), 200, 200)
        assert len(boxes) == expect


def test_same_seed_same_composite_other_seed_other(bank: Bank) -> None:
    a = make_composite(bank=bank, rng=np.random.default_rng(7))
    b = make_composite(bank=bank, rng=np.random.default_rng(7))
    c = make_composite(bank=bank, rng=np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes and a.tags == b.tags
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def test_clean_objects_are_pasted_without_boxes(bank: Bank) -> None:
    negatives = Bank((), bank.clean)
    for seed in range(8):
        comp = make_composite(bank=negatives, rng=np.random.default_rng(seed))
        assert comp.boxes == () and comp.objects
        assert not any(o.defective for o in comp.objects)
    # In a mixed bank, clean objects appear too, so pasting does not predict a defect.
    mixed = [make_composite(bank=bank, rng=np.random.default_rng(s)) for s in range(10)]
    assert any(not o.defective for m in mixed for o in m.objects)


def _blockiness(img: np.ndarray) -> float:
    """Mean step across 8-px JPEG block borders over the mean step inside blocks."""
    d = np.abs(np.diff(img.astype(np.float32).mean(axis=2), axis=1))
    cols = np.arange(d.shape[1]) % 8 == 7
    return float(d[:, cols].mean() / d[:, ~cols].mean())


def test_output_is_jpeg_re_encoded(bank: Bank) -> None:
    rng = np.random.default_rng(0)
    scene, _ = draw_background(rng=rng, width=256, height=256)
    assert _blockiness(scene) < 1.05  # the metric sees no blocks before encoding
    out, quality = phone_photo(scene, rng=rng, jpeg_quality=(40, 40))
    assert quality == 40 and _blockiness(out) > 1.3
    comps = [make_composite(bank=bank, rng=np.random.default_rng(s)) for s in range(8)]
    assert all(40 <= c.jpeg_quality <= 90 for c in comps)
    assert float(np.median([_blockiness(c.image) for c in comps])) > 1.15


def test_banks_draw_only_from_the_samples_given(tmp_path: Path) -> None:
    pools = fake_pools(tmp_path / "pools")
    fruit = sorted((pools / "fruit_fresh_rotten").rglob("*.jpg"))
    mine = {fruit[0], fruit[1], fruit[-1], fruit[-2]}
    samples = [
        Sample(
            "fruit_fresh_rotten", p, (Box(MOLD, *object_box(cv2.imread(str(p)))),), "produce", True
        )
        if "rotten" in p.name
        else Sample("fruit_fresh_rotten", p, (), "produce", False)
        for p in sorted(mine)
    ]
    banks = build_banks(samples=samples, rng=np.random.default_rng(0))
    used = {c.source for b in banks.values() for c in (*b.defective, *b.clean)}
    assert used == mine


def _build(tmp: Path, composites: dict[str, int] | None) -> Path:
    out = tmp / "ds"
    build_dataset(
        pools_dir=fake_pools(tmp / "pools"),
        out=out,
        synthetic_per_split={"train": 4, "val": 2, "test": 2},
        composites_per_split=composites,
    )
    return out


def _digest(ds: Path) -> str:
    h = hashlib.sha256()
    for name in ROWS_FILES:
        h.update(name.encode() + b"\0" + (ds / name).read_bytes())
    return h.hexdigest()


def test_default_build_is_unchanged_and_composites_only_add(tmp_path: Path) -> None:
    off = _build(tmp_path / "off", None)
    zero = _build(tmp_path / "zero", {"train": 0})
    on = _build(tmp_path / "on", {"train": 6, "val": 3, "test": 3})
    assert _digest(off) == _digest(zero) == PRE_COMPOSITES_DIGEST
    rows_off = (off / "samples.jsonl").read_text().splitlines()
    rows_on = (on / "samples.jsonl").read_text().splitlines()
    assert rows_on[: len(rows_off)] == rows_off
    for split in ("train", "val", "test"):
        name = f"split-{split}.txt"
        assert (on / name).read_text() == (off / name).read_text()
    for label in (off / "labels").rglob("*.txt"):
        assert (on / label.relative_to(off)).read_bytes() == label.read_bytes()
    added = [json.loads(r) for r in rows_on[len(rows_off) :]]
    assert {r["pool"] for r in added} == {"composite"} and len(added) == 12
    build = json.loads((on / "build.json").read_text())
    assert build["images"]["train"]["composite"] == 6
    # Never mix splits: every photo pasted into a composite belongs to the composite's split.
    for r in added:
        assert r["source"] is None and r["parts"]
        listed = set((on / f"split-{r['split']}.txt").read_text().split())
        assert set(r["parts"]) <= listed
        assert (on / r["file"]).exists()
