"""Choosing per-family operating points on val, and measuring what they do on test.

For each family of products (``vision.operating.FAMILIES``) and each decision (``clean``:
fresh/intact, resell; ``defect``: spoiled, moldy, damaged or swollen), the operating point is
the lowest confidence at which decisions taken alone are wrong at most ``max_error`` of the
time by a one-sided Clopper-Pearson upper bound at level ``1 - delta`` on the val split.

How the point is chosen (fixed-sequence testing, as in Learn-then-Test): the candidate
cut-offs are the val confidences, visited from the strictest that could pass at all (the
``min_decisions`` most confident photos: fewer cannot bound the error at ``max_error`` even
with none wrong) towards the loosest; the order depends only on the confidences, never on
the labels. Each cut-off is accepted while its bound is within ``max_error``; the first that
fails ends the walk, and the last accepted is the operating point. Testing in a fixed order
and stopping at the first failure keeps the chance of accepting any cut-off whose true error
is above ``max_error`` within ``delta``, without a correction for the number of cut-offs.
A family whose val split has fewer photos of a decision than ``min_decisions`` gets no
operating point for it: those photos always go to a person.

A decision is wrong when it leads to another outcome than the truth would: clean when the
photo shows a defect, a defect on a clean photo, or a defect whose outcome differs from the
true one (damage is reworked, the rest scrapped; mold for spoilage is not wrong, both scrap).
Only real photos count: generated images (synthetic packs, composites) say nothing about
real returns, so the pouch family, which has no real photo, gets no operating point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.calibrate import fit_platt
from training.evaluate import FEEDBACK_POOL, POOL_FAMILY, ImageRecord, is_real_photo, pool_family
from training.risk import clopper_pearson_upper, min_decisions
from vision.calibration import PlattScaling
from vision.operating import (
    DECISIONS,
    FAMILIES,
    SCHEMA,
    FamilyPoints,
    OperatingPoints,
    decide,
    parse_operating_points,
)

__all__ = [
    "FEEDBACK_POOL",
    "OUTCOME",
    "POOL_FAMILY",
    "DecidedPhoto",
    "choose_operating_points",
    "decided_photos",
    "family_of",
    "measure_operating_points",
    "risk_coverage",
]

MAX_SLOPE = 20.0  # a family calibration steeper than this is a separable toy fit, not kept
# What a station does with each defect (stations.grading.DISPOSITIONS): decisions that lead
# to the same outcome are not wrong for each other.
OUTCOME = {"mold": "scrap", "spoilage": "scrap", "swelling": "scrap", "package_damage": "rework"}


def family_of(record: ImageRecord) -> str | None:
    """The family a real photo shows (a pool's, or what a person's decision named); None
    for generated images and unknown pools."""
    return pool_family(record.pool) if is_real_photo(record) else None


@dataclass(frozen=True)
class DecidedPhoto:
    """One photo's decision for its family, its confidence, and whether it was wrong."""

    file: str
    family: str
    decision: str
    label: str | None
    confidence: float
    wrong: bool
    # The photo's near-duplicate group (its original shot): copies of one shot are one piece
    # of evidence, not several, so bounds count groups.
    group: str = ""


def _truth(record: ImageRecord, family: str) -> str | None:
    return next((label for label in FAMILIES[family] if record.has(label)), None)


def _wrong(label: str | None, truth: str | None) -> bool:
    if label is None or truth is None:
        return label != truth
    return OUTCOME[label] != OUTCOME[truth]


def decided_photos(
    records: Sequence[ImageRecord],
    thresholds: dict[str, float],
    families: dict[str, FamilyPoints] | None = None,
    groups: Mapping[str, str] | None = None,
) -> list[DecidedPhoto]:
    """Every real photo's decision for its own family, confidence under ``families``'
    calibration (none: the release's own scores); ``groups`` maps a record's file to its
    near-duplicate group (none: every photo its own)."""
    out = []
    for r in records:
        family = family_of(r)
        if family is None:
            continue
        found = {label for label, t in thresholds.items() if r.score(label) >= t}
        points = (families or {}).get(family, FamilyPoints())
        label, confidence = decide(family, found=found, scores=[r.scores], points=points)
        decision = "clean" if label is None else "defect"
        wrong = _wrong(label, _truth(r, family))
        group = (groups or {}).get(r.file, r.file)
        out.append(DecidedPhoto(r.file, family, decision, label, confidence, wrong, group))
    return out


def _fit_family(records: Sequence[ImageRecord], family: str) -> dict[str, PlattScaling]:
    """Platt scaling of each of the family's labels on the family's own val photos."""
    mine = [r for r in records if family_of(r) == family]
    out = {}
    for label in FAMILIES[family]:
        fitted = fit_platt([r.score(label) for r in mine], [r.has(label) for r in mine])
        # Scores that separate the family's val photos perfectly drive the slope without
        # bound; such a fit says nothing about new photos, so the label stays as released.
        if fitted is not None and fitted.a <= MAX_SLOPE:
            out[label] = fitted
    return out


def _evidence(photos: Sequence[DecidedPhoto]) -> tuple[int, int]:
    """(groups, wrong groups): a group with any wrong photo counts as wrong."""
    return len({p.group for p in photos}), len({p.group for p in photos if p.wrong})


def _walk(
    photos: Sequence[DecidedPhoto], *, max_error: float, delta: float
) -> tuple[float | None, dict[str, Any]]:
    """The fixed-sequence walk (see module) over one family's photos of one decision."""
    ranked = sorted(photos, key=lambda p: -p.confidence)
    start = min_decisions(max_error, delta=delta)
    groups, _ = _evidence(ranked)
    facts: dict[str, Any] = {"val_photos": len(ranked), "val_groups": groups}
    if groups < start:
        facts["why_none"] = (
            f"{groups} original shots on val ({len(ranked)} photos); even all right, fewer "
            f"than {start} cannot bound the error at {max_error:.0%}"
        )
        return None, facts
    # The strictest cut-off that could pass: the one taking the first ``start`` groups.
    seen: set[str] = set()
    first = 0
    while len(seen) < start:
        seen.add(ranked[first].group)
        first += 1
    chosen: float | None = None
    for cut in sorted({p.confidence for p in ranked[first - 1 :]}, reverse=True):
        taken = [p for p in ranked if p.confidence >= cut]
        n, wrong = _evidence(taken)
        bound = clopper_pearson_upper(wrong, n, delta=delta)
        facts_here = {"decided": len(taken), "groups": n, "wrong_groups": wrong,
                      "upper_bound": round(bound, 4)}  # fmt: skip
        if bound > max_error:
            facts["stopped_at"] = {"cut": round(cut, 6), **facts_here}
            break
        chosen = cut
        facts |= facts_here
    if chosen is None:
        facts["why_none"] = "the strictest cut-off that could pass did not"
    return chosen, facts


def choose_operating_points(
    val: Sequence[ImageRecord],
    thresholds: dict[str, float],
    *,
    max_error: float = 0.02,
    delta: float = 0.05,
    groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest's ``operating_points`` block, chosen on ``val`` (see module);
    ``groups``: each val file's near-duplicate group (``training.groups``)."""
    families: dict[str, Any] = {}
    for family in FAMILIES:
        calibration = _fit_family(val, family)
        points = FamilyPoints(calibration)
        photos = [
            p
            for p in decided_photos(val, thresholds, {family: points}, groups)
            if p.family == family
        ]
        decisions: dict[str, Any] = {}
        for decision in DECISIONS:
            cut, facts = _walk(
                [p for p in photos if p.decision == decision], max_error=max_error, delta=delta
            )
            # Rounded down, so the stored point never excludes a photo the walk accepted.
            point = None if cut is None else int(cut * 1e6) / 1e6
            decisions[decision] = {"min_confidence": point, "val": facts}
        families[family] = {
            "calibration": {label: p.as_dict() for label, p in calibration.items()},
            "decisions": decisions,
        }
    return {
        "schema": SCHEMA,
        "max_error": max_error,
        "delta": delta,
        "bound": "Clopper-Pearson, one-sided",
        "selection": "fixed-sequence over val confidences, strictest first",
        "fitted_on": "val",
        "unit": "near-duplicate group (original shot)" if groups else "photo",
        "families": families,
    }


def _figures(photos: Sequence[DecidedPhoto], alone: Sequence[DecidedPhoto]) -> dict[str, Any]:
    wrong = sum(p.wrong for p in alone)
    groups, wrong_groups = _evidence(alone)
    return {
        "photos": len(photos),
        "decided_alone": len(alone),
        "coverage": round(len(alone) / len(photos), 4) if photos else None,
        "wrong": wrong,
        "error": round(wrong / len(alone), 4) if alone else None,
        "groups": groups,
        "wrong_groups": wrong_groups,
        # Over original shots: copies of one shot are not independent evidence.
        "upper_bound": round(clopper_pearson_upper(wrong_groups, groups), 4) if alone else None,
        "error_without_abstaining": (
            round(sum(p.wrong for p in photos) / len(photos), 4) if photos else None
        ),
    }


def measure_operating_points(
    records: Sequence[ImageRecord],
    thresholds: dict[str, float],
    block: dict[str, Any],
    groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Per family (and per decision): photos, share decided alone, how many of those were
    wrong, the error rate and its upper bound (95%, one-sided)."""
    points = parse_operating_points(block, tuple(thresholds), version="measured")
    photos = decided_photos(records, thresholds, points.families, groups)
    out: dict[str, Any] = {}
    for family in FAMILIES:
        mine = [p for p in photos if p.family == family]
        alone = [p for p in mine if _alone(points, p)]
        row = _figures(mine, alone)
        row["decisions"] = {
            d: _figures([p for p in mine if p.decision == d], [p for p in alone if p.decision == d])
            for d in DECISIONS
        }
        out[family] = row
    return out


def _alone(points: OperatingPoints, p: DecidedPhoto) -> bool:
    floor = points.families.get(p.family, FamilyPoints()).min_confidence.get(p.decision)
    return floor is not None and p.confidence >= floor


def risk_coverage(
    records: Sequence[ImageRecord],
    thresholds: dict[str, float],
    block: dict[str, Any],
    *,
    coverages: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    groups: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Per family, the error of the most confident photos at each share decided (both
    decisions ranked together by their family-calibrated confidence): the risk-coverage
    curve, from which a reader sees what any stricter or looser point would do."""
    points = parse_operating_points(block, tuple(thresholds), version="measured")
    photos = decided_photos(records, thresholds, points.families, groups)
    out: dict[str, list[dict[str, Any]]] = {}
    for family in FAMILIES:
        ranked = sorted((p for p in photos if p.family == family), key=lambda p: -p.confidence)
        rows = []
        for share in coverages:
            n = round(share * len(ranked))
            if n == 0:
                continue
            wrong = sum(p.wrong for p in ranked[:n])
            groups_n, wrong_groups = _evidence(ranked[:n])
            rows.append(
                {
                    "coverage": share,
                    "decided": n,
                    "min_confidence": round(ranked[n - 1].confidence, 4),
                    "wrong": wrong,
                    "error": round(wrong / n, 4),
                    "groups": groups_n,
                    "wrong_groups": wrong_groups,
                    "upper_bound": round(clopper_pearson_upper(wrong_groups, groups_n), 4),
                }
            )
        out[family] = rows
    return out
