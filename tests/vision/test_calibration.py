"""A manifest's calibration block changes the fused scores the predictor reports, and only them."""

import json
import shutil
from pathlib import Path

from tests.conftest import scene
from vision.calibration import PlattScaling
from vision.predictor import Predictor


def test_predictor_applies_the_manifests_calibration(tmp_path: Path, tiny_weights: Path) -> None:
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    platt = {"a": 0.5, "b": -1.0}
    manifest["models"][-1]["calibration"] = {"method": "platt", "per_label": {"mold": platt}}
    (weights / "manifest.json").write_text(json.dumps(manifest))

    rgb = scene(seed=3)
    raw = Predictor.from_weights(tiny_weights).judge(rgb, floor=0.01)
    calibrated = Predictor.from_weights(weights).judge(rgb, floor=0.01)
    assert calibrated.scores["mold"] == PlattScaling(**platt)(raw.scores["mold"])
    assert calibrated.scores["mold"] != raw.scores["mold"]
    for label in ("spoilage", "swelling", "package_damage"):
        assert calibrated.scores[label] == raw.scores[label]
    # the detector's own box scores are not probabilities of the photo's label: untouched
    assert [c.confidence for c in calibrated.candidates] == [c.confidence for c in raw.candidates]
