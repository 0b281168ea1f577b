"""The labels every freshproof vision model reports, in model-output order."""

from __future__ import annotations

__all__ = ["DEFECT_LABELS", "LABELS", "PHOTO_CLASSES"]

LABELS: tuple[str, ...] = ("spoilage", "mold", "swelling", "package_damage")
# Every label is a defect: an image is defective when any of them is found.
DEFECT_LABELS: frozenset[str] = frozenset(LABELS)
PHOTO_CLASSES: tuple[str, ...] = ("clean", *LABELS)
"""The condition classifier's classes, one per photo: clean, or the dominant defect."""
