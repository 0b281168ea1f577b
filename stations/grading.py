"""Grading a returned item at a station: its photos' inspections in, condition and disposition
out (GUIDE §4, returns grading). Pure: no database, no model, no clock.

The condition vocabulary depends on the item's kind: produce is ``fresh``, ``spoiled`` or
``moldy``; a package ``intact``, ``damaged`` or ``swollen``. The worst condition any photo
shows wins (mold over spoilage, swelling over damage, as food safety ranks them). Its
confidence is the model's calibrated score for that defect; for a clean item, one minus the
highest score of any defect the kind can have, so "clean" is as sure as the model is that
nothing is there. Below the policy's confidence the item is graded by a person.

Who decides: a person, unless every judged photo is decided alone for the item's family
(``vision.operating``): at or above the release's operating point for that family and
decision, chosen on validation photos so that decisions taken alone are rarely wrong. An item
whose family the station did not name is held to every family its kind may be (a package
must pass the parcel, can and pouch points alike). A release without operating points
decides nothing alone. Only an inspector that states no decisions at all (a test double) is
graded by the policy's confidence alone; the policy's floor applies in every case.

Dispositions in CBV 2.0 terms: fresh/intact → ``sellable_accessible`` (resell); a damaged
package with sound product → ``damaged`` (rework: repack), spoiled, moldy or swollen →
``destroyed`` (scrap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vision.label_text import LabelRead, LabelReading, normalize_lot
from vision.operating import FAMILIES, KIND_FAMILIES
from vision.predictor import Inspection

__all__ = [
    "CONDITIONS",
    "Grade",
    "GradingPolicy",
    "families_of",
    "grade",
    "other_lot",
]

Kind = Literal["produce", "package"]
# Worst first: the first condition a photo shows wins.
CONDITIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "produce": (("mold", "moldy"), ("spoilage", "spoiled")),
    "package": (("swelling", "swollen"), ("package_damage", "damaged")),
}
CLEAN = {"produce": "fresh", "package": "intact"}
DISPOSITIONS = {
    "fresh": ("sellable_accessible", "resell"),
    "intact": ("sellable_accessible", "resell"),
    "damaged": ("damaged", "rework"),
    "spoiled": ("destroyed", "scrap"),
    "moldy": ("destroyed", "scrap"),
    "swollen": ("destroyed", "scrap"),
}


@dataclass(frozen=True)
class GradingPolicy:
    """Below ``min_confidence`` a person grades the item."""

    min_confidence: float = 0.7


@dataclass(frozen=True)
class Grade:
    """An item's condition, how sure, and what happens to it."""

    kind: Kind
    condition: str
    confidence: float
    disposition: str  # CBV 2.0 short name
    action: str  # resell, rework, scrap, or manual
    manual: bool
    reason: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Grade:
        """Back from ``as_dict``."""
        return cls(
            raw["kind"],
            raw["condition"],
            float(raw["confidence"]),
            raw["disposition"],
            raw["action"],
            bool(raw["manual"]),
            raw["reason"],
        )

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "kind": self.kind,
            "condition": self.condition,
            "confidence": round(self.confidence, 4),
            "disposition": self.disposition,
            "action": self.action,
            "manual": self.manual,
            "reason": self.reason,
        }


def _score(inspections: Sequence[Inspection], label: str) -> float:
    return max((i.scores.get(label, 0.0) for i in inspections), default=0.0)


def families_of(kind: Kind, family: str | None) -> tuple[str, ...]:
    """The families an item is held to: the one named, else every one its kind may be."""
    if family is None:
        return KIND_FAMILIES[kind]
    if family not in FAMILIES or family not in KIND_FAMILIES[kind]:
        raise ValueError(f"family {family!r} is not one of {KIND_FAMILIES[kind]} ({kind})")
    return (family,)


def _unsure(judged: Sequence[Inspection], families: tuple[str, ...]) -> str | None:
    """Why the model may not decide alone (None: every photo is decided alone)."""
    if not all(i.decisions for i in judged):
        return None  # an inspector that states no decisions: the policy's floor alone
    for i in judged:
        for family in families:
            d = i.decisions.get(family)
            if d is None or not d.alone:
                if d is None or d.min_confidence is None:
                    return f"the model has no operating point for {family} ({d.decision if d else 'any'} decisions)"
                return (
                    f"the model is unsure of this photo: {family} {d.decision} at "
                    f"{d.confidence:.2f}, below its operating point {d.min_confidence:.2f}"
                )
    return None


def grade(
    kind: Kind,
    inspections: Sequence[Inspection],
    policy: GradingPolicy,
    *,
    family: str | None = None,
) -> Grade:
    """The item's grade from its judged photos (those that passed the quality gate);
    ``family``: what the item is (produce, parcel, can, pouch), when the station knows."""
    judged = [i for i in inspections if i.quality.ok and i.scores]
    if not judged:
        return Grade(
            kind, "unknown", 0.0, "", "manual", True, "no photo could be judged: a person grades it"
        )
    unsure = _unsure(judged, families_of(kind, family))
    found = {f.label for i in judged for f in i.findings}
    for label, condition in CONDITIONS[kind]:
        if label in found:
            confidence = _score(judged, label)
            return _decided(kind, condition, confidence, policy, f"{label} found", unsure)
    worst = max(_score(judged, label) for label, _ in CONDITIONS[kind])
    return _decided(kind, CLEAN[kind], 1.0 - worst, policy, "no defect found", unsure)


def _decided(
    kind: Kind,
    condition: str,
    confidence: float,
    policy: GradingPolicy,
    why: str,
    unsure: str | None,
) -> Grade:
    disposition, action = DISPOSITIONS[condition]
    if unsure is not None:
        return Grade(
            kind, condition, confidence, disposition, "manual", True,
            f"{why}; {unsure}: a person grades it",
        )  # fmt: skip
    if confidence < policy.min_confidence:
        return Grade(
            kind,
            condition,
            confidence,
            disposition,
            "manual",
            True,
            f"{why} at confidence {confidence:.2f}, below {policy.min_confidence:.2f}: a person "
            "grades it",
        )
    return Grade(kind, condition, confidence, disposition, action, False, why)


def other_lot(
    graded: Grade, *, lot: str | None, labels: Sequence[LabelReading]
) -> tuple[Grade, str | None]:
    """The grade, left to a person when a photo's label reads a lot other than ``lot`` (the
    lot the ledger knows for the item's EPC, as printed); and a note of what was read.

    The tag and the pack disagree: the item may be mislabelled or the tag on the wrong pack,
    and a grade event must not be written to a lot the item may not belong to.
    """
    read = [r.lot for r in labels if isinstance(r, LabelRead) and r.lot is not None]
    if not read:
        return graded, None
    if lot is None:
        return graded, f"the label reads lot {read[0]!r}; the ledger knows no lot to compare"
    other = sorted({x for x in read if normalize_lot(x) != normalize_lot(lot)})
    if not other:
        return graded, f"the label reads lot {read[0]!r}, the item's lot"
    why = f"the label reads lot {other[0]!r}, not the item's lot {lot!r}: a person grades it"
    return (
        Grade(
            graded.kind,
            graded.condition,
            graded.confidence,
            graded.disposition,
            "manual",
            True,
            f"{graded.reason}; {why}",
        ),
        why,
    )
