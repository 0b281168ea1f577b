"""A labelled photo: people's boxes and class on one photo, and whose word they are.

The value both sides of the feedback loop share: ``cases.feedback`` reads people's decisions
into labelled photos, ``training.feedback`` exports them as a dataset and
``training.label_studio`` converts them to and from Label Studio. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from vision.errors import InvalidExampleError
from vision.labels import LABELS, PHOTO_CLASSES
from vision.operating import FAMILIES

__all__ = ["Box", "LabelledPhoto", "photo_class_of"]

Box = tuple[str, float, float, float, float]
"""A box: label, then x1, y1, x2, y2 in the upright photo's pixels."""

# The evidence store's names (storage.evidence.is_sha256); vision does not import storage.
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo with people's labels: its boxes, its class, and whose word they are.

    ``unboxed``: defects seen on the photo but not boxed (in ``LABELS`` order); such a photo
    is for the classifier only. ``photo_class`` is a ``PHOTO_CLASSES`` class, or None when
    nobody gave one (then the photo is for detection only, and only with boxes).
    ``width``/``height`` (the upright photo's) are None where nothing recorded them.
    """

    sha256: str
    width: int | None
    height: int | None
    boxes: tuple[Box, ...]
    photo_class: str | None
    source: str
    decided_by: str
    ledger_index: int | None
    unboxed: tuple[str, ...] = ()
    # The product family the source knew (a station item's: the one its station named, or
    # produce), None where nobody said: only a photo of a known family is evidence for that
    # family's operating points (training.operating).
    family: str | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise InvalidExampleError(self.source, problem)

    def _problem(self) -> str | None:
        if _SHA256.fullmatch(self.sha256) is None:
            return f"{self.sha256!r} is not a SHA-256"
        if (self.width is None) != (self.height is None) or (self.width or 1) <= 0:
            return "width and height are both known and positive, or both unknown"
        if self.boxes and self.width is None:
            return "a box needs the photo's size"
        for label, x1, y1, x2, y2 in self.boxes:
            if label not in LABELS:
                return f"box label {label!r} is not one of {', '.join(LABELS)}"
            if not (0 <= x1 < x2 <= (self.width or 0) and 0 <= y1 < y2 <= (self.height or 0)):
                return f"box {(x1, y1, x2, y2)} is not inside the {self.width}x{self.height} photo"
        if self.unboxed != tuple(x for x in LABELS if x in self.unboxed):
            return f"unboxed {self.unboxed} is not unique labels in LABELS order"
        if self.photo_class is not None and self.photo_class not in PHOTO_CLASSES:
            return f"class {self.photo_class!r} is not one of {', '.join(PHOTO_CLASSES)}"
        if self.family is not None and self.family not in FAMILIES:
            return f"family {self.family!r} is not one of {', '.join(FAMILIES)}"
        if self.photo_class == "clean" and (self.boxes or self.unboxed):
            return "a clean photo has no defect, boxed or not"
        seen = {b[0] for b in self.boxes} | set(self.unboxed)
        if self.photo_class not in (None, "clean") and self.photo_class not in seen:
            return f"class {self.photo_class} is neither boxed nor listed unboxed"
        return None

    @property
    def for_detection(self) -> bool:
        """Every defect on it is boxed: a detection example (an empty label file if clean)."""
        return not self.unboxed and (bool(self.boxes) or self.photo_class == "clean")

    @property
    def for_classifier(self) -> bool:
        """It has a class: a classifier example."""
        return self.photo_class is not None


def photo_class_of(boxes: Sequence[Box], unboxed: Sequence[str]) -> str:
    """The classifier class: the defect seen most often (ties: ``LABELS`` order), or clean."""
    counts = Counter([b[0] for b in boxes] + list(unboxed))
    if not counts:
        return "clean"
    return max(LABELS, key=lambda label: (counts[label], -LABELS.index(label)))
