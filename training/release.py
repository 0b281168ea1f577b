"""Turn a trained checkpoint into a shipped model: export, thresholds, metrics, manifest.

Operating thresholds are chosen on the validation split; the test split is only measured,
never tuned on, and its figures are the ones the model card quotes.

``release_with_package`` is the other way to a release (issue 25): a shipped release's
detector and condition classifier, with their calibration and thresholds, and a packaging
classifier (``vision.package``) beside them. Its input, views and threshold were chosen on
val (``tools/pack_eval.py``); what it still chooses, on val only: how its probability is
fused into ``package_damage`` (replace or max, whichever judges more real val photos right;
ties go to ``replace``, which does not keep the condition classifier's false alarms on
packs), the abstention margins, and the per-family operating points (a fused
``package_damage`` is a new score: the old points were fitted on another). It does not look
at test: ``freshproof models promote`` judges the candidate there, and counts the look.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.calibrate import apply_calibration, fit_calibration
from training.evaluate import (
    ImageRecord,
    choose_abstain_margins,
    choose_thresholds,
    collect,
    evaluate_records,
    expected_calibration_error,
    image_level,
    is_real_photo,
)
from training.export import export_classifier_onnx, export_onnx, write_manifest_entry
from training.groups import near_duplicate_groups
from training.operating import choose_operating_points, measure_operating_points, risk_coverage
from vision.calibration import PlattScaling
from vision.labels import LABELS
from vision.package import FUSIONS, PackageClassifierSpec
from vision.predictor import Predictor
from vision.registry import ModelSpec, file_sha256, manifest_entry, resolve_model
from vision.runtime import Backend

__all__ = ["VIEW_CHOICES", "Remembered", "release_model", "release_with_package", "store_metrics"]


def store_metrics(
    *, weights_dir: Path, spec: ModelSpec, split: str, metrics: dict[str, Any]
) -> None:
    """Record one split's figures under the model's manifest entry."""
    path = weights_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    for m in manifest["models"]:
        if m["name"] == spec.name and m["version"] == spec.version:
            m.setdefault("metrics", {})[split] = metrics
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def release_model(
    *,
    checkpoint: Path,
    dataset: Path,
    name: str,
    version: str,
    imgsz: int,
    weights_dir: Path,
    training: dict[str, Any],
    classifier_checkpoint: Path | None = None,
    classifier_imgsz: int = 128,
    config_dir: Path = Path("var/yolo-config"),
) -> dict[str, Any]:
    """Export to ``weights_dir``, pick thresholds on val, measure test, write the manifest."""
    model_file = export_onnx(
        checkpoint=checkpoint,
        imgsz=imgsz,
        dest=weights_dir / f"{name}-{version}.onnx",
        config_dir=config_dir,
    )
    # The PyTorch checkpoint ships too (optimizer state stripped): the reference backend for
    # benches, and the start point for fine-tuning on adjudicated evidence.
    _ship_checkpoint(checkpoint, model_file.with_suffix(".pt"))
    classifier = None
    if classifier_checkpoint is not None:
        cls_file, classes = export_classifier_onnx(
            checkpoint=classifier_checkpoint,
            imgsz=classifier_imgsz,
            dest=weights_dir / f"{name}-{version}-condition.onnx",
            config_dir=config_dir,
        )
        _ship_checkpoint(classifier_checkpoint, cls_file.with_suffix(".pt"))
        classifier = {
            "file": cls_file.name,
            "sha256": file_sha256(cls_file),
            "classes": classes,
            "imgsz": classifier_imgsz,
        }
    training = {**training, "dataset": json.loads((dataset / "build.json").read_text())}
    args = training.get("args")
    listing = dataset / "train-capped.txt"
    if isinstance(args, dict) and str(args.get("data", "")).endswith("data-capped.yaml"):
        # Trained on a capped list: the card must give what was learned from, not what exists.
        used = Counter(Path(line).name.split("__")[0] for line in listing.read_text().split())
        training["train_images_used"] = dict(sorted(used.items()))

    def write(
        thresholds: dict[str, float],
        metrics: dict[str, Any] | None = None,
        calibration: dict[str, Any] | None = None,
        abstain: dict[str, float] | None = None,
        operating_points: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return write_manifest_entry(
            weights_dir=weights_dir,
            model_file=model_file,
            name=name,
            version=version,
            imgsz=imgsz,
            thresholds=thresholds,
            training=training,
            metrics=metrics,
            classifier=classifier,
            calibration=calibration,
            abstain=abstain,
            operating_points=operating_points,
        )

    # The classifier's test-time views are chosen on val like the thresholds: each choice is
    # calibrated and thresholded on val, and the one judging most real val photos right wins
    # (ties: fewer views, which cost less to serve).
    # Each choice runs val through the same networks: the detector's answers, and the
    # classifier's on the photo and each view, are computed once and remembered.
    chosen: _OnVal | None = None
    tried: dict[str, float] = {}
    remembered: tuple[Remembered, Remembered | None] | None = None
    for views in VIEW_CHOICES if classifier is not None else ((),):
        if classifier is not None:
            classifier["views"] = list(views)
        write(dict.fromkeys(LABELS, 0.25))
        if remembered is None:
            loaded = Predictor.from_weights(weights_dir, name=name)
            cls = loaded.classifier
            remembered = (Remembered(loaded.backend), Remembered(cls) if cls else None)
        detector, cls_memo = remembered
        predictor = Predictor(resolve_model(weights_dir, name), detector, classifier=cls_memo)
        raw = collect(predictor, dataset, "val")
        on_val = _on_val(raw, views)
        tried["+".join(views) or "none"] = on_val.accuracy
        if chosen is None or on_val.accuracy > chosen.accuracy:
            chosen = on_val
    assert chosen is not None
    if classifier is not None:
        classifier |= {"views": list(chosen.views), "views_on_val": tried}
    raw_val, platt, val, thresholds = chosen.raw, chosen.platt, chosen.val, chosen.thresholds
    calibration = {
        "method": "platt",
        "fitted_on": "val",
        "per_label": {label: p.as_dict() for label, p in platt.items()},
        "val_ece_uncalibrated": {lab: expected_calibration_error(raw_val, lab) for lab in LABELS},
        "val_ece_calibrated": {lab: expected_calibration_error(val, lab) for lab in LABELS},
    }
    # Above its threshold but within its margin a finding is uncertain (chosen on val too).
    abstain = choose_abstain_margins(val, thresholds)
    write(thresholds, calibration=calibration, abstain=abstain)
    test = collect(Predictor.from_weights(weights_dir, name=name), dataset, "test")
    # When it may decide alone, per family (on val), and what that does on test.
    groups = {s: near_duplicate_groups(dataset, s) for s in ("val", "test")}
    points = choose_operating_points(val, thresholds, groups=groups["val"])
    points["test"] = measure_operating_points(test, thresholds, points, groups["test"])
    points["risk_coverage_test"] = risk_coverage(test, thresholds, points, groups=groups["test"])
    return write(
        thresholds,
        {
            "val": evaluate_records(val, LABELS, thresholds),
            "test": evaluate_records(test, LABELS, thresholds),
        },
        calibration,
        abstain,
        points,
    )


class Remembered:
    """A backend that answers an input it has already seen from memory (same bytes, same
    shape, same answer: the networks are deterministic on the CPU). The view search judges
    val up to three times with the same detector and the same classifier views."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.precision = inner.name, inner.precision
        self.runs = 0
        self._seen: dict[bytes, np.ndarray] = {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The inner backend's output for ``batch``, computed at most once."""
        key = hashlib.blake2b(batch.tobytes(), digest_size=16)
        key.update(repr((batch.shape, batch.dtype.str)).encode())
        digest = key.digest()
        if (out := self._seen.get(digest)) is None:
            self.runs += 1
            out = self._seen[digest] = self.inner.run(batch)
        return out


# The classifier's test-time views a release may use (``vision.postprocess``), cheapest first.
VIEW_CHOICES: tuple[tuple[str, ...], ...] = ((), ("hflip",), ("hflip", "vflip"))


@dataclass(frozen=True)
class _OnVal:
    """One choice of views, judged on val: calibrated there, thresholded there."""

    views: tuple[str, ...]
    raw: list[ImageRecord]
    platt: dict[str, PlattScaling]
    val: list[ImageRecord]
    thresholds: dict[str, float]
    accuracy: float  # image level, real val photos (all val photos when it has none)


def _on_val(raw: list[ImageRecord], views: tuple[str, ...]) -> _OnVal:
    platt = fit_calibration(raw, LABELS)
    val = apply_calibration(raw, platt, LABELS)
    thresholds = choose_thresholds(val, LABELS)
    judged = [r for r in val if is_real_photo(r)] or val
    accuracy = image_level(judged, thresholds)["accuracy"] or 0.0
    return _OnVal(views, raw, platt, val, thresholds, float(accuracy))


def _ship_checkpoint(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)
    from ultralytics.utils.torch_utils import strip_optimizer

    strip_optimizer(str(dest))


# What a candidate does not inherit from the release it starts from: its verdicts and
# figures belong to that release (val figures are measured again, test by the gate).
_NOT_INHERITED = ("promotion", "refused", "metrics")


def _base_files(entry: dict[str, Any]) -> list[str]:
    names = [entry["file"], *([entry["classifier"]["file"]] if entry.get("classifier") else [])]
    return [n for onnx in names for n in (onnx, onnx.removesuffix(".onnx") + ".pt")]


def _write_candidate(candidate_dir: Path, entry: dict[str, Any]) -> None:
    manifest = {"schema": 1, "models": [entry], "default": entry["name"]}
    (candidate_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def release_with_package(
    *,
    weights_dir: Path,
    name: str,
    base_version: str,
    version: str,
    candidate_dir: Path,
    dataset: Path,
    package_checkpoint: Path,
    input_mode: str,
    views: Sequence[str],
    threshold: float,
    training: dict[str, Any],
    fusions: Sequence[str] = FUSIONS,
    families: Sequence[str] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """A candidate release: the shipped ``base_version`` of ``name`` with the packaging
    classifier of ``package_checkpoint`` beside it (see the module). Writes
    ``candidate_dir`` (files, a one-entry manifest, a model card) and returns its entry.

    The packaging classifier's input, views and threshold were chosen on val
    (``tools/pack_eval.py``); this chooses its fusion, the abstention margins and the
    operating points on val. Test is not looked at: the promotion gate does that.
    ``families``: the product families it judges (``vision.package``); None: every photo.
    """
    base = manifest_entry(weights_dir, name, base_version)
    candidate_dir.mkdir(parents=True, exist_ok=True)
    for f in _base_files(base):
        if (weights_dir / f).exists():
            shutil.copyfile(weights_dir / f, candidate_dir / f)
    from training.pack_eval import export_pack_onnx
    from training.pack_train import PACK_CLASSES

    pack_file = export_pack_onnx(
        package_checkpoint, candidate_dir / f"{name}-{version}-package.onnx"
    )
    # best.pt holds the weights and the run's settings, no optimizer state: shipped as is.
    shutil.copyfile(package_checkpoint, pack_file.with_suffix(".pt"))
    import torch

    imgsz = int(
        torch.load(package_checkpoint, map_location="cpu", weights_only=False)["config"]["imgsz"]
    )
    entry = {k: copy.deepcopy(v) for k, v in base.items() if k not in _NOT_INHERITED}
    entry["version"] = version
    entry["training"] = {**entry.get("training", {}), "package_classifier": training}
    entry["training"]["base_release"] = base_version
    spec = PackageClassifierSpec(
        path=pack_file,
        sha256=file_sha256(pack_file),
        classes=PACK_CLASSES,
        imgsz=imgsz,
        input=input_mode,
        threshold=round(float(threshold), 6),
        views=tuple(views),
        families=tuple(families) if families is not None else None,
    )
    thresholds = {k: float(v) for k, v in base["thresholds"].items()}
    # The networks' answers do not depend on the fusion: each is computed once.
    remembered: dict[str, Remembered] = {}
    tried: dict[str, float] = {}
    chosen: tuple[str, list[ImageRecord]] | None = None
    for fusion in fusions:
        block = spec.as_dict() | {"fusion": fusion}
        _write_candidate(candidate_dir, entry | {"package_classifier": block})
        loaded = Predictor.from_weights(candidate_dir, name=name)
        if not remembered:
            remembered = {
                "detector": Remembered(loaded.backend),
                **({"classifier": Remembered(loaded.classifier)} if loaded.classifier else {}),
                **({"package": Remembered(loaded.package)} if loaded.package else {}),
            }
        predictor = Predictor(
            resolve_model(candidate_dir, name),
            remembered["detector"],
            classifier=remembered.get("classifier"),
            package=remembered.get("package"),
        )
        val = collect(predictor, dataset, "val")
        real = [r for r in val if is_real_photo(r)] or val
        tried[fusion] = float(image_level(real, thresholds)["accuracy"] or 0.0)
        log(f"fusion {fusion}: real val photos judged right {tried[fusion]:.4f}")
        if chosen is None or tried[fusion] > tried[chosen[0]]:
            chosen = (fusion, val)
    assert chosen is not None
    fusion, val = chosen
    entry["package_classifier"] = spec.as_dict() | {"fusion": fusion, "fusion_on_val": tried}
    entry["abstain"] = choose_abstain_margins(val, thresholds)
    if base.get("operating_points"):
        old = base["operating_points"]
        entry["operating_points"] = choose_operating_points(
            val,
            thresholds,
            max_error=float(old.get("max_error", 0.02)),
            delta=float(old.get("delta", 0.05)),
            groups=near_duplicate_groups(dataset, "val"),
        )
    entry["metrics"] = {"val": evaluate_records(val, LABELS, thresholds)}
    _write_candidate(candidate_dir, entry)
    from training.card import metrics_markdown, model_card

    command = str(entry["training"].get("command", "see the base release's card"))
    (candidate_dir / "MODEL_CARD.md").write_text(
        model_card(entry, command=command)
        + "\n## On val (where its input, threshold and fusion were chosen)\n\n"
        + metrics_markdown(entry, "val")
    )
    resolve_model(candidate_dir, name)  # the written entry must load, hashes and all
    return entry
