"""Choosing a release's abstention margins on val and writing them into its manifest entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["store_abstain_margins"]


def store_abstain_margins(
    *, weights_dir: Path, dataset: Path, name: str, precision: float = 0.9
) -> dict[str, Any]:
    """Choose each label's abstention margin on the val split, write it to the manifest entry
    of the newest release of ``name``, and report what it does on test: how many findings
    become uncertain and how precise the sure ones are."""
    from training.evaluate import choose_abstain_margins, collect
    from vision.predictor import Predictor
    from vision.registry import load_manifest

    predictor = Predictor.from_weights(weights_dir, name=name)
    thresholds = predictor.spec.thresholds
    margins = choose_abstain_margins(
        collect(predictor, dataset, "val"), thresholds, precision=precision
    )
    path = weights_dir / "manifest.json"
    manifest = load_manifest(weights_dir)
    entry = next(m for m in reversed(manifest["models"]) if m["name"] == name)
    entry["abstain"] = margins
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    test = collect(predictor, dataset, "test")
    per_label: dict[str, Any] = {}
    for label, t in thresholds.items():
        found = [r for r in test if r.score(label) >= t]
        sure = [r for r in found if r.score(label) >= t + margins[label]]
        unsure = [r for r in found if r not in sure]

        def share(rs: list[Any], lab: str = label) -> float | None:
            return round(sum(r.has(lab) for r in rs) / len(rs), 4) if rs else None

        per_label[label] = {
            "found": len(found),
            "uncertain": len(unsure),
            "precision_sure": share(sure),
            "precision_uncertain": share(unsure),
        }
    return {"margins": margins, "test": per_label}
