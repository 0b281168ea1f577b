"""People's decisions as evidence for a release's operating points: a feedback export's val
photos of a known family.

Evidence must be held out: ``freshproof models retrain`` learns from every photo of the
export it is given (train and val alike), and each retraining starts from the release then
serving. So every photo of every export a release of the model was retrained on
(``training.replay.feedback`` in the manifest's entries) is left out here, whatever its
split; an export named there that cannot be read stops the count
(``UnknownTrainingDataError``) rather than risk counting a photo the model learned.
People's decisions made since a retraining are what count for the release it made.

Of the rest, an export's val photos (``training.feedback_plan.split_of``: by hash, so a photo
keeps its split in every export) whose family is known (a station item's: the family its
station named, or produce; a claim's when it named one or its category is a produce one)
are judged exactly
as the dataset's val photos are (``training.evaluate.judge_file``) and count beside them
when a release's operating points are chosen (``freshproof models operating-points
--feedback``): the way graded returns and decided claims give a family the independent
val shots its decisions need before the model may take them alone. A person's condition is
the truth (``clean``, or the defect class they gave); the unit of evidence is the item or
claim a photo came from, since several photos of one item are not independent.

Photos of no known family (a chilled or frozen claim that named none, a package whose station
named none) are counted as left out and not used: a family's bound must not rest on photos of
another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import UnknownTrainingDataError
from training.evaluate import GroundTruth, ImageRecord, judge_file
from training.layout import require_feedback
from training.operating import FEEDBACK_POOL
from vision.operating import FAMILIES
from vision.predictor import Predictor

__all__ = ["FeedbackEvidence", "feedback_val", "learned_from"]


@dataclass(frozen=True)
class FeedbackEvidence:
    """One export's val photos of a known family, judged; what was left out and why."""

    version: str
    manifest_sha256: str
    records: tuple[ImageRecord, ...]
    groups: dict[str, str]  # record file -> its item (the unit of evidence)
    without_family: int  # val photos with a class but no known family: not used
    trained_on: int  # val photos a release of the model was retrained on: not used
    counted_before: int  # val photos an export given before this one holds too: counted once
    photos: frozenset[str] = frozenset()  # the SHA-256 of the photos counted here

    def summary(self) -> dict[str, Any]:
        """What the operating-points block records of this export."""
        families: dict[str, int] = {}
        for r in self.records:
            family = r.pool.removeprefix(FEEDBACK_POOL)
            families[family] = families.get(family, 0) + 1
        return {
            "version": self.version,
            "manifest_sha256": self.manifest_sha256,
            "val_photos": dict(sorted(families.items())),
            "val_items": len(set(self.groups.values())),
            "val_photos_without_family": self.without_family,
            "val_photos_trained_on": self.trained_on,
            "val_photos_counted_before": self.counted_before,
        }


def _truth(photo_class: str) -> Callable[[int, int], GroundTruth]:
    def truth(width: int, height: int) -> GroundTruth:
        if photo_class == "clean":
            return ()
        return ((photo_class, (0.0, 0.0, float(width), float(height))),)

    return truth


def _item(sources: Sequence[str]) -> str:
    """The item or claim a photo came from: its first source without ``/photo/<n>``."""
    return sorted(sources)[0].rsplit("/photo/", 1)[0] if sources else ""


def learned_from(manifest: Mapping[str, Any], name: str) -> frozenset[str]:
    """The SHA-256 of every photo of every feedback export a release of ``name`` in
    ``manifest`` (a weights folder's) was retrained on; see the module."""
    photos: set[str] = set()
    for entry in manifest.get("models", ()):
        replay = (entry.get("training") or {}).get("replay") or {}
        export = replay.get("feedback")
        if entry.get("name") != name or not export:
            continue
        try:
            trained = json.loads((Path(export) / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise UnknownTrainingDataError(name, str(entry.get("version")), export) from exc
        photos |= {str(e["sha256"]) for e in trained.get("examples", ())}
    return frozenset(photos)


def feedback_val(
    predictor: Predictor,
    export: Path,
    *,
    exclude: frozenset[str] = frozenset(),
    counted: frozenset[str] = frozenset(),
) -> FeedbackEvidence:
    """Judge ``export``'s val photos of a known family, but those in ``exclude`` (what the
    model learned from: ``learned_from``) and in ``counted`` (photos an export given before
    holds: each export holds every decision up to its own, so they overlap); see the module."""
    require_feedback(export)
    raw = (export / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    version = str(manifest.get("version", export.name))
    records: list[ImageRecord] = []
    groups: dict[str, str] = {}
    without_family = trained_on = counted_before = 0
    photos: set[str] = set()
    for example in manifest["examples"]:
        photo_class = example.get("class")
        if example["split"] != "val" or photo_class is None:
            continue
        if example["sha256"] in exclude:
            trained_on += 1
            continue
        if example["sha256"] in counted:
            counted_before += 1
            continue
        family = example.get("family")
        if family not in FAMILIES:
            without_family += 1
            continue
        file = f"feedback/{example['sha256']}"
        photos.add(example["sha256"])
        records.append(
            judge_file(
                predictor,
                export / example["file"],
                file=file,
                pool=f"{FEEDBACK_POOL}{family}",
                tags=("feedback",),
                truth=_truth(photo_class),
                family=family,
            )
        )
        # Sources name the claim or station item the world over: one item, one group,
        # whichever export holds its photos.
        groups[file] = f"feedback/{_item(example.get('sources', ()))}"
    return FeedbackEvidence(
        version,
        hashlib.sha256(raw).hexdigest(),
        tuple(records),
        groups,
        without_family,
        trained_on,
        counted_before,
        frozenset(photos),
    )
