"""A 64-bit DCT perceptual hash (pHash) of a decoded image, and the Hamming distance.

Unlike the SHA-256 that names an evidence file, the pHash survives what happens to a photo
on its way to a second claim: JPEG re-encoding, resizing, a little brightening. It keeps
only the sign of the lowest spatial frequencies relative to their median, which those
edits barely move, so near-duplicates land a few bits apart and unrelated photos about 32.

The layout follows the common pHash (as in the ``imagehash`` library): grayscale, 32x32 by
area averaging, 2-D DCT, the top-left 8x8 coefficients (DC included) against their median;
bit 63 is coefficient (0, 0), then row by row.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from vision.errors import PerceptualHashError

__all__ = ["HASH_BITS", "format_phash", "hamming", "parse_phash", "phash"]

HASH_BITS = 64
_SIDE = 32  # the DCT input; 4x the kept 8x8 so that fine texture and noise fall away
_KEEP = 8
_MAX = (1 << HASH_BITS) - 1
_HEX = frozenset("0123456789abcdefABCDEF")


def phash(image: np.ndarray, *, order: Literal["rgb", "bgr"] = "rgb") -> int:
    """The 64-bit pHash of a decoded image: (H, W) gray, or (H, W, 3) in ``order``."""
    if image.ndim == 3 and image.shape[2] == 3:
        code = cv2.COLOR_RGB2GRAY if order == "rgb" else cv2.COLOR_BGR2GRAY
        # float32 first: cvtColor and dct both take it, and uint16 or float input keeps its range.
        gray = cv2.cvtColor(image.astype(np.float32, copy=False), code)
    elif image.ndim == 2:
        gray = image.astype(np.float32, copy=False)
    else:
        raise PerceptualHashError(f"expected (H, W) or (H, W, 3), not shape {image.shape}")
    if gray.size == 0:
        raise PerceptualHashError("the image has no pixels")
    small = cv2.resize(gray, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:_KEEP, :_KEEP]
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _check(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX:
        raise PerceptualHashError(f"{name} is not a 64-bit hash: {value!r}")
    return value


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ: 0 is the same picture, about 32 is unrelated."""
    return (_check(a, "a") ^ _check(b, "b")).bit_count()


def format_phash(value: int) -> str:
    """16 lowercase hex digits: how a pHash is stored and written to the ledger."""
    return f"{_check(value, 'value'):016x}"


def parse_phash(text: str) -> int:
    """The pHash written by ``format_phash``."""
    if len(text) != HASH_BITS // 4:
        raise PerceptualHashError(f"expected {HASH_BITS // 4} hex digits, not {text!r}")
    # int(text, 16) alone would also take a sign, a 0x prefix and underscores.
    if not set(text) <= _HEX:
        raise PerceptualHashError(f"not hex: {text!r}")
    return int(text, 16)
