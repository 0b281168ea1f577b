"""Summarise an ultralytics run from its own ``results.csv`` for the manifest and model card.

The card states what a run actually did (epochs completed, time, last validation figures)
rather than what was asked of it: with a time budget, ultralytics decides the epoch count.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["run_summary"]

# results.csv column -> how the card names it
_DETECTOR_COLUMNS = {
    "metrics/precision(B)": "val box precision",
    "metrics/recall(B)": "val box recall",
    "metrics/mAP50(B)": "val mAP50",
    "metrics/mAP50-95(B)": "val mAP50-95",
}
_CLASSIFIER_COLUMNS = {"metrics/accuracy_top1": "val top-1 accuracy"}


def _rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "results.csv"
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [{k.strip(): v.strip() for k, v in row.items() if k} for row in csv.DictReader(fh)]


def run_summary(
    *, run_dir: Path, kind: str, seconds: float, imgsz: int, batch: int, images: int | None = None
) -> dict[str, Any]:
    """Epochs completed, wall time and the last epoch's validation figures, with a sentence."""
    rows = _rows(run_dir)
    columns = _DETECTOR_COLUMNS if kind == "detector" else _CLASSIFIER_COLUMNS
    last = rows[-1] if rows else {}
    figures = {name: round(float(last[col]), 4) for col, name in columns.items() if col in last}
    epochs = len(rows)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items()) or "no validation figures"
    on = f" on {images} images" if images else ""
    sentence = (
        f"{epochs} epochs{on} at {imgsz} px, batch {batch}, in {seconds / 60:.0f} minutes; "
        f"last epoch: {shown}."
    )
    return {
        "epochs": epochs,
        "seconds": round(seconds),
        "imgsz": imgsz,
        "batch": batch,
        "last_epoch": figures,
        "summary": sentence,
    }
