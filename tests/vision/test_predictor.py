"""The shipped model on real held-out photos: the pipeline end to end, and a quality floor."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES, REPO, jpeg_bytes, textured
from vision.errors import NotAnImageError
from vision.predictor import Predictor

SPLIT_FILE = REPO / "datasets" / "splits" / "fp-v0-test.txt"


def _held_out(pools: Path, prefix: str, n: int) -> list[Path]:
    """The first ``n`` held-out (test split) photos whose pool path starts with ``prefix``."""
    rows = [r for r in SPLIT_FILE.read_text().split() if r.startswith(prefix)]
    assert len(rows) >= n, f"only {len(rows)} held-out photos under {prefix}"
    return [pools / r for r in rows[:n]]


def test_output_contract(predictor: Predictor) -> None:
    data = (FIXTURES / "swollen_pouch.jpg").read_bytes()
    out = predictor.inspect(data, image="swollen_pouch.jpg").as_dict()
    assert set(out) >= {"image", "sha256", "quality", "findings", "model", "timing_ms"}
    assert out["quality"]["ok"] is True
    runtime = {"backend": "onnxruntime", "precision": "f32"}  # the reproducible default
    assert out["model"] == predictor.spec.identity() | runtime
    assert out["timing_ms"]["total"] > 0
    for f in out["findings"]:
        assert f["label"] in predictor.spec.labels
        assert f["confidence"] >= predictor.spec.thresholds[f["label"]]
        x1, y1, x2, y2 = f["box"]
        assert 0 <= x1 < x2 <= out["width"] and 0 <= y1 < y2 <= out["height"]


def test_unjudgeable_photo_gets_no_findings(predictor: Predictor) -> None:
    dark = (textured() // 12).astype("uint8")
    out = predictor.inspect(jpeg_bytes(dark), image="dark.jpg")
    assert not out.quality.ok and out.findings == ()
    assert "inference" not in out.timing_ms


def test_non_image_is_rejected(predictor: Predictor) -> None:
    with pytest.raises(NotAnImageError):
        predictor.inspect(b"not a photo", image="x.txt")
    assert isinstance(predictor.try_inspect(b"not a photo", image="x.txt"), NotAnImageError)


def test_results_are_reproducible(predictor: Predictor) -> None:
    data = (FIXTURES / "swollen_pouch.jpg").read_bytes()
    a = predictor.inspect(data, image="a").as_dict()
    b = predictor.inspect(data, image="a").as_dict()
    assert a["findings"] == b["findings"]


@pytest.mark.parametrize(
    ("prefix", "defective", "n", "min_correct"),
    [
        # Floors sit one or two photos under what the shipped 0.2.1 measures on these first
        # 20 held-out photos (20, 18, 15 and 17 correct): they catch a broken pipeline or a
        # worse model, not noise. Parcels are the weak spot: 0.2.1 misses more damaged ones
        # than 0.1.0 did (15 vs 19 here) and flags fewer intact ones (17 vs 13 right); over
        # the whole parcel test split it is 78.4% against 73.5% (see the model card).
        ("fruit_fresh_rotten/rotten", True, 20, 18),
        ("fruit_fresh_rotten/fresh", False, 20, 17),
        ("parcel_damaged_intact/damaged", True, 20, 13),
        ("parcel_damaged_intact/intact", False, 20, 15),
    ],
)
def test_held_out_real_photos(
    predictor: Predictor, pools: Path, prefix: str, defective: bool, n: int, min_correct: int
) -> None:
    """A floor under image-level accuracy on photos the model never trained on."""
    correct = 0
    for path in _held_out(pools, prefix, n):
        result = predictor.inspect(path.read_bytes(), image=str(path))
        correct += result.defective == defective
    assert correct >= min_correct, f"{correct}/{n} correct on held-out {prefix}"


def test_phone_sized_photo_gives_the_same_findings_in_its_own_pixels(
    predictor: Predictor,
) -> None:
    import cv2
    import numpy as np

    rgb = cv2.cvtColor(cv2.imread(str(FIXTURES / "swollen_pouch.jpg")), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    k = 4032 / max(h, w)
    big = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
    small = predictor.inspect(jpeg_bytes(rgb), image="small")
    phone = predictor.inspect(jpeg_bytes(big), image="phone")
    assert (phone.width, phone.height) == (big.shape[1], big.shape[0])
    assert phone.quality.ok and phone.findings
    assert {f.label for f in phone.findings} == {f.label for f in small.findings}
    for a, b in zip(small.findings, phone.findings, strict=True):
        # The same box, in the big photo's pixels: within 3% of the photo's size.
        sx, sy = big.shape[1] / w, big.shape[0] / h
        scaled = np.array(a.box) * [sx, sy, sx, sy]
        assert np.abs(scaled - np.array(b.box)).max() < 0.03 * max(big.shape[:2])
        assert abs(a.confidence - b.confidence) < 0.1


def test_findings_within_the_abstention_margin_are_uncertain(
    tiny_weights: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from tests.conftest import jpeg_bytes, scene
    from vision.labels import LABELS

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    entry = manifest["models"][0]
    entry["thresholds"] = dict.fromkeys(LABELS, 0.0)  # every label is found
    photo = jpeg_bytes(scene())
    found = {}
    for margin in (0.0, 1.0):
        entry["abstain"] = dict.fromkeys(LABELS, margin)
        (weights / "manifest.json").write_text(json.dumps(manifest))
        result = Predictor.from_weights(weights).inspect(photo, image="p.jpg")
        found[margin] = [f.uncertain for f in result.findings]
        assert result.findings and all(
            ("uncertain" in f.as_dict()) == f.uncertain for f in result.findings
        )
    assert not any(found[0.0]) and all(found[1.0])


def test_the_classifier_averages_its_test_time_views(tiny_weights: Path, tmp_path: Path) -> None:
    import json
    import shutil

    import numpy as np

    from tests.conftest import scene
    from vision.postprocess import center_crop_input

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    rgb = scene(seed=3)
    probs = {}
    for views in ((), ("hflip",), ("hflip", "vflip")):
        manifest["models"][0]["classifier"]["views"] = list(views)
        (weights / "manifest.json").write_text(json.dumps(manifest))
        predictor = Predictor.from_weights(weights)
        assert predictor.spec.classifier is not None
        assert predictor.spec.classifier.views == views
        judged = predictor.judge(rgb, floor=0.05).classifier
        assert judged is not None
        probs[views] = np.array(list(judged.values()))
    # By hand: the network on the photo and on its mirror images, averaged.
    assert predictor.classifier is not None
    x = center_crop_input(rgb, 32)
    run = predictor.classifier.run
    plain, h = run(x)[0], run(np.ascontiguousarray(x[..., ::-1]))[0]
    v = run(np.ascontiguousarray(x[..., ::-1, :]))[0]
    assert np.allclose(probs[()], plain, atol=1e-6)
    assert np.allclose(probs[("hflip",)], (plain + h) / 2, atol=1e-6)
    assert np.allclose(probs[("hflip", "vflip")], (plain + h + v) / 3, atol=1e-6)
    assert not np.allclose(probs[()], probs[("hflip",)])  # the views do change the answer


def test_a_classifier_that_takes_any_batch_runs_every_view_in_one_call(
    tiny_weights: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from tests.conftest import scene, tiny_onnx
    from vision.registry import file_sha256
    from vision.runtime import fixed_batch

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    manifest["models"][0]["classifier"]["views"] = ["hflip", "vflip"]
    (weights / "manifest.json").write_text(json.dumps(manifest))
    one_at_a_time = Predictor.from_weights(weights)
    # The same network (same seed) exported with a dynamic batch.
    dynamic = tiny_onnx(weights / "tiny-0-condition.onnx", kind="classifier", imgsz=32, seed=1,
                        batch="batch")  # fmt: skip
    manifest["models"][0]["classifier"]["sha256"] = file_sha256(dynamic)
    (weights / "manifest.json").write_text(json.dumps(manifest))
    batched = Predictor.from_weights(weights)
    assert one_at_a_time.classifier is not None and batched.classifier is not None
    assert fixed_batch(one_at_a_time.classifier) == 1 and fixed_batch(batched.classifier) is None
    calls: list[tuple[int, ...]] = []
    run = batched.classifier.run

    def counted(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        return run(batch)

    batched.classifier.run = counted  # type: ignore[method-assign]
    rgb = scene(seed=3)
    got = batched.judge(rgb, floor=0.05).classifier
    assert calls == [(3, 3, 32, 32)]  # the photo and its two views, one call
    # Image by image the same outputs as three calls of the fixed-batch network.
    assert got == one_at_a_time.judge(rgb, floor=0.05).classifier
