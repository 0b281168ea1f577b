"""Reading pool and dataset images: a file OpenCV cannot decode is an error, not ``None``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["read_bgr"]


def read_bgr(path: Path) -> np.ndarray:
    """Decode ``path`` as 8-bit BGR or raise ``ValueError`` naming the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    return np.asarray(img)
