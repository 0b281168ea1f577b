"""Fit per-label Platt scaling on validation records and measure calibration error.

Fitted on ``val`` only (the split thresholds are chosen on), never on ``test``. Platt's own
target smoothing (positives aim at (N+ + 1)/(N+ + 2), negatives at 1/(N- + 2)) keeps a
label with few positives from being pushed to 0/1 certainty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from training.evaluate import ImageRecord
from vision.calibration import EPSILON, PlattScaling

__all__ = [
    "MIN_EXAMPLES",
    "apply_calibration",
    "fit_calibration",
    "fit_platt",
]

MIN_EXAMPLES = 5  # positives and negatives each; fewer and a label is left uncalibrated


def fit_platt(scores: Sequence[float], truth: Sequence[bool]) -> PlattScaling | None:
    """Newton's method on the smoothed log loss; None when the fit would not keep order."""
    s = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    y = np.asarray(truth, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos < MIN_EXAMPLES or neg < MIN_EXAMPLES:
        return None
    target = np.where(y, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
    x = np.log(s / (1.0 - s))
    features = np.stack([x, np.ones_like(x)], axis=1)
    w = np.array([1.0, 0.0])
    for _ in range(100):
        p = 0.5 * (1.0 + np.tanh(0.5 * (features @ w)))  # the sigmoid, without overflow
        grad = features.T @ (p - target)
        hess = features.T @ (features * (p * (1.0 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    if not np.all(np.isfinite(w)) or w[0] <= 0:
        return None
    return PlattScaling(float(w[0]), float(w[1]))


def fit_calibration(
    records: Sequence[ImageRecord], labels: tuple[str, ...]
) -> dict[str, PlattScaling]:
    """One Platt scaling per label that has enough positive and negative images."""
    out = {}
    for label in labels:
        fitted = fit_platt([r.score(label) for r in records], [r.has(label) for r in records])
        if fitted is not None:
            out[label] = fitted
    return out


def apply_calibration(
    records: Sequence[ImageRecord],
    calibration: dict[str, PlattScaling],
    labels: tuple[str, ...],
) -> list[ImageRecord]:
    """The records with each calibrated label's image score mapped (boxes untouched)."""
    out = []
    for r in records:
        scores = {lab: r.score(lab) for lab in labels}
        for label, calibrate in calibration.items():
            scores[label] = calibrate(scores[label])
        out.append(dataclasses.replace(r, scores=scores))
    return out
