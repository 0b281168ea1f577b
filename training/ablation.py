"""Measure the design's parts: the detector alone, the classifier alone, and the fusion.

Each variant gets its own thresholds chosen on ``val`` by the same rule as the shipped model,
then is measured on ``test`` at image level (is this photo defective?), overall and on the
groups the product targets are stated on. This is the evidence behind shipping both models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from training.evaluate import GROUPS, ImageRecord, choose_thresholds, image_level

__all__ = ["ablation", "variants"]


def variants(records: list[ImageRecord], labels: tuple[str, ...]) -> dict[str, list[ImageRecord]]:
    """The same photos scored three ways."""
    out = {
        # no fused scores: ImageRecord.score falls back to the best detector box
        "detector only": [dataclasses.replace(r, scores={}) for r in records],
        "fused (shipped)": records,
    }
    if all(r.classifier is not None for r in records):
        out["classifier only"] = [
            dataclasses.replace(
                r, scores={lab: (r.classifier or {}).get(lab, 0.0) for lab in labels}
            )
            for r in records
        ]
    return out


def ablation(
    val: list[ImageRecord], test: list[ImageRecord], labels: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per variant: its val-chosen thresholds and its image-level test figures."""
    val_v, test_v = variants(val, labels), variants(test, labels)
    out = {}
    for name, recs in test_v.items():
        thresholds = choose_thresholds(val_v[name], labels)
        out[name] = {
            "thresholds": thresholds,
            "image_level": image_level(recs, thresholds),
            "groups": {
                g: image_level([r for r in recs if keep(r)], thresholds)
                for g, keep in GROUPS.items()
            },
        }
    return out
