"""Station grading: condition, confidence and CBV disposition from the photos' inspections."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stations.grading import GradingPolicy, grade
from vision.image import QualityReport
from vision.operating import FamilyPoints, OperatingPoints
from vision.predictor import Finding, Inspection

POLICY = GradingPolicy(min_confidence=0.7)
ZERO = {"spoilage": 0.01, "mold": 0.01, "swelling": 0.02, "package_damage": 0.03}


def photo(
    scores: dict[str, float] | None = None, found: tuple[str, ...] = (), ok: bool = True
) -> Inspection:
    s = {**ZERO, **(scores or {})}
    findings = tuple(Finding(label, s[label], (0.0, 0.0, 9.0, 9.0)) for label in found)
    return Inspection(
        "p.jpg",
        "0" * 64,
        100,
        100,
        QualityReport(ok),
        findings,
        {},
        phash=1,
        scores=s if ok else {},
    )


@pytest.mark.parametrize(
    ("kind", "photos", "condition", "disposition", "action"),
    [
        ("produce", [photo()], "fresh", "sellable_accessible", "resell"),
        ("produce", [photo({"spoilage": 0.9}, ("spoilage",))], "spoiled", "destroyed", "scrap"),
        # The worst condition of any photo wins: mold over spoilage.
        (
            "produce",
            [photo({"spoilage": 0.9}, ("spoilage",)), photo({"mold": 0.8}, ("mold",))],
            "moldy",
            "destroyed",
            "scrap",
        ),
        ("package", [photo()], "intact", "sellable_accessible", "resell"),
        (
            "package",
            [photo({"package_damage": 0.85}, ("package_damage",))],
            "damaged",
            "damaged",
            "rework",
        ),
        (
            "package",
            [photo({"package_damage": 0.85, "swelling": 0.9}, ("package_damage", "swelling"))],
            "swollen",
            "destroyed",
            "scrap",
        ),
    ],
)
def test_condition_and_disposition(
    kind: str, photos: list[Inspection], condition: str, disposition: str, action: str
) -> None:
    g = grade(kind, photos, POLICY)  # type: ignore[arg-type]
    assert (g.condition, g.disposition, g.action, g.manual) == (
        condition,
        disposition,
        action,
        False,
    )


def test_clean_is_as_sure_as_the_model_is_that_nothing_is_there() -> None:
    g = grade("package", [photo({"package_damage": 0.2})], POLICY)
    assert g.condition == "intact" and g.confidence == pytest.approx(0.8)
    # A package's clean grade ignores produce labels, and the other way round.
    assert grade("produce", [photo({"package_damage": 0.6})], POLICY).confidence == pytest.approx(
        0.99
    )


def test_unsure_items_go_to_a_person() -> None:
    g = grade("package", [photo({"package_damage": 0.45})], POLICY)
    assert (g.condition, g.action, g.manual) == ("intact", "manual", True)
    assert "below 0.70" in g.reason
    found_weakly = grade("produce", [photo({"spoilage": 0.6}, ("spoilage",))], POLICY)
    assert found_weakly.manual and found_weakly.condition == "spoiled"


def test_no_judgeable_photo_is_a_manual_grade() -> None:
    g = grade("produce", [photo(ok=False)], POLICY)
    assert (g.condition, g.manual, g.confidence) == ("unknown", True, 0.0)


# Issue 25: the model decides alone only at or above its family's operating point.
POINTS = OperatingPoints(
    {
        "produce": FamilyPoints(min_confidence={"clean": 0.9, "defect": 0.95}),
        "parcel": FamilyPoints(min_confidence={"clean": 0.97, "defect": 0.93}),
        "can": FamilyPoints(min_confidence={"defect": 0.8}),  # clean cans: never alone
        # pouch: no operating point at all
    },
    source="test",
)


def judged(points: OperatingPoints, scores: dict[str, float]) -> Inspection:
    """A photo as the predictor would return it: findings at 0.5, decisions per family."""
    s = {**ZERO, **scores}
    found = tuple(label for label, v in s.items() if v >= 0.5)
    return replace(photo(s, found), decisions=points.decisions(found=set(found), scores=s))


@pytest.mark.parametrize("family", ["parcel", "can", "pouch", None])
@pytest.mark.parametrize("damage", [0.0, 0.05, 0.2, 0.45, 0.6, 0.786, 0.9, 0.93, 0.99, 1.0])
def test_a_station_never_auto_grades_a_package_below_its_familys_operating_point(
    family: str | None, damage: float
) -> None:
    item = judged(POINTS, {"package_damage": damage})
    g = grade("package", [item], GradingPolicy(min_confidence=0.0), family=family)
    held_to = (family,) if family else ("parcel", "can", "pouch")
    for f in held_to:
        d = item.decisions[f]
        floor = POINTS.families.get(f, FamilyPoints()).min_confidence.get(d.decision)
        if floor is None or d.confidence < floor:
            assert g.manual and g.action == "manual", (f, d)
    if not g.manual:
        # Decided alone: every family it is held to had a point, and the photo passed it.
        assert all(item.decisions[f].alone for f in held_to)


def test_the_damaged_box_graded_intact_at_0786_now_goes_to_a_person() -> None:
    # Before: confidence >= 0.7 whatever the family sent it to resell.
    box = judged(POINTS, {"package_damage": 0.214})  # clean at 1 - 0.214 = 0.786
    g = grade("package", [box], POLICY, family="parcel")
    assert (g.condition, g.action, g.manual) == ("intact", "manual", True)
    assert "below its operating point 0.97" in g.reason
    sure = grade("package", [judged(POINTS, {"package_damage": 0.01})], POLICY, family="parcel")
    assert (sure.condition, sure.action, sure.manual) == ("intact", "resell", False)


def test_a_family_without_an_operating_point_is_never_decided_alone() -> None:
    for scores in ({"package_damage": 0.0}, {"package_damage": 1.0}, {"swelling": 1.0}):
        g = grade("package", [judged(POINTS, scores)], POLICY, family="pouch")
        assert g.manual and "no operating point for pouch" in g.reason
    # A package whose family is not named is held to every package family, pouch included.
    assert grade("package", [judged(POINTS, {"package_damage": 0.0})], POLICY).manual


def test_a_release_without_operating_points_decides_nothing_alone() -> None:
    none = OperatingPoints()
    for scores in ({}, {"spoilage": 0.99}, {"mold": 1.0}):
        assert grade("produce", [judged(none, scores)], POLICY).manual


def test_every_photo_of_an_item_must_be_decided_alone() -> None:
    sure, unsure = judged(POINTS, {"spoilage": 0.01}), judged(POINTS, {"spoilage": 0.2})
    assert not grade("produce", [sure], POLICY).manual
    assert grade("produce", [sure, unsure], POLICY).manual


def test_the_policys_floor_still_applies_above_an_operating_point() -> None:
    low = OperatingPoints({"produce": FamilyPoints(min_confidence={"defect": 0.5})})
    g = grade("produce", [judged(low, {"spoilage": 0.6})], GradingPolicy(min_confidence=0.7))
    assert g.manual and "below 0.70" in g.reason


def test_a_family_must_fit_the_kind() -> None:
    with pytest.raises(ValueError, match="not one of"):
        grade("produce", [photo()], POLICY, family="can")
