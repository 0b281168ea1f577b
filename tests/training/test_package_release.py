"""``training.release.release_with_package``: a shipped release plus a packaging classifier
(issue 25), exported from a real checkpoint, fused as val chooses, never judged on test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import jpeg_bytes, scene
from vision.labels import LABELS
from vision.predictor import Predictor

START = Path("weights/freshproof-detector-0.3.1-condition.pt")


def _val_split(root: Path) -> Path:
    """A val split of parcels, half of them damaged, and a test split nobody may read."""
    rows = []
    for split in ("val", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for i in range(6):
        name = f"parcel_damaged_intact__{i}"
        (root / "images" / "val" / f"{name}.jpg").write_bytes(jpeg_bytes(scene(seed=i)))
        if i % 2:
            label = LABELS.index("package_damage")
            (root / "labels" / "val" / f"{name}.txt").write_text(f"{label} 0.5 0.5 0.9 0.9\n")
        rows.append(
            {"file": f"images/val/{name}.jpg", "pool": "parcel_damaged_intact", "split": "val"}
        )
    (root / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


@pytest.mark.slow
def test_a_release_with_a_packaging_classifier_is_built_on_val_alone(
    tiny_weights: Path, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from training.pack_train import build_model
    from training.release import release_with_package

    checkpoint = tmp_path / "best.pt"
    model = build_model(START)
    torch.save(
        {"model": model.state_dict(), "epoch": 3, "config": {"start": str(START), "imgsz": 32}},
        checkpoint,
    )
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    dataset = _val_split(tmp_path / "dataset")
    # Test photos that cannot be read: the release must not try.
    (dataset / "images" / "test" / "parcel_damaged_intact__9.jpg").write_bytes(b"not a photo")
    lines: list[str] = []
    entry = release_with_package(
        weights_dir=weights,
        name="tiny",
        base_version="0",
        version="0.1",
        candidate_dir=tmp_path / "candidate",
        dataset=dataset,
        package_checkpoint=checkpoint,
        input_mode="squash",
        views=("hflip",),
        threshold=0.4,
        training={"run": "pack-test", "epoch": 3},
        log=lines.append,
    )
    pc = entry["package_classifier"]
    assert pc["file"] == "tiny-0.1-package.onnx" and pc["imgsz"] == 32
    assert (pc["input"], pc["views"], pc["threshold"]) == ("squash", ["hflip"], 0.4)
    assert set(pc["fusion_on_val"]) == {"replace", "max", "mean"} and len(lines) == 3
    assert pc["fusion"] == max(
        pc["fusion_on_val"], key=lambda k: (pc["fusion_on_val"][k], k == "replace")
    )
    assert set(entry["metrics"]) == {"val"} and "promotion" not in entry
    assert entry["training"]["package_classifier"] == {"run": "pack-test", "epoch": 3}
    candidate = tmp_path / "candidate"
    assert (candidate / "tiny-0.1-package.pt").exists() and (candidate / "tiny-0.onnx").exists()
    served = Predictor.from_weights(candidate, name="tiny")
    assert served.package is not None and served.spec.version == "0.1"
    card = (candidate / "MODEL_CARD.md").read_text()
    assert "## Packaging classifier" in card and "tiny-0.1-package.onnx" in card
    assert "## On val" in card


def test_the_gate_s_photos_are_judged_as_the_family_their_pool_shows(
    tiny_weights: Path, tmp_path: Path
) -> None:
    """``collect`` tells the predictor each photo's family, as a station or a claim would:
    a release whose packaging classifier judges parcels alone is asked about the parcel
    photos, and judges the fruit photo exactly as the release without it."""
    from tests.vision.test_package import with_package
    from training.evaluate import collect, pool_family

    dataset = _val_split(tmp_path / "dataset")
    fruit = "fruit_fresh_rotten__0"
    (dataset / "images" / "val" / f"{fruit}.jpg").write_bytes(jpeg_bytes(scene(seed=11)))
    with (dataset / "samples.jsonl").open("a") as f:
        row = {"file": f"images/val/{fruit}.jpg", "pool": "fruit_fresh_rotten", "split": "val"}
        f.write(json.dumps(row) + "\n")
    assert (pool_family("parcel_damaged_intact"), pool_family("fruit_fresh_rotten")) == (
        "parcel",
        "produce",
    )
    assert (pool_family("feedback/can"), pool_family("feedback/crate"), pool_family("x")) == (
        "can",
        None,
        None,
    )
    routed = Predictor.from_weights(
        with_package(tiny_weights, tmp_path / "w", families=["parcel"]), name="tiny"
    )
    everyone = Predictor.from_weights(with_package(tiny_weights, tmp_path / "w2"), name="tiny")
    plain = Predictor.from_weights(tiny_weights, name="tiny")
    by = {
        side: {r.file.split("/")[-1]: r.scores for r in collect(p, dataset, "val")}
        for side, p in (("routed", routed), ("everyone", everyone), ("plain", plain))
    }
    assert by["routed"][f"{fruit}.jpg"] == by["plain"][f"{fruit}.jpg"]
    assert by["everyone"][f"{fruit}.jpg"] != by["plain"][f"{fruit}.jpg"]
    parcels = [name for name in by["routed"] if name.startswith("parcel")]
    assert len(parcels) == 6
    assert all(by["routed"][n] == by["everyone"][n] for n in parcels)
    assert any(by["routed"][n] != by["plain"][n] for n in parcels)
