"""Confidence calibration: turn a label's fused score into a probability one can weigh.

The fused score (the larger of the classifier's probability and the detector's best box)
orders photos well but is not a probability: a from-scratch model is over- or under-confident
by label. Platt scaling (a logistic fit on the score's logit, two numbers per label, fitted
on the validation split) maps it to one. Two parameters, not isotonic regression, because
some labels have only a few dozen positive validation photos. The map is strictly increasing,
so it reorders nothing: thresholds chosen on calibrated scores select the same photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vision.errors import ModelError

__all__ = ["EPSILON", "PlattScaling", "logit", "parse_calibration"]

EPSILON = 1e-6  # scores are clipped into (0, 1) before the logit


def logit(p: float) -> float:
    """log(p / (1 - p)) with p clipped away from 0 and 1."""
    p = min(max(p, EPSILON), 1.0 - EPSILON)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class PlattScaling:
    """p = sigmoid(a * logit(score) + b); ``a`` > 0 keeps the order of scores."""

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a <= 0:
            raise ModelError(f"calibration needs a finite slope > 0, got a={self.a}, b={self.b}")

    def __call__(self, score: float) -> float:
        z = self.a * logit(score) + self.b
        # Split by sign so exp never overflows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def as_dict(self) -> dict[str, float]:
        """Manifest form."""
        return {"a": round(self.a, 6), "b": round(self.b, 6)}


def parse_calibration(block: Any, labels: tuple[str, ...]) -> dict[str, PlattScaling]:
    """Read a manifest's ``calibration`` block; labels it leaves out stay uncalibrated."""
    if block is None:
        return {}
    if not isinstance(block, dict) or block.get("method") != "platt":
        raise ModelError("manifest calibration must be {'method': 'platt', 'per_label': {...}}")
    per_label = block.get("per_label", {})
    if not isinstance(per_label, dict) or not set(per_label) <= set(labels):
        raise ModelError(f"manifest calibration names labels outside {labels}")
    try:
        return {label: PlattScaling(float(p["a"]), float(p["b"])) for label, p in per_label.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"manifest calibration is malformed: {exc}") from exc
