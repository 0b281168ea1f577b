"""Measure a shipped model exactly as it serves (ONNX, our pre/post-processing) on a YOLO split.

Reports per-label image-level precision and recall at the operating thresholds, AP50 and AP50-95
(COCO 101-point interpolation), image-level defect accuracy with its confusion matrix, and
the per-pool figures the product targets are stated in. Needs numpy only, no torch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.imageio import read_bgr
from vision.operating import FAMILIES
from vision.predictor import Finding, Predictor

__all__ = [
    "GROUPS",
    "GroundTruth",
    "ImageRecord",
    "choose_abstain_margins",
    "choose_thresholds",
    "collect",
    "evaluate_records",
    "expected_calibration_error",
    "image_level",
    "is_real_photo",
    "is_real_pool",
    "judge_file",
    "judged_defective",
    "read_ground_truth",
    "sample_rows",
]

IOUS = np.linspace(0.5, 0.95, 10)
CANDIDATE_CONF = 0.01


# (label, (x1, y1, x2, y2) in pixels) per labelled object of a photo
GroundTruth = tuple[tuple[str, tuple[float, float, float, float]], ...]


@dataclass(frozen=True)
class ImageRecord:
    """Ground truth and every candidate detection for one image."""

    file: str
    pool: str
    tags: tuple[str, ...]
    gt: GroundTruth
    candidates: tuple[Finding, ...]
    # Fused per-label scores (classifier and detector); empty means detector boxes only.
    scores: dict[str, float] = field(default_factory=dict)
    # The condition classifier's own probabilities, kept to measure the design's parts.
    classifier: dict[str, float] | None = None

    def score(self, label: str) -> float:
        """The image's score for a label: fused if known, else its best detector box."""
        if self.scores:
            return self.scores.get(label, 0.0)
        return max((f.confidence for f in self.candidates if f.label == label), default=0.0)

    def has(self, label: str) -> bool:
        """Ground truth: the photo shows this label."""
        return any(g == label for g, _ in self.gt)

    @property
    def defective(self) -> bool:
        """Ground truth: any labelled defect."""
        return bool(self.gt)


def read_ground_truth(label_file: Path, labels: tuple[str, ...], w: int, h: int) -> GroundTruth:
    """A YOLO label file's boxes in pixels of a ``w`` x ``h`` image (none if it is missing)."""
    out = []
    if label_file.exists():
        for line in label_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 5:
                c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
                out.append(
                    (
                        labels[c],
                        (
                            (cx - bw / 2) * w,
                            (cy - bh / 2) * h,
                            (cx + bw / 2) * w,
                            (cy + bh / 2) * h,
                        ),
                    )
                )
    return tuple(out)


POOL_FAMILY: dict[str, str] = {
    "fruit_fresh_rotten": "produce",
    "banana_ripeness_det": "produce",
    "mango_rot_grade_det": "produce",
    "rot_region_masks": "produce",
    "apple_lesion_masks": "produce",
    "parcel_damaged_intact": "parcel",
    "box_damaged_fine": "parcel",
    "can_defects": "can",
    "synthetic_can": "can",
    "synthetic_pouch": "pouch",
}

FEEDBACK_POOL = "feedback/"
"""The pool of a feedback export's photo is this and its family (``training.feedback_val``)."""


def pool_family(pool: str) -> str | None:
    """The product family a pool's images show (a feedback export's: the family its
    photos were decided for); None for pools of no one family. What a station or a claim
    would have named, so the model judges each photo as the service would."""
    if pool.startswith(FEEDBACK_POOL):
        family = pool.removeprefix(FEEDBACK_POOL)
        return family if family in FAMILIES else None
    return POOL_FAMILY.get(pool)


def collect(
    predictor: Predictor,
    dataset: Path,
    split: str,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = iter,
) -> list[ImageRecord]:
    """Run the model over one split of a dataset written by ``build_dataset``."""
    meta = sample_rows(dataset)
    records = []
    for img_path in progress(sorted((dataset / "images" / split).glob("*.jpg"))):
        rel = f"images/{split}/{img_path.name}"
        row = meta.get(rel, {})
        label_file = dataset / "labels" / split / f"{img_path.stem}.txt"
        records.append(
            judge_file(
                predictor,
                img_path,
                file=rel,
                pool=row.get("pool", "unknown"),
                tags=tuple(row.get("tags", ())),
                truth=partial(read_ground_truth, label_file, predictor.spec.labels),
                family=pool_family(row.get("pool", "unknown")),
            )
        )
    return records


def judge_file(
    predictor: Predictor,
    path: Path,
    *,
    file: str,
    pool: str,
    tags: tuple[str, ...],
    truth: Callable[[int, int], GroundTruth],
    family: str | None = None,
) -> ImageRecord:
    """Judge one photo as the service does (told its ``family`` when one is known);
    ``truth(width, height)`` gives its ground truth."""
    rgb = cv2.cvtColor(read_bgr(path), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    judgement = predictor.judge(rgb, floor=CANDIDATE_CONF, family=family)
    return ImageRecord(
        file,
        pool,
        tags,
        truth(w, h),
        judgement.candidates,
        judgement.scores,
        judgement.classifier,
    )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _match(preds: list[Finding], gts: Sequence[tuple[float, ...]]) -> np.ndarray:
    """TP flags (len(preds), len(IOUS)); greedy by score, each GT matched once per IoU level."""
    tp = np.zeros((len(preds), len(IOUS)), dtype=bool)
    if not preds or not gts:
        return tp
    order = np.argsort([-p.confidence for p in preds])
    ious = _iou(np.array([preds[i].box for i in order]), np.array(gts))
    for k, t in enumerate(IOUS):
        used = np.zeros(len(gts), dtype=bool)
        for r in range(len(order)):
            cand = np.where(~used & (ious[r] >= t), ious[r], -1.0)
            j = int(cand.argmax())
            if cand[j] >= 0:
                used[j] = True
                tp[order[r], k] = True
    return tp


def _ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """COCO AP: mean over 101 recall levels of the best precision at or beyond that recall."""
    envelope = np.flip(np.maximum.accumulate(np.flip(precision)))
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(
        np.mean(np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0))
    )


def _label_stats(records: list[ImageRecord], label: str, threshold: float) -> dict[str, Any]:
    scores: list[float] = []
    tps: list[np.ndarray] = []
    n_gt = 0
    for r in records:
        preds = [f for f in r.candidates if f.label == label]
        gts = [b for lab, b in r.gt if lab == label]
        n_gt += len(gts)
        tps.append(_match(preds, gts))
        scores.extend(p.confidence for p in preds)
    if n_gt == 0:
        return {"instances": 0}
    score = np.array(scores)
    tp = np.concatenate(tps) if tps else np.zeros((0, len(IOUS)), dtype=bool)
    order = np.argsort(-score)
    tp, score = tp[order], score[order]
    ctp = np.cumsum(tp, axis=0)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(tp) + 1)[:, None]
    aps = [_ap(recall[:, k], precision[:, k]) for k in range(len(IOUS))] if len(tp) else [0.0]
    # Precision and recall at the operating threshold are per image ("is this defect in the
    # photo?"), the question the product answers; AP is per box, the detector's quality.
    truth = np.array([r.has(label) for r in records])
    pred = np.array([r.score(label) >= threshold for r in records])
    hit = int((truth & pred).sum())
    return {
        "instances": n_gt,
        "images": int(truth.sum()),
        "threshold": threshold,
        "precision": round(hit / int(pred.sum()), 4) if pred.any() else 0.0,
        "recall": round(hit / int(truth.sum()), 4),
        "ap50": round(aps[0], 4),
        "ap50_95": round(float(np.mean(aps)), 4),
    }


def _predicted(r: ImageRecord, thresholds: dict[str, float]) -> set[str]:
    return {label for label, t in thresholds.items() if r.score(label) >= t}


def judged_defective(r: ImageRecord, thresholds: dict[str, float]) -> bool:
    """The model's image-level verdict: any label at its operating threshold."""
    return bool(_predicted(r, thresholds))


# Generated images (synthetic packs, cut-paste composites) are made the way a model may have
# been trained; targets and promotion are judged on real photos.
_GENERATED_POOLS = ("synthetic", "composite")


def is_real_photo(r: ImageRecord) -> bool:
    """A photo from the real pools, not a generated image."""
    return is_real_pool(r.pool)


def is_real_pool(pool: str) -> bool:
    """A pool of real photos, not of generated images."""
    return not pool.startswith(_GENERATED_POOLS)


def sample_rows(dataset: Path) -> dict[str, dict[str, Any]]:
    """The build's record of each image (``images/<split>/<name>`` → its samples.jsonl row:
    pool, tags, ...); empty for a dataset built without one."""
    samples = dataset / "samples.jsonl"
    if not samples.exists():
        return {}
    rows = (json.loads(line) for line in samples.read_text().splitlines() if line.strip())
    return {row["file"]: row for row in rows}


def image_level(records: list[ImageRecord], thresholds: dict[str, float]) -> dict[str, Any]:
    """Defective-or-not accuracy, recall and false alarms, with the confusion counts."""
    tp = fp = tn = fn = 0
    for r in records:
        pred = judged_defective(r, thresholds)
        if r.defective and pred:
            tp += 1
        elif r.defective:
            fn += 1
        elif pred:
            fp += 1
        else:
            tn += 1
    n = tp + fp + tn + fn
    return {
        "images": n,
        "accuracy": round((tp + tn) / n, 4) if n else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_alarm_rate": round(fp / (fp + tn), 4) if fp + tn else None,
        "confusion": {
            "defective_found": tp,
            "defective_missed": fn,
            "clean_flagged": fp,
            "clean_passed": tn,
        },
    }


# The product targets (issue 5) are stated on these subsets of the held-out photos.
GROUPS: dict[str, Callable[[ImageRecord], bool]] = {
    "produce_fresh_vs_rotten": lambda r: (
        r.pool
        in {
            "fruit_fresh_rotten",
            "banana_ripeness_det",
            "mango_rot_grade_det",
            "rot_region_masks",
            "apple_lesion_masks",
        }
    ),
    "fruit_fresh_rotten": lambda r: r.pool == "fruit_fresh_rotten",
    "parcels_and_boxes": lambda r: r.pool in {"parcel_damaged_intact", "box_damaged_fine"},
    "cans_major_critical_vs_intact": lambda r: r.pool == "can_defects",
    "synthetic_swelling": lambda r: r.pool.startswith("synthetic"),
    "composites": lambda r: r.pool == "composite",
}


_BOX_KEYS = ("ap50", "ap50_95")


def evaluate_records(
    records: list[ImageRecord],
    labels: tuple[str, ...],
    thresholds: dict[str, float],
    *,
    boxes: bool = True,
) -> dict[str, Any]:
    """All metrics for one split at the given operating thresholds.

    ``boxes=False`` for photos labelled per image (class folders): their "boxes" are the whole
    photo, so box AP would measure nothing and is left out.
    """
    per_label = {lab: _label_stats(records, lab, thresholds[lab]) for lab in labels}
    if not boxes:
        per_label = {
            lab: {k: v for k, v in st.items() if k not in _BOX_KEYS}
            for lab, st in per_label.items()
        }
    with_gt = [v for v in per_label.values() if v.get("instances")]
    groups = {
        name: image_level([r for r in records if keep(r)], thresholds)
        for name, keep in GROUPS.items()
    }
    bm = [r for r in records if r.pool in {"banana_ripeness_det", "mango_rot_grade_det"}]
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        truth = {lab for lab, _ in r.gt} or {"none"}
        pred = _predicted(r, thresholds) or {"none"}
        for t in truth:
            for p in pred:
                confusion[t][p] += 1
    if not boxes:
        return {
            "images": len(records),
            "per_label": per_label,
            "image_level": image_level(records, thresholds),
            "label_confusion": {t: dict(v) for t, v in confusion.items()},
            "calibration_error": {lab: expected_calibration_error(records, lab) for lab in labels},
        }
    return {
        "images": len(records),
        "per_label": per_label,
        "map50": round(float(np.mean([v["ap50"] for v in with_gt])), 4) if with_gt else None,
        "map50_95": round(float(np.mean([v["ap50_95"] for v in with_gt])), 4) if with_gt else None,
        "image_level": image_level(records, thresholds),
        "groups": groups,
        "spoilage_ap50_banana_mango": _label_stats(bm, "spoilage", thresholds["spoilage"]).get(
            "ap50"
        ),
        "label_confusion": {t: dict(v) for t, v in confusion.items()},
        # How far the scores are from probabilities (0 is perfect), per label.
        "calibration_error": {lab: expected_calibration_error(records, lab) for lab in labels},
    }


def expected_calibration_error(
    records: Sequence[ImageRecord], label: str, *, bins: int = 10
) -> float | None:
    """Mean |observed rate - mean score| over equal-width score bins, weighted by count."""
    if not records:
        return None
    score = np.array([r.score(label) for r in records])
    truth = np.array([r.has(label) for r in records], dtype=float)
    which = np.minimum((score * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.sum() * abs(truth[in_bin].mean() - score[in_bin].mean())
    return round(float(total / len(records)), 4)


def choose_thresholds(records: list[ImageRecord], labels: tuple[str, ...]) -> dict[str, float]:
    """Per label, the threshold that maximises image-level F1 for that label on these records."""
    out = {}
    for lab in labels:
        truth = np.array([r.has(lab) for r in records])
        top = np.array([r.score(lab) for r in records])
        best = float(top.max()) if len(top) else 0.0
        best_t, best_f1 = 0.5, -1.0
        for t in np.round(np.arange(0.05, max(best, 0.05) + 0.01, 0.01), 2):
            pred = top >= t
            tp = int((pred & truth).sum())
            f1 = 2 * tp / max(int(pred.sum()) + int(truth.sum()), 1)
            if f1 > best_f1:
                best_t, best_f1 = float(t), f1
        out[lab] = round(best_t, 2)
    return out


def choose_abstain_margins(
    records: list[ImageRecord],
    thresholds: dict[str, float],
    *,
    precision: float = 0.9,
    min_images: int = 10,
) -> dict[str, float]:
    """Per label, how far above its threshold a score must be to be reported as sure.

    The smallest margin m (in steps of 0.01) such that, on these records (the validation
    split), the images scoring at least threshold + m show the label at least ``precision``
    of the time, counting at least ``min_images`` of them. Between the threshold and the
    margin a finding is reported as uncertain and a claim resting on it goes to a person.
    When no margin reaches the precision the whole range above the threshold is uncertain.
    """
    out = {}
    for label, t in thresholds.items():
        truth = np.array([r.has(label) for r in records], dtype=bool)
        score = np.array([r.score(label) for r in records])
        chosen = round(1.0 - t, 2)
        for m in np.round(np.arange(0.0, 1.0 - t, 0.01), 2):
            above = score >= t + m
            if int(above.sum()) < min_images:
                break
            if float(truth[above].mean()) >= precision:
                chosen = float(m)
                break
        out[label] = chosen
    return out
