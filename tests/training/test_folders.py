"""Evaluating on photos sorted into class folders (how adjudicators and stations export them)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import jpeg_bytes, scene
from training.evaluate import evaluate_records
from training.folders import collect_folders, is_class_folder_dataset
from vision.predictor import Predictor


def _folders(root: Path, classes: dict[str, int]) -> Path:
    seed = 0
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            seed += 1
            (root / name / f"{i}.jpg").write_bytes(jpeg_bytes(scene(seed=seed)))
    return root


def test_folder_names_are_the_ground_truth(tmp_path: Path, tiny_weights: Path) -> None:
    root = _folders(tmp_path / "export", {"mold": 2, "intact": 3})
    assert is_class_folder_dataset(root) and not is_class_folder_dataset(tmp_path / "nothing")
    records = collect_folders(Predictor.from_weights(tiny_weights), root)
    assert sorted(r.file for r in records) == [
        "intact/0.jpg", "intact/1.jpg", "intact/2.jpg", "mold/0.jpg", "mold/1.jpg"
    ]  # fmt: skip
    truth = {r.file: [lab for lab, _ in r.gt] for r in records}
    assert truth["mold/0.jpg"] == ["mold"] and truth["intact/2.jpg"] == []
    labels = Predictor.from_weights(tiny_weights).spec.labels
    metrics = evaluate_records(records, labels, dict.fromkeys(labels, 0.5), boxes=False)
    assert metrics["images"] == 5 and metrics["image_level"]["images"] == 5
    assert "map50" not in metrics and "ap50" not in metrics["per_label"]["mold"]
    assert metrics["per_label"]["mold"]["images"] == 2


def test_an_unknown_class_folder_is_refused(tmp_path: Path, tiny_weights: Path) -> None:
    root = _folders(tmp_path / "export", {"mold": 1, "rusty": 1})
    with pytest.raises(ValueError, match="rusty"):
        collect_folders(Predictor.from_weights(tiny_weights), root)


def test_cli_evaluates_a_folder_and_can_store_it(tmp_path: Path, tiny_weights: Path) -> None:
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    root = _folders(tmp_path / "station-7", {"package_damage": 2, "clean": 2})
    result = CliRunner().invoke(
        app, ["evaluate", str(root), "--weights", str(weights), "--write-manifest"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["images"] == 4
    manifest = json.loads((weights / "manifest.json").read_text())
    assert manifest["models"][-1]["metrics"]["folders:station-7"] == printed
