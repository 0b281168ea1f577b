"""When the model may decide alone: per family of products, the confidence each decision needs.

A photo's *decision* for a family is what a station would do with it: ``defect`` when a label
the family can show is found at its threshold (the worst one, as food safety ranks them), else
``clean``. Its *confidence* is the family's own calibration of that label's score (a second
Platt scaling, fitted on the family's validation photos over the release-wide one), and for a
clean photo one minus the highest such score of the family's labels. A decision is taken
*alone* (no person) only at or above the family's operating point for it, which
``training.abstain`` chose on the validation split so that decisions taken alone are wrong at
most a stated share of the time by an upper confidence bound.

A release whose manifest states no operating points (older releases), or a family or decision
it gives none for, decides nothing alone: every such photo goes to a person. That is the
conservative reading: an operating point is a measured promise, and without one there is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from vision.calibration import PlattScaling, parse_calibration
from vision.errors import ModelError

__all__ = [
    "DECISIONS",
    "FAMILIES",
    "KIND_FAMILIES",
    "NO_OPERATING_POINTS",
    "SCHEMA",
    "FamilyPoints",
    "OperatingPoints",
    "PhotoDecision",
    "decide",
    "parse_operating_points",
]

SCHEMA = 1
# Each family's defect labels, worst first (mold over spoilage, swelling over damage).
FAMILIES: dict[str, tuple[str, ...]] = {
    "produce": ("mold", "spoilage"),
    "parcel": ("swelling", "package_damage"),  # cardboard boxes and parcels
    "can": ("swelling", "package_damage"),
    "pouch": ("swelling", "package_damage"),  # vacuum and modified-atmosphere packs
}
# The families an item kind may be when nobody says which.
KIND_FAMILIES: dict[str, tuple[str, ...]] = {
    "produce": ("produce",),
    "package": ("parcel", "can", "pouch"),
}
DECISIONS = ("clean", "defect")


@dataclass(frozen=True)
class FamilyPoints:
    """One family's calibration and the confidence each decision needs to be taken alone.

    A decision missing from ``min_confidence`` is never taken alone.
    """

    calibration: dict[str, PlattScaling] = field(default_factory=dict)
    min_confidence: dict[str, float] = field(default_factory=dict)

    def calibrated(self, label: str, score: float) -> float:
        """The family's calibration of a label's (release-calibrated) score."""
        fit = self.calibration.get(label)
        return fit(score) if fit is not None else score


@dataclass(frozen=True)
class PhotoDecision:
    """What one photo decides for one family, how sure, and whether without a person."""

    family: str
    decision: str  # clean or defect
    label: str | None  # the defect decided; None when clean
    confidence: float
    min_confidence: float | None  # the operating point; None: this decision never alone

    @property
    def alone(self) -> bool:
        """True when the decision may be taken without a person."""
        return self.min_confidence is not None and self.confidence >= self.min_confidence

    def as_dict(self) -> dict[str, object]:
        """JSON form (part of an inspection's output): ``label`` only for a defect and
        ``min_confidence`` only where the decision has an operating point, as the HTTP
        answer (which leaves out what is null) shows it."""
        out: dict[str, object] = {"decision": self.decision}
        if self.label is not None:
            out["label"] = self.label
        out["confidence"] = round(self.confidence, 4)
        if self.min_confidence is not None:
            out["min_confidence"] = self.min_confidence
        out["alone"] = self.alone
        return out

    @classmethod
    def from_dict(cls, family: str, raw: Mapping[str, Any]) -> PhotoDecision:
        """Back from ``as_dict``."""
        floor = raw.get("min_confidence")
        return cls(
            family,
            str(raw["decision"]),
            raw.get("label"),
            float(raw["confidence"]),
            None if floor is None else float(floor),
        )


def decide(
    family: str,
    *,
    found: Set[str],
    scores: Sequence[Mapping[str, float]],
    points: FamilyPoints,
) -> tuple[str | None, float]:
    """The family's decision on one or more photos of an item: the worst label found (None
    when clean) and its confidence, from each photo's release-calibrated ``scores``."""

    def best(label: str) -> float:
        return max((points.calibrated(label, s.get(label, 0.0)) for s in scores), default=0.0)

    labels = FAMILIES[family]
    for label in labels:
        if label in found:
            return label, best(label)
    return None, 1.0 - max(best(label) for label in labels)


@dataclass(frozen=True)
class OperatingPoints:
    """A release's operating points, per family (see module). ``source`` says where they
    come from, for the reason a person is asked to look."""

    families: dict[str, FamilyPoints] = field(default_factory=dict)
    source: str = "the release states no operating points"

    def photo_decision(
        self, family: str, *, found: Set[str], scores: Mapping[str, float]
    ) -> PhotoDecision:
        """One photo's decision for ``family``."""
        points = self.families.get(family, FamilyPoints())
        label, confidence = decide(family, found=found, scores=[scores], points=points)
        decision = "clean" if label is None else "defect"
        return PhotoDecision(
            family, decision, label, confidence, points.min_confidence.get(decision)
        )

    def decisions(
        self, *, found: Set[str], scores: Mapping[str, float]
    ) -> dict[str, PhotoDecision]:
        """One photo's decision for every family."""
        return {f: self.photo_decision(f, found=found, scores=scores) for f in FAMILIES}


NO_OPERATING_POINTS = OperatingPoints()


def _family(name: str, raw: Any, labels: tuple[str, ...]) -> FamilyPoints:
    if not isinstance(raw, dict):
        raise ModelError(f"operating points for {name!r} must be an object")
    block = raw.get("calibration")
    calibration = parse_calibration(
        None if block is None else {"method": "platt", "per_label": block}, labels
    )
    floors: dict[str, float] = {}
    for decision, point in (raw.get("decisions") or {}).items():
        if decision not in DECISIONS:
            raise ModelError(f"operating points: unknown decision {decision!r} for {name!r}")
        if point is None or point.get("min_confidence") is None:
            continue  # chosen on val: no confidence was enough; this decision never alone
        value = float(point["min_confidence"])
        if not 0.0 <= value <= 1.0:
            raise ModelError(f"operating point {name}/{decision} must be in [0, 1], got {value}")
        floors[decision] = value
    return FamilyPoints(calibration, floors)


def parse_operating_points(block: Any, labels: tuple[str, ...], *, version: str) -> OperatingPoints:
    """Read a manifest entry's ``operating_points`` block; none: nothing is decided alone."""
    if block is None:
        return OperatingPoints(source=f"release {version} states no operating points")
    if not isinstance(block, dict) or block.get("schema") != SCHEMA:
        # A newer layout this code cannot read must not be served as if it said nothing.
        raise ModelError(f"manifest operating_points must be schema {SCHEMA}")
    families = block.get("families") or {}
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ModelError(f"operating points name unknown families {unknown}")
    try:
        parsed = {name: _family(name, raw, labels) for name, raw in families.items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"manifest operating_points are malformed: {exc}") from exc
    bound = block.get("max_error")
    why = f"release {version}'s operating points (chosen on {block.get('fitted_on', 'val')}"
    why += f", at most {bound:.0%} wrong by an upper bound)" if bound is not None else ")"
    return OperatingPoints(parsed, why)
