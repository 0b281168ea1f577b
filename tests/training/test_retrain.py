"""The retraining plan: the base pools replayed, new examples repeated, val kept clean."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from training.retrain import assemble, plan_retraining


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built dataset of generated swelling images (no photo pools needed)."""
    from training.datasets import build_dataset

    ds = tmp_path_factory.mktemp("retrain") / "ds"
    build_dataset(
        pools_dir=ds.parent / "no-pools",
        out=ds,
        synthetic_per_split={"train": 6, "val": 4, "test": 3},
    )
    return ds


def _feedback(base: Path, root: Path) -> tuple[Path, str]:
    """An export of two adjudicated photos: a base val photo (re-filed as a claim) and a new
    one, named by their SHA-256 as `freshproof feedback export` names them."""
    fb = root / "feedback"
    val_photo = sorted((base / "images" / "val").glob("*.jpg"))[0]
    new_photo = sorted((base / "images" / "test").glob("*.jpg"))[0]
    shas = []
    for n, (src, cls) in enumerate(((val_photo, "swelling"), (new_photo, "clean"))):
        sha = hashlib.sha256(src.read_bytes()).hexdigest()
        shas.append(sha)
        split = "train" if n == 0 else "val"
        (fb / "images" / split).mkdir(parents=True, exist_ok=True)
        (fb / "labels" / split).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, fb / "images" / split / f"{sha}.jpg")
        text = "2 0.5 0.5 0.4 0.4\n" if cls == "swelling" else ""
        (fb / "labels" / split / f"{sha}.txt").write_text(text)
        (fb / "cls" / split / cls).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, fb / "cls" / split / cls / f"{sha}.jpg")
    (fb / "manifest.json").write_text(json.dumps({"version": "t"}))
    return fb, str(val_photo.resolve())


def test_new_examples_repeat_over_the_replayed_pools_and_leave_val(
    base: Path, tmp_path: Path
) -> None:
    feedback, val_photo = _feedback(base, tmp_path)
    plan = plan_retraining(base=base, feedback=feedback, weight=3)
    base_train = sorted(str(p.resolve()) for p in (base / "images" / "train").glob("*.jpg"))
    # Every base training image is replayed once; each new example comes 3 times.
    assert sorted(plan.train[: len(base_train)]) == base_train
    new = plan.train[len(base_train) :]
    assert len(new) == 2 * 3 and len(set(new)) == 2
    # The fed-back val photo left val (thresholds are chosen there); test is untouched.
    assert val_photo in plan.left_val and val_photo not in plan.val
    assert len(plan.val) == len(list((base / "images" / "val").glob("*.jpg"))) - 1
    classes = [c for _, c in plan.cls_train[len(base_train) :]]
    assert sorted(classes) == ["clean"] * 3 + ["swelling"] * 3
    assert plan.counts()["left_out_of_val"] == 1


def test_assembly_is_a_trainable_dataset_named_by_its_manifest(base: Path, tmp_path: Path) -> None:
    feedback, _ = _feedback(base, tmp_path)
    plan = plan_retraining(base=base, feedback=feedback, weight=2)
    first = assemble(plan, tmp_path / "a")
    out = tmp_path / "a"
    assert (out / "train.txt").read_text().split() == list(plan.train)
    yaml = (out / "data.yaml").read_text()
    assert "train: train.txt" in yaml and "val: val.txt" in yaml and "2: swelling" in yaml
    repeated = list((out / "cls" / "train" / "swelling").glob("*__r1.jpg"))
    assert len(repeated) == 1  # the second copy of the new swelling example
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train_images"] == len(plan.train)
    assert (
        manifest["feedback_manifest_sha256"]
        == hashlib.sha256((feedback / "manifest.json").read_bytes()).hexdigest()
    )
    assert first == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    # The same plan assembled again elsewhere names the same data.
    other = plan_retraining(base=base, feedback=feedback, weight=2)
    assert assemble(other, tmp_path / "c") == first


def test_a_weight_below_one_is_refused(base: Path) -> None:
    with pytest.raises(ValueError, match="weight"):
        plan_retraining(base=base, feedback=None, weight=0)
