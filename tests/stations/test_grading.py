"""Station grading: condition, confidence and CBV disposition from the photos' inspections."""

from __future__ import annotations

import pytest

from stations.grading import GradingPolicy, grade
from vision.image import QualityReport
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
