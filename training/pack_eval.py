"""Judge the packaging classifier beside a shipped release on the same pack photos.

Both see each photo as the release gate does (``training.evaluate``): the pool photo as the
dataset build writes it (long side at most 416 px, JPEG quality 92), decoded to RGB. The
release judges it with its detector and condition classifier (``Predictor.judge``): it
calls a photo defective when any label reaches its threshold, and its ``package_damage``
score ranks the photos for the AUROC. The packaging classifier runs as ONNX exactly as the
predictor runs a classifier (centre crop, averaged with the mirror image); its threshold
is chosen on val. Figures per pool group; McNemar's exact test on the photos the two
judge differently.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.imageio import read_bgr
from training.pack_train import PACK_CLASSES, auroc, load_pack_model
from training.packaging import PackPhoto
from training.promote import mcnemar_exact
from vision.package import INPUTS, squash_input
from vision.postprocess import classifier_views

__all__ = [
    "GROUPS",
    "PREPROCESS",
    "Verdicts",
    "as_gate_sees",
    "choose_threshold",
    "export_pack_onnx",
    "group_table",
    "onnx_scores",
    "shipped_verdicts",
    "squash_input",
]

GROUPS: dict[str, Callable[[PackPhoto], bool]] = {
    "parcels_and_boxes": lambda p: p.pool in ("parcel_damaged_intact", "box_damaged_fine"),
    "parcels": lambda p: p.pool == "parcel_damaged_intact",
    "boxes": lambda p: p.pool == "box_damaged_fine",
    "cans": lambda p: p.pool == "can_defects",
}
_BUILD_SIDE = 416  # training.datasets.build_dataset's max_side
_BUILD_QUALITY = 92


@dataclass(frozen=True)
class Verdicts:
    """One model's scores and decisions on a list of photos, in that list's order."""

    scores: np.ndarray  # ranks photos for the AUROC (higher = more likely damaged)
    damaged: np.ndarray  # bool, the decision at the model's operating point


def as_gate_sees(path: Path) -> np.ndarray:
    """The photo as the built dataset holds it (416 px long side, JPEG 92), as RGB."""
    img = read_bgr(path)
    h, w = img.shape[:2]
    scale = min(1.0, _BUILD_SIDE / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _BUILD_QUALITY])
    assert ok
    return cv2.cvtColor(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)), cv2.COLOR_BGR2RGB)


def shipped_verdicts(predictor: Any, images: Sequence[np.ndarray], floor: float = 0.01) -> Verdicts:
    """A release's verdicts: defective when any label reaches its threshold (as the gate
    judges), ranked by the fused, calibrated ``package_damage`` score."""
    scores, damaged = [], []
    for rgb in images:
        j = predictor.judge(rgb, floor=floor)
        scores.append(j.scores["package_damage"])
        damaged.append(any(s >= predictor.spec.thresholds[k] for k, s in j.scores.items()))
    return Verdicts(np.array(scores), np.array(damaged))


def export_pack_onnx(checkpoint: Path, dest: Path) -> Path:
    """The packaging classifier as a fixed-shape float32 ONNX graph (batch 1, softmax out,
    classes ``PACK_CLASSES``), the shape the predictor's classifier backend runs."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    size = int(state["config"]["imgsz"])
    model = load_pack_model(checkpoint)
    model.model[-1].export = True  # ultralytics' Classify: softmax only, no (probs, logits)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter on purpose (it gives the fixed-shape graph the predictor
        # runs); torch warns that it is no longer the default.
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript", DeprecationWarning
        )
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(dest),
            input_names=["images"],
            output_names=["output0"],
            opset_version=17,
            dynamo=False,
        )
    return dest


# The inputs a packaging classifier may take, as the predictor prepares them.
PREPROCESS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = INPUTS


def onnx_scores(
    onnx_file: Path,
    images: Sequence[np.ndarray],
    size: int,
    threads: int = 1,
    preprocess: str = "crop",
) -> np.ndarray:
    """P(damaged) per photo from the ONNX graph, as ``Predictor.judge`` runs a classifier:
    the input (centre crop by default), averaged with its hflip view."""
    from vision.runtime import load_backend

    backend = load_backend("onnxruntime", onnx_file, threads=threads)
    damaged = PACK_CLASSES.index("damaged")
    prepare = PREPROCESS[preprocess]
    out = []
    for rgb in images:
        views = classifier_views(prepare(rgb, size), ("hflip",))
        out.append(float(np.mean([backend.run(v)[0][damaged] for v in views])))
    return np.array(out)


def choose_threshold(scores: np.ndarray, damaged: np.ndarray) -> float:
    """The threshold with the best accuracy on these (val) photos; ties go to the one
    nearest 0.5, so a flat stretch does not push the operating point to an edge."""
    candidates = np.unique(np.concatenate([scores, [0.5]]))
    best = max(
        candidates,
        key=lambda t: (float(((scores >= t) == damaged).mean()), -abs(float(t) - 0.5)),
    )
    return float(best)


def _metrics(y: np.ndarray, v: Verdicts) -> dict[str, Any]:
    if len(y) == 0:
        return {"images": 0}
    right = v.damaged == y
    return {
        "images": len(y),
        "accuracy": round(float(right.mean()), 4),
        "false_alarms": round(float(v.damaged[~y].mean()), 4) if (~y).any() else None,
        "recall": round(float(v.damaged[y].mean()), 4) if y.any() else None,
        "auroc": round(auroc(v.scores, y), 4),
    }


def group_table(
    photos: Sequence[PackPhoto], shipped: Verdicts, candidate: Verdicts
) -> dict[str, dict[str, Any]]:
    """Per group: both models' accuracy, false alarms, recall and AUROC, and McNemar's
    exact p on the photos they judge differently."""
    y = np.array([p.damaged for p in photos])
    out = {}
    for name, keep in GROUPS.items():
        m = np.array([keep(p) for p in photos], bool)
        a = shipped.damaged[m] == y[m]
        b = candidate.damaged[m] == y[m]
        only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
        out[name] = {
            "shipped": _metrics(y[m], Verdicts(shipped.scores[m], shipped.damaged[m])),
            "candidate": _metrics(y[m], Verdicts(candidate.scores[m], candidate.damaged[m])),
            "only_shipped_right": only_a,
            "only_candidate_right": only_b,
            "mcnemar_p": round(mcnemar_exact(only_a, only_b), 5),
        }
    return out
