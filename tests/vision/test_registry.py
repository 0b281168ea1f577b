import json
import shutil
from pathlib import Path

import pytest

from vision.errors import ModelError
from vision.registry import DEFAULT_WEIGHTS_DIR, file_sha256, load_manifest, resolve_model


def _copy_weights(tmp_path: Path) -> Path:
    manifest = load_manifest(DEFAULT_WEIGHTS_DIR)
    # The newest entry of the default name serves (the one before it stays for a rollback).
    entry = [m for m in manifest["models"] if m["name"] == manifest["default"]][-1]
    shutil.copy(DEFAULT_WEIGHTS_DIR / "manifest.json", tmp_path / "manifest.json")
    files = [entry["file"], *([entry["classifier"]["file"]] if "classifier" in entry else [])]
    for name in files:
        shutil.copy(DEFAULT_WEIGHTS_DIR / name, tmp_path / name)
    return tmp_path


def test_shipped_model_resolves_and_matches_its_hash() -> None:
    spec = resolve_model()
    assert spec.labels == ("spoilage", "mold", "swelling", "package_damage")
    assert spec.sha256 == file_sha256(spec.path)
    assert all(0 < t < 1 for t in spec.thresholds.values())


def test_altered_model_file_is_refused(tmp_path: Path) -> None:
    weights = _copy_weights(tmp_path)
    spec = resolve_model(weights)
    with spec.path.open("ab") as f:
        f.write(b"\x00")
    with pytest.raises(ModelError, match="SHA-256"):
        resolve_model(weights)


def test_missing_manifest_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model manifest"):
        resolve_model(tmp_path)
    weights = _copy_weights(tmp_path)
    with pytest.raises(ModelError, match="not in"):
        resolve_model(weights, "no-such-model")


def test_malformed_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        resolve_model(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [{"name": "x"}]}))
    with pytest.raises(ModelError, match="malformed"):
        resolve_model(tmp_path, "x")


def test_manifest_calibration_is_parsed_and_checked() -> None:
    from vision.calibration import PlattScaling, parse_calibration
    from vision.errors import ModelError
    from vision.labels import LABELS

    got = parse_calibration({"method": "platt", "per_label": {"mold": {"a": 0.5, "b": 1}}}, LABELS)
    assert got == {"mold": PlattScaling(0.5, 1.0)}
    assert parse_calibration(None, LABELS) == {}
    for bad in (
        {"method": "isotonic"},
        {"method": "platt", "per_label": {"rust": {"a": 1, "b": 0}}},
        {"method": "platt", "per_label": {"mold": {"a": -1, "b": 0}}},
        {"method": "platt", "per_label": {"mold": {"b": 0}}},
    ):
        with pytest.raises(ModelError):
            parse_calibration(bad, LABELS)


def test_an_unknown_test_time_view_is_refused(tiny_weights: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    manifest["models"][0]["classifier"]["views"] = ["hflip", "rotate45"]
    (weights / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"unknown test-time views \['rotate45'\]"):
        resolve_model(weights)
