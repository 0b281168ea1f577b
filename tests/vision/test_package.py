"""The packaging classifier beside a release: read from the manifest, hash-checked, run by the
predictor and fused into ``package_damage`` (issue 25). Real tiny ONNX networks, no patches."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import jpeg_bytes, scene, tiny_onnx
from vision.errors import ModelError
from vision.package import PackageClassifierSpec, squash_input
from vision.predictor import Predictor
from vision.registry import file_sha256, resolve_model
from vision.runtime import load_backend


def with_package(tiny_weights: Path, dest: Path, **block: Any) -> Path:
    """The tiny release with a tiny two-class packaging classifier in its manifest entry."""
    shutil.copytree(tiny_weights, dest)
    net = tiny_onnx(dest / "tiny-0-package.onnx", kind="classifier", imgsz=32, seed=7, classes=2)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["models"][0]["package_classifier"] = {
        "file": net.name,
        "sha256": file_sha256(net),
        "classes": ["intact", "damaged"],
        "imgsz": 32,
        "input": "squash",
        "views": ["hflip"],
        "threshold": 0.5,
        "fusion": "replace",
        "label": "package_damage",
    } | block
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def damage_by_hand(weights: Path, rgb: np.ndarray) -> float:
    """The packaging network's P(damaged) on the squashed photo and its mirror, averaged."""
    backend = load_backend("onnxruntime", weights / "tiny-0-package.onnx")
    x = squash_input(rgb, 32)
    mirrored = np.ascontiguousarray(x[..., ::-1])
    return float((backend.run(x)[0][1] + backend.run(mirrored)[0][1]) / 2)


def test_the_manifest_block_is_read_and_its_file_hash_checked(
    tiny_weights: Path, tmp_path: Path
) -> None:
    weights = with_package(tiny_weights, tmp_path / "w")
    spec = resolve_model(weights)
    pc = spec.package_classifier
    assert pc is not None
    assert (pc.classes, pc.imgsz, pc.input, pc.views, pc.threshold, pc.fusion) == (
        ("intact", "damaged"), 32, "squash", ("hflip",), 0.5, "replace",
    )  # fmt: skip
    assert spec.identity()["package_classifier_sha256"] == pc.sha256
    assert (
        pc.as_dict() | {"file": pc.path.name}
        == json.loads((weights / "manifest.json").read_text())["models"][0]["package_classifier"]
    )
    (weights / "tiny-0-package.onnx").write_bytes(b"altered")
    with pytest.raises(ModelError, match=r"tiny-0-package\.onnx has SHA-256"):
        resolve_model(weights)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"input": "letterbox"}, "unknown input"),
        ({"fusion": "median"}, "unknown fusion"),
        ({"classes": ["ok", "broken"]}, "no 'damaged'"),
        ({"views": ["rot90"]}, "unknown test-time views"),
        ({"threshold": 1.0}, "not inside"),
        ({"label": "mold"}, "only 'package_damage'"),
        ({"imgsz": "big"}, "malformed"),
        ({"families": ["parcel", "crate"]}, r"unknown families \['crate'\]"),
        ({"families": []}, "families list is empty"),
    ],
)
def test_a_malformed_block_is_refused(
    tiny_weights: Path, tmp_path: Path, block: dict[str, Any], message: str
) -> None:
    weights = with_package(tiny_weights, tmp_path / "w", **block)
    with pytest.raises(ModelError, match=message):
        resolve_model(weights)


def test_its_threshold_lands_on_the_release_threshold() -> None:
    spec = PackageClassifierSpec(Path("p.onnx"), "0" * 64, ("intact", "damaged"), 32, "crop", 0.2)
    assert spec.score(0.0, 0.32) == 0.0 and spec.score(1.0, 0.32) == pytest.approx(1.0)
    assert spec.score(0.2, 0.32) == pytest.approx(0.32)
    ps = np.linspace(0, 1, 101)
    mapped = [spec.score(float(p), 0.32) for p in ps]
    assert all(b > a for a, b in itertools.pairwise(mapped))  # order kept
    assert [s >= 0.32 for s in mapped] == [p >= 0.2 - 1e-12 for p in ps]


def test_the_predictor_fuses_it_into_package_damage(tiny_weights: Path, tmp_path: Path) -> None:
    rgb = scene(seed=5)
    plain = Predictor.from_weights(tiny_weights).judge(rgb, floor=0.05)
    weights = with_package(tiny_weights, tmp_path / "w")
    predictor = Predictor.from_weights(weights)
    assert predictor.package is not None
    timing: dict[str, float] = {}
    judged = predictor.judge(rgb, floor=0.05, timing=timing)
    p = damage_by_hand(weights, rgb)
    assert judged.package == pytest.approx(p, abs=1e-6)
    threshold = predictor.spec.thresholds["package_damage"]
    expected = threshold * p / 0.5 if p < 0.5 else threshold + (1 - threshold) * (p - 0.5) / 0.5
    assert judged.scores["package_damage"] == pytest.approx(expected, abs=1e-6)
    # Every other label is the release's own; its networks ran as before.
    assert {k: v for k, v in judged.scores.items() if k != "package_damage"} == {
        k: v for k, v in plain.scores.items() if k != "package_damage"
    }
    assert judged.classifier == plain.classifier and "package" in timing
    # "max" keeps the release's own score where it is higher.
    manifest = json.loads((weights / "manifest.json").read_text())
    manifest["models"][0]["package_classifier"]["fusion"] = "max"
    (weights / "manifest.json").write_text(json.dumps(manifest))
    fused = Predictor.from_weights(weights).judge(rgb, floor=0.05).scores["package_damage"]
    assert fused == pytest.approx(max(plain.scores["package_damage"], expected), abs=1e-6)
    # "mean" averages the two, each on the release's scale.
    manifest["models"][0]["package_classifier"]["fusion"] = "mean"
    (weights / "manifest.json").write_text(json.dumps(manifest))
    fused = Predictor.from_weights(weights).judge(rgb, floor=0.05).scores["package_damage"]
    assert fused == pytest.approx((plain.scores["package_damage"] + expected) / 2, abs=1e-6)


def test_a_photo_is_found_damaged_exactly_when_it_reaches_the_package_threshold(
    tiny_weights: Path, tmp_path: Path
) -> None:
    rgb = scene(seed=9)
    weights = with_package(tiny_weights, tmp_path / "w")
    p = damage_by_hand(weights, rgb)
    manifest = json.loads((weights / "manifest.json").read_text())
    found = {}
    for threshold in (p - 0.01, p + 0.01):
        manifest["models"][0]["package_classifier"]["threshold"] = threshold
        (weights / "manifest.json").write_text(json.dumps(manifest))
        result = Predictor.from_weights(weights).inspect(jpeg_bytes(rgb), image="pack.jpg")
        found[threshold < p] = "package_damage" in {f.label for f in result.findings}
        assert result.model["package_classifier_sha256"] == file_sha256(
            weights / "tiny-0-package.onnx"
        )
        assert result.model["backend"] == "onnxruntime" and "package" in result.timing_ms
    # The JPEG round trip moves p by far less than 0.01 on this smooth scene.
    assert found == {True: True, False: False}


def test_a_release_without_one_is_unchanged(tiny_weights: Path) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    assert predictor.package is None and predictor.spec.package_classifier is None
    judged = predictor.judge(scene(seed=5), floor=0.05)
    assert judged.package is None
    assert "package_classifier_sha256" not in predictor.model


def test_a_release_naming_families_asks_it_about_those_families_alone(
    tiny_weights: Path, tmp_path: Path
) -> None:
    """Routed by family: a parcel or a can gets the packaging classifier's score; produce,
    a pouch and a photo nobody named are judged exactly as the release without it judges."""
    rgb = scene(seed=5)
    plain = Predictor.from_weights(tiny_weights).judge(rgb, floor=0.05)
    weights = with_package(tiny_weights, tmp_path / "w", families=["parcel", "can"])
    predictor = Predictor.from_weights(weights)
    pc = predictor.spec.package_classifier
    assert pc is not None and pc.families == ("parcel", "can")
    assert pc.as_dict()["families"] == ["parcel", "can"]
    p = damage_by_hand(weights, rgb)
    for family in ("parcel", "can"):
        timing: dict[str, float] = {}
        judged = predictor.judge(rgb, floor=0.05, timing=timing, family=family)
        assert judged.package == pytest.approx(p, abs=1e-6) and "package" in timing
    for family in ("produce", "pouch", None):
        timing = {}
        judged = predictor.judge(rgb, floor=0.05, timing=timing, family=family)
        assert judged.package is None and "package" not in timing
        assert judged.scores == plain.scores
    # Through inspect, as a station or a claim asks: the family is part of the result.
    named = predictor.inspect(jpeg_bytes(rgb), image="box.jpg", family="parcel")
    unnamed = predictor.inspect(jpeg_bytes(rgb), image="box.jpg")
    assert "package" in named.timing_ms and "package" not in unnamed.timing_ms
    assert named.as_dict()["family"] == "parcel" and "family" not in unnamed.as_dict()
    assert named.scores["package_damage"] != unnamed.scores["package_damage"]


def test_a_release_naming_no_families_asks_it_about_every_photo(
    tiny_weights: Path, tmp_path: Path
) -> None:
    predictor = Predictor.from_weights(with_package(tiny_weights, tmp_path / "w"))
    assert predictor.spec.package_classifier is not None
    assert predictor.spec.package_classifier.families is None
    assert "families" not in predictor.spec.package_classifier.as_dict()
    for family in ("produce", None):
        assert predictor.judge(scene(seed=5), floor=0.05, family=family).package is not None
