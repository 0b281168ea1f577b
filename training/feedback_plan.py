"""Which labelled photos go into a feedback dataset, in which split, with whose labels.

Pure: ``plan_examples`` turns labelled photos (``vision.labelled``) into one example per
photo, ``split_of`` puts a photo in train or val from its hash alone. ``training.feedback``
writes the plan out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from vision.labelled import LabelledPhoto

__all__ = ["Example", "plan_examples", "split_of"]


def split_of(sha256: str, val_fraction: float) -> str:
    """The photo's split, from a hash of its SHA-256 alone: the same in every export.

    A larger ``val_fraction`` only moves photos from train to val, never back.
    """
    digest = hashlib.sha256(b"freshproof-feedback-split\0" + sha256.encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") / 2**32 < val_fraction else "train"


@dataclass(frozen=True)
class Example:
    """One photo as it goes into the dataset: the labels chosen and every source behind them."""

    photo: LabelledPhoto
    split: str
    sources: tuple[str, ...]
    decided_by: tuple[str, ...]
    ledger_indices: tuple[int, ...]
    superseded: tuple[str, ...] = ()


def _labels(p: LabelledPhoto) -> tuple[object, ...]:
    return (p.boxes, p.unboxed, p.photo_class)


def plan_examples(photos: Iterable[LabelledPhoto], *, val_fraction: float) -> list[Example]:
    """One example per photo (by SHA-256), sorted; the same photo labelled differently in
    two places takes the latest decision's labels (highest ledger index), and the others are
    named as superseded. Photos with neither a class nor a box are left out."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    by_sha: dict[str, list[LabelledPhoto]] = {}
    for p in photos:
        if p.for_detection or p.for_classifier:
            by_sha.setdefault(p.sha256, []).append(p)
    out = []
    for sha, group in sorted(by_sha.items()):
        group.sort(key=lambda p: (-1 if p.ledger_index is None else p.ledger_index, p.source))
        chosen = group[-1]
        agree = [p for p in group if _labels(p) == _labels(chosen)]
        out.append(
            Example(
                chosen,
                split_of(sha, val_fraction),
                tuple(sorted(p.source for p in agree)),
                tuple(sorted({p.decided_by for p in agree})),
                tuple(sorted({p.ledger_index for p in agree if p.ledger_index is not None})),
                tuple(sorted(p.source for p in group if _labels(p) != _labels(chosen))),
            )
        )
    return out
