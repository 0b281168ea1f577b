"""The packaging classifier's data, label audit, training resume and evaluation (issue 25).

Pools are drawn here (small JPEGs of flat or scratched boxes in pool folders, with split
lists), so nothing needs ``../shared/datasets``. Training runs in a child process: loading
the ultralytics network patches ``PIL.Image.open`` process-wide.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import run_in_child
from training.label_audit import Correction, audit_packs, record_corrections, write_report
from training.pack_eval import Verdicts, choose_threshold, group_table
from training.pack_train import _draw, auroc
from training.packaging import apply_corrections, corrections_of, file_sha256, pack_photos, summary
from vision.predictor import Judgement

START = Path("weights/freshproof-detector-0.3.1-condition.pt")


def _box(seed: int, damaged: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((120, 160, 3), 235, np.uint8)
    colour = tuple(int(c) for c in rng.integers(60, 200, 3))
    cv2.rectangle(img, (30, 25), (130, 95), colour, -1)
    if damaged:  # a dark tear across the box
        cv2.line(img, (40, 30), (120, 90), (20, 20, 20), 6)
    return img


def make_pools(root: Path) -> tuple[Path, Path]:
    """Two pack pools, 6 photos per folder, and split lists putting 4 in train, 1 in val, 1 in test."""
    pools, splits = root / "pools", root / "splits"
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    order = ["train"] * 4 + ["val", "test"]
    seed = 0
    for pool in ("parcel_damaged_intact", "box_damaged_fine"):
        for folder in ("damaged", "intact"):
            (pools / pool / folder).mkdir(parents=True)
            for i, split in enumerate(order):
                seed += 1
                name = f"{folder}_{i}.jpg"
                cv2.imwrite(str(pools / pool / folder / name), _box(seed, folder == "damaged"))
                lists[split].append(f"{pool}/{folder}/{name}")
    splits.mkdir()
    for split, names in lists.items():
        (splits / f"fp-v0-{split}.txt").write_text("\n".join(names) + "\n")
    return pools, splits


def test_pack_photos_follow_the_split_lists(tmp_path: Path) -> None:
    pools, splits = make_pools(tmp_path)
    (pools / "parcel_damaged_intact" / "intact" / "unlisted.jpg").write_bytes(b"x")
    photos = pack_photos(
        pools_dir=pools, splits_dir=splits, pools=("parcel_damaged_intact", "box_damaged_fine")
    )
    counts = summary(photos)
    assert counts["train"]["parcel_damaged_intact:damaged"] == 4
    assert counts["val"]["box_damaged_fine:intact"] == 1
    assert all(p.path.name != "unlisted.jpg" for p in photos)  # no split recorded: left out


class _FixedScores:
    """A predictor double: the ``package_damage`` score a test gave each photo's first pixel."""

    def __init__(self, by_pixel: dict[int, float]) -> None:
        self.by_pixel = by_pixel
        self.spec = type(
            "Spec", (), {"box_floor": 0.05, "thresholds": {"package_damage": 0.5, "spoilage": 0.5}}
        )()

    def judge(self, rgb: np.ndarray, *, floor: float) -> Judgement:
        score = self.by_pixel.get(int(rgb[60, 40, 0]), 0.5)
        return Judgement(
            {"package_damage": score, "spoilage": 0.0},
            (),
            {"clean": 1 - score, "package_damage": score},
        )


def test_audit_ranks_disagreement_and_never_touches_test(tmp_path: Path) -> None:
    pools, splits = make_pools(tmp_path)
    photos = pack_photos(pools_dir=pools, splits_dir=splits, pools=("parcel_damaged_intact",))
    # every damaged photo scored 0.9 except one train photo scored 0.05: it tops the list
    odd = next(p for p in photos if p.split == "train" and p.damaged)
    rgb_of = {p.source: cv2.cvtColor(cv2.imread(str(p.path)), cv2.COLOR_BGR2RGB) for p in photos}
    by_pixel = {int(rgb_of[p.source][60, 40, 0]): 0.9 if p.damaged else 0.1 for p in photos}
    by_pixel[int(rgb_of[odd.source][60, 40, 0])] = 0.05
    rows = audit_packs(_FixedScores(by_pixel), photos)  # type: ignore[arg-type]
    assert {r.split for r in rows} == {"train", "val"}
    assert rows[0].source == odd.source and rows[0].disagreement == pytest.approx(0.95)
    write_report(rows, tmp_path / "audit")
    assert (tmp_path / "audit" / "audit.csv").read_text().count("\n") == len(rows) + 1
    with pytest.raises(ValueError, match="never audited"):
        audit_packs(_FixedScores({}), photos, splits=("test",))  # type: ignore[arg-type]


def test_corrections_go_through_the_feedback_export_and_spare_test(tmp_path: Path) -> None:
    pools, splits = make_pools(tmp_path)
    photos = pack_photos(pools_dir=pools, splits_dir=splits)
    by_source = {p.source: p for p in photos}
    wrong = next(p for p in photos if p.split == "train" and p.damaged)
    manifest = record_corrections(
        [Correction(wrong.source, False, "open box, no damage")],
        by_source,
        store_dir=tmp_path / "store",
        out=tmp_path / "fb",
        version="audit-1",
        decided_by="audit:test",
    )
    body = json.loads((tmp_path / "fb" / "manifest.json").read_text())
    assert body["version"] == "audit-1" and body["examples"][0]["class"] == "clean"
    assert manifest.counts["photos"] == 1
    fixes = corrections_of(tmp_path / "fb")
    assert fixes == {file_sha256(wrong.path): False}
    fixed = apply_corrections(photos, fixes)
    changed = [p for p in fixed if p.corrected]
    assert [p.source for p in changed] == [wrong.source] and not changed[0].damaged
    test_photo = next(p for p in photos if p.split == "test" and p.damaged)
    untouched = apply_corrections(photos, {file_sha256(test_photo.path): False})
    assert not any(p.corrected for p in untouched)  # test labels are never corrected
    with pytest.raises(ValueError, match="test photo"):
        record_corrections(
            [Correction(test_photo.source, False, "")],
            by_source,
            store_dir=tmp_path / "store",
            out=tmp_path / "fb2",
            version="audit-2",
            decided_by="audit:test",
        )


def test_auroc_and_threshold() -> None:
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert np.isnan(auroc([0.3], [True]))
    scores = np.array([0.1, 0.3, 0.6, 0.8])
    assert choose_threshold(scores, np.array([False, False, True, True])) == pytest.approx(0.5)
    assert choose_threshold(scores, np.array([False, True, True, True])) == pytest.approx(0.3)


def test_draws_balance_groups_and_composites(tmp_path: Path) -> None:
    import random

    pools, splits = make_pools(tmp_path)
    train = [p for p in pack_photos(pools_dir=pools, splits_dir=splits) if p.split == "train"]
    lopsided = train + [p for p in train if p.damaged and p.pool == "box_damaged_fine"] * 20
    comps = [(tmp_path / "c.jpg", True)]
    draws = _draw(lopsided, comps, 1000, 0.2, random.Random(0))
    assert sum(1 for d in draws if d[0].name == "c.jpg") == 200
    box_damaged = sum(1 for path, dmg in draws if "box_damaged_fine" in str(path) and dmg)
    assert 150 < box_damaged < 250  # a quarter of the 800 real draws, not 20x more
    fruit = [tmp_path / "apple.jpg"]
    mixed = _draw(train, comps, 1000, 0.2, random.Random(0), fruit, 0.3)
    assert [d for d in mixed if d[0].name == "apple.jpg"] == [(fruit[0], False)] * 300
    assert sum(1 for d in mixed if d[0].name == "c.jpg") == 200


def test_group_table_pairs_the_models() -> None:
    from training.packaging import PackPhoto

    photos = [
        PackPhoto(Path(f"{i}.jpg"), f"s{i}", "parcel_damaged_intact", "test", i < 2)
        for i in range(4)
    ]
    shipped = Verdicts(np.array([0.9, 0.2, 0.8, 0.1]), np.array([True, False, True, False]))
    cand = Verdicts(np.array([0.9, 0.7, 0.2, 0.1]), np.array([True, True, False, False]))
    row = group_table(photos, shipped, cand)["parcels_and_boxes"]
    assert row["shipped"]["accuracy"] == 0.5 and row["candidate"]["accuracy"] == 1.0
    assert (row["only_shipped_right"], row["only_candidate_right"]) == (0, 2)
    assert row["candidate"]["false_alarms"] == 0.0 and row["shipped"]["auroc"] == 0.75


def train_twice(tmp: Path) -> dict[str, object]:
    """One epoch, then a second call that resumes for a second; then the ONNX export."""
    from training.pack_eval import export_pack_onnx, onnx_scores
    from training.pack_train import PackConfig, train_pack

    pools, splits = make_pools(tmp)
    photos = pack_photos(pools_dir=pools, splits_dir=splits)
    lines: list[str] = []
    config = PackConfig(
        start=str(START), imgsz=64, epochs=1, batch=4, samples_per_epoch=8, composites=4
    )
    train_pack(photos=photos, pools_dir=pools, run_dir=tmp / "run", config=config, log=lines.append)
    config = PackConfig(
        start=str(START), imgsz=64, epochs=2, batch=4, samples_per_epoch=8, composites=4
    )
    best = train_pack(
        photos=photos, pools_dir=pools, run_dir=tmp / "run", config=config, log=lines.append
    )
    onnx = export_pack_onnx(best, tmp / "pack.onnx")
    rgb = cv2.cvtColor(cv2.imread(str(photos[0].path)), cv2.COLOR_BGR2RGB)
    scores = onnx_scores(onnx, [rgb], 64)
    log = [json.loads(x) for x in (tmp / "run" / "log.jsonl").read_text().splitlines()]
    return {
        "epochs": [r["epoch"] for r in log],
        "resumed": any(line.startswith("resumed from") for line in lines),
        "score": float(scores[0]),
    }


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None or not START.is_file(),
    reason="needs the train extra and the shipped condition checkpoint",
)
def test_training_resumes_and_exports(tmp_path: Path) -> None:
    result = run_in_child("tests.training.test_pack:train_twice", tmp_path)
    assert result["epochs"] == [1, 2] and result["resumed"] is True
    assert 0.0 <= result["score"] <= 1.0


def test_squash_keeps_the_whole_photo() -> None:
    from training.pack_eval import PREPROCESS

    rgb = np.zeros((100, 300, 3), np.uint8)
    rgb[:, :20] = 255  # a white strip at the left edge, outside any centre crop
    squashed = PREPROCESS["squash"](rgb, 64)
    cropped = PREPROCESS["crop"](rgb, 64)
    assert squashed.shape == cropped.shape == (1, 3, 64, 64)
    assert squashed[0, :, :, 0].min() > 0.9 and cropped.max() == 0.0
