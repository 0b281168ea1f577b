"""Export a trained checkpoint to ONNX and record it in ``weights/manifest.json``."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from training.offline import configure_offline
from vision.labels import LABELS
from vision.registry import file_sha256

__all__ = ["export_classifier_onnx", "export_onnx", "write_manifest_entry"]


@contextmanager
def _loaded(checkpoint: Path, config_dir: Path) -> Iterator[Any]:
    """The checkpoint loaded from a private copy: ultralytics writes its export beside the
    file it loaded, which for a shipped ``weights/*.pt`` is the shipped ``.onnx`` itself."""
    configure_offline(config_dir)
    from ultralytics import YOLO  # train extra only

    with tempfile.TemporaryDirectory(prefix="fp-export-") as tmp:
        copy = Path(tmp) / checkpoint.name
        shutil.copyfile(checkpoint, copy)
        yield YOLO(str(copy))


def _export(model: Any, *, imgsz: int, dest: Path, dynamic: bool = False, **options: Any) -> Path:
    """Float32 ONNX (opset 17, simplified) from a loaded YOLO, moved to ``dest``; fixed-shape
    unless ``dynamic``."""
    out = Path(
        model.export(
            format="onnx",
            imgsz=imgsz,
            dynamic=dynamic,
            simplify=True,
            half=False,
            opset=17,
            device="cpu",
            **options,
        )
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(out, dest)
    return dest


def export_onnx(
    *, checkpoint: Path, imgsz: int, dest: Path, config_dir: Path = Path("var/yolo-config")
) -> Path:
    """Export a fixed-shape float32 ONNX graph (batch 1) without NMS; returns ``dest``."""
    with _loaded(checkpoint, config_dir) as model:
        names = tuple(model.names[i] for i in sorted(model.names))
        if names != LABELS:
            raise ValueError(f"checkpoint labels {names} differ from {LABELS}")
        return _export(model, imgsz=imgsz, dest=dest, nms=False)


def export_classifier_onnx(
    *, checkpoint: Path, imgsz: int, dest: Path, config_dir: Path = Path("var/yolo-config")
) -> tuple[Path, list[str]]:
    """Export the condition classifier (softmax output); returns the file and class order.

    Its batch is dynamic: the predictor runs a photo and its test-time views in one call.
    Exported so from 0.3.1's checkpoint, its outputs equal the fixed-batch file's bit for bit,
    image by image, and the two views cost 7% less CPU than two calls (bench/inference.py).
    """
    with _loaded(checkpoint, config_dir) as model:
        classes = [model.names[i] for i in sorted(model.names)]
        return _export(model, imgsz=imgsz, dest=dest, dynamic=True), classes


def write_manifest_entry(
    *,
    weights_dir: Path,
    model_file: Path,
    name: str,
    version: str,
    imgsz: int,
    thresholds: dict[str, float],
    iou: float = 0.7,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    classifier: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    abstain: dict[str, float] | None = None,
    operating_points: dict[str, Any] | None = None,
    box_floor: float = 0.05,
    make_default: bool = True,
) -> dict[str, Any]:
    """Add or replace one model's entry (hash computed here) and return it."""
    path = weights_dir / "manifest.json"
    manifest: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"schema": 1, "models": []}
    )
    entry: dict[str, Any] = {
        "name": name,
        "version": version,
        "file": model_file.name,
        "format": "onnx",
        "sha256": file_sha256(model_file),
        "labels": list(LABELS),
        "imgsz": imgsz,
        "thresholds": thresholds,
        "iou": iou,
        "box_floor": box_floor,
        "training": training or {},
        "metrics": metrics or {},
    }
    if classifier is not None:
        entry["classifier"] = classifier
    if calibration is not None:
        entry["calibration"] = calibration
    if abstain is not None:
        entry["abstain"] = abstain
    if operating_points is not None:
        entry["operating_points"] = operating_points
    manifest["models"] = [
        m for m in manifest["models"] if not (m["name"] == name and m["version"] == version)
    ] + [entry]
    if make_default:
        manifest["default"] = name
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry
