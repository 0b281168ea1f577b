"""Fitting the "is this a product photo" envelope (``vision.domain``) on real training photos.

Per feature, the envelope spans the ``quantile`` to ``1 - quantile`` range of the real photos
of the training split, widened at each end by ``margin`` times the 1-99% spread: tight enough
that noise, blank walls, documents, app windows and test patterns fall outside, loose enough
that few real photos of val and test do (``bench/not_products.py`` measures both). Fitted on
train so that val and test judge it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.evaluate import is_real_pool, sample_rows
from training.imageio import read_bgr
from vision.domain import FEATURES, DomainEnvelope, features

__all__ = ["fit_envelope"]


def fit_envelope(
    dataset: Path, *, split: str = "train", quantile: float = 0.001, margin: float = 0.05
) -> dict[str, Any]:
    """The manifest's ``product_photo`` block, fitted on ``split``'s real photos."""
    rows = sample_rows(dataset)
    measured = []
    for path in sorted((dataset / "images" / split).glob("*.jpg")):
        if is_real_pool(rows.get(f"images/{split}/{path.name}", {}).get("pool", "unknown")):
            f = features(cv2.cvtColor(read_bgr(path), cv2.COLOR_BGR2RGB))
            measured.append([f[k] for k in FEATURES])
    table = np.asarray(measured, dtype=np.float64)
    bounds = {}
    for i, name in enumerate(FEATURES):
        low, high = np.quantile(table[:, i], [quantile, 1.0 - quantile])
        spread = np.quantile(table[:, i], 0.99) - np.quantile(table[:, i], 0.01)
        bounds[name] = [
            round(float(low - margin * spread), 6),
            round(float(high + margin * spread), 6),
        ]
    envelope = DomainEnvelope({k: (lo, hi) for k, (lo, hi) in bounds.items()})
    return {
        "schema": 1,
        "fitted_on": f"{split} (real photos)",
        "photos": len(measured),
        "quantile": quantile,
        "margin": margin,
        "bounds": envelope.as_dict(),
    }
