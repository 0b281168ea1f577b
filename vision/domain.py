"""Is this a photo of a product at all? Image statistics that real product photos share and
noise, blank walls, documents, screenshots and test patterns do not.

A photo of a thing has sensor texture (no region is perfectly flat, no two neighbouring
pixels are independent), many colours in smooth transitions, and edges at every angle.
Noise has independent neighbours; a wall or a flat colour has no edges; rendered images
(documents, app windows, patterns) have large exactly flat areas, few colours and edges
along the axes. ``features`` measures those; ``DomainEnvelope`` holds, per feature, the range
that real product photos of the training split span, and a photo outside it on any feature
is not judged ("not a product photo") instead of being graded with a confidence the model
has no ground for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from vision.errors import ModelError

__all__ = ["FEATURES", "DomainEnvelope", "features", "parse_envelope"]

SIDE = 256  # features are measured at this long side, whatever the photo's size

FEATURES = (
    "neighbour_correlation",  # of horizontally adjacent grey pixels: noise is near 0
    "fine_texture",  # mean |grey - its 3x3 blur| over the grey std: noise is high
    "flat_share",  # pixels whose 3x3 neighbourhood is exactly one value: rendered images
    # ...of those, the ones in mid-tones: a photo is exactly flat only where it clips to
    # white or black; a rendered window or document is flat in its own colours
    "flat_midtones",
    "colours",  # log10 of distinct colours (5 bits per channel) as a share of pixels
    "axis_edges",  # share of strong gradients within 5 degrees of an axis
    "edge_density",  # share of pixels on a strong gradient
    "contrast",  # grey standard deviation
)


def features(rgb: np.ndarray) -> dict[str, float]:
    """The image statistics above, on an upright RGB image."""
    h, w = rgb.shape[:2]
    scale = min(1.0, SIDE / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(
            rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    std = float(grey.std())
    a, b = grey[:, :-1].ravel(), grey[:, 1:].ravel()
    corr = float(np.corrcoef(a, b)[0, 1]) if std > 1e-6 and a.std() > 0 and b.std() > 0 else 1.0
    blur = cv2.blur(grey, (3, 3))
    fine = float(np.abs(grey - blur).mean() / max(std, 1.0))
    local_max = cv2.dilate(grey, np.ones((3, 3), np.uint8))
    local_min = cv2.erode(grey, np.ones((3, 3), np.uint8))
    still = (local_max - local_min) == 0
    flat = float(still.mean())
    flat_mid = float((still & (grey > 12) & (grey < 243)).mean())
    q = (rgb >> 3).astype(np.int32)
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    # Counting the 2^15 possible codes instead of sorting the pixels (np.unique): the same
    # number of distinct colours, at a fifth of the cost.
    distinct = int(np.count_nonzero(np.bincount(codes.ravel(), minlength=1 << 15)))
    colours = float(np.log10(distinct / codes.size))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    strong = mag > 40.0
    density = float(strong.mean())
    if strong.sum() >= 20:
        angle = np.degrees(np.arctan2(np.abs(gy[strong]), np.abs(gx[strong])))
        axis = float(((angle < 5) | (angle > 85)).mean())
    else:
        axis = 0.0
    return {
        "neighbour_correlation": corr,
        "fine_texture": fine,
        "flat_share": flat,
        "flat_midtones": flat_mid,
        "colours": colours,
        "axis_edges": axis,
        "edge_density": density,
        "contrast": std,
    }


@dataclass(frozen=True)
class DomainEnvelope:
    """Per feature, the [low, high] that in-domain photos span (either end may be None)."""

    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def outside(self, measured: Mapping[str, float]) -> list[str]:
        """The features on which ``measured`` falls outside the envelope."""
        out = []
        for name, (low, high) in self.bounds.items():
            v = measured[name]
            if (low is not None and v < low) or (high is not None and v > high):
                out.append(name)
        return out

    def as_dict(self) -> dict[str, Any]:
        """Manifest form."""
        return {k: [lo, hi] for k, (lo, hi) in self.bounds.items()}


def parse_envelope(block: Any) -> DomainEnvelope | None:
    """Read a manifest's ``product_photo`` block; None when it has none (no check)."""
    if block is None:
        return None
    try:
        bounds = {
            str(k): (None if lo is None else float(lo), None if hi is None else float(hi))
            for k, (lo, hi) in block["bounds"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"manifest product_photo block is malformed: {exc}") from exc
    unknown = sorted(set(bounds) - set(FEATURES))
    if unknown:
        raise ModelError(f"manifest product_photo names unknown features {unknown}")
    return DomainEnvelope(bounds)
