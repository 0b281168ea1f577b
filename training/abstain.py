"""Choosing when a release may decide alone, on val, and writing it into its manifest entry:
per-label abstention margins for findings, and per-family operating points for decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["store_abstain_margins", "store_operating_points"]


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


def store_operating_points(
    *,
    weights_dir: Path,
    dataset: Path,
    name: str,
    max_error: float = 0.02,
    delta: float = 0.05,
    feedback: Sequence[Path] = (),
) -> dict[str, Any]:
    """Choose each family's operating points on the val split (``training.operating``),
    measure them on test, write both into the manifest entry of the newest release of
    ``name`` and the model card's section on them; returns the block written.

    ``feedback``: exports of people's decisions whose val photos of a known family count
    beside the split's (``training.feedback_val``); the block names each export.

    The same step fits the release's "not a product photo" envelope on the train split's
    real photos (``training.domain``): what the model must not judge at all.
    """
    from training.card import with_operating_points
    from training.domain import fit_envelope
    from training.evaluate import collect
    from training.feedback_val import feedback_val, learned_from
    from training.groups import near_duplicate_groups
    from training.operating import (
        choose_operating_points,
        measure_operating_points,
        risk_coverage,
    )
    from vision.predictor import Predictor
    from vision.registry import load_manifest

    predictor = Predictor.from_weights(weights_dir, name=name)
    thresholds = predictor.spec.thresholds
    val_groups = near_duplicate_groups(dataset, "val")
    val = collect(predictor, dataset, "val")
    learned = learned_from(load_manifest(weights_dir), name) if feedback else frozenset()
    people = []
    counted: frozenset[str] = frozenset()
    for export in feedback:
        evidence = feedback_val(predictor, export, exclude=learned, counted=counted)
        counted |= evidence.photos
        people.append(evidence)
        val += evidence.records
        val_groups |= evidence.groups
    block = choose_operating_points(
        val, thresholds, max_error=max_error, delta=delta, groups=val_groups
    )
    if people:
        block["fitted_on"] = "val + feedback " + ", ".join(e.version for e in people)
        block["feedback"] = [e.summary() for e in people]
    test = collect(predictor, dataset, "test")
    test_groups = near_duplicate_groups(dataset, "test")
    block["test"] = measure_operating_points(test, thresholds, block, test_groups)
    block["risk_coverage_test"] = risk_coverage(test, thresholds, block, groups=test_groups)
    path = weights_dir / "manifest.json"
    manifest = load_manifest(weights_dir)
    entry = next(m for m in reversed(manifest["models"]) if m["name"] == name)
    entry["operating_points"] = block
    entry["product_photo"] = fit_envelope(dataset)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    card = weights_dir / "MODEL_CARD.md"
    if card.exists():
        card.write_text(with_operating_points(card.read_text(), entry))
    return block
