"""The packaging photos on their own: which pool photo is in which split, with which label.

The condition classifier judges a parcel from a 224 px centre crop among thousands of
fruit photos; dents and tears are small. A packaging classifier of its own
(``training.pack_train``) learns only "damaged or intact pack" from the parcel, box and
can photos, at a resolution where the damage shows. This module lists those photos in the
splits every build uses (``datasets/splits/fp-v0-*.txt``: a photo's split is a hash of its
near-duplicate group, so it is the same in every build) and applies label corrections fed
back as a feedback export (``training.feedback``): a corrected photo takes the export's
class instead of its pool folder's. Test photos are never corrected.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "PACK_POOLS",
    "PackPhoto",
    "apply_corrections",
    "corrections_of",
    "file_sha256",
    "pack_photos",
    "summary",
]

# Pool → (folder, damaged?) for the folders that say damaged or intact. Minor can defects
# are cosmetic (resellable): neither damage nor a clean negative, as in ``training.pools``.
PACK_POOLS: Mapping[str, Mapping[str, bool]] = {
    "parcel_damaged_intact": {"damaged": True, "intact": False},
    "box_damaged_fine": {"damaged": True, "intact": False},
    "can_defects": {"major_defect": True, "critical_defect": True, "no_defect": False},
}
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PackPhoto:
    """One real pack photo: where it is, its split, and whether it shows damage."""

    path: Path
    source: str  # relative to the pools folder, as the split lists name it
    pool: str
    split: str
    damaged: bool
    corrected: bool = False


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes: the evidence store's (and a feedback export's) name."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _split_lists(splits_dir: Path, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for split in _SPLITS:
        for line in (splits_dir / f"{prefix}-{split}.txt").read_text().split():
            out[line] = split
    return out


def pack_photos(
    *,
    pools_dir: Path,
    splits_dir: Path = Path("datasets/splits"),
    prefix: str = "fp-v0",
    pools: Iterable[str] = tuple(PACK_POOLS),
) -> list[PackPhoto]:
    """Every labelled pack photo of ``pools`` found under ``pools_dir``, in its recorded split.

    A photo the split lists do not name is left out (it was not in any build, so it has no
    honest split).
    """
    where = _split_lists(splits_dir, prefix)
    out = []
    for pool in pools:
        for folder, damaged in PACK_POOLS[pool].items():
            for path in sorted((pools_dir / pool / folder).glob("*.jpg")):
                source = f"{pool}/{folder}/{path.name}"
                if source in where:
                    out.append(PackPhoto(path, source, pool, where[source], damaged))
    return out


def corrections_of(feedback: Path) -> dict[str, bool]:
    """SHA-256 → damaged? for each classifier example of a feedback export."""
    manifest = json.loads((feedback / "manifest.json").read_text())
    out = {}
    for ex in manifest["examples"]:
        if ex["class"] is not None:
            out[ex["sha256"]] = ex["class"] != "clean"
    return out


def apply_corrections(
    photos: Sequence[PackPhoto], corrections: Mapping[str, bool]
) -> list[PackPhoto]:
    """``photos`` with the corrected label where a correction names the photo's bytes; test
    photos keep their label whatever a correction says (test judges, it is never tuned)."""
    if not corrections:
        return list(photos)
    out = []
    for p in photos:
        fixed = corrections.get(file_sha256(p.path)) if p.split != "test" else None
        if fixed is not None and fixed != p.damaged:
            p = replace(p, damaged=fixed, corrected=True)
        out.append(p)
    return out


def summary(photos: Iterable[PackPhoto]) -> dict[str, dict[str, int]]:
    """Counts per split of ``pool:damaged|intact`` (and corrected photos), for logs and cards."""
    counts: dict[str, Counter[str]] = {s: Counter() for s in _SPLITS}
    for p in photos:
        counts[p.split][f"{p.pool}:{'damaged' if p.damaged else 'intact'}"] += 1
        counts[p.split]["corrected"] += p.corrected
    return {s: dict(sorted(c.items())) for s, c in counts.items()}
