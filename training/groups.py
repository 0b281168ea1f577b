"""Which photos of a built dataset's split are copies of one original shot.

The build splits by near-duplicate group (``training.datasets.group_near_duplicates``) within
one pool and class folder; the same grouping, redone on one split's images, tells which of
them are one shot rotated, shifted or noised. A bound on an error rate must count such a
group once: its copies are judged alike, so they are not independent evidence.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from training.datasets import group_near_duplicates
from training.evaluate import sample_rows

__all__ = ["near_duplicate_groups"]


def near_duplicate_groups(dataset: Path, split: str) -> dict[str, str]:
    """``images/<split>/<name>`` → a group id shared by the copies of one shot."""
    folders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for file, row in sample_rows(dataset).items():
        # Rows whose image is not in the split (a retraining's eval set leaves out fed-back
        # photos) are no evidence there: not grouped.
        if row.get("split") == split and (dataset / file).is_file():
            source = row.get("source") or ""
            folders[(str(row.get("pool")), Path(source).parent.name)].append(file)
    out: dict[str, str] = {}
    for (pool, folder), files in folders.items():
        files.sort()
        ids = group_near_duplicates([dataset / f for f in files])
        out |= {f: f"{pool}/{folder}/{files[g]}" for f, g in zip(files, ids, strict=True)}
    return out
