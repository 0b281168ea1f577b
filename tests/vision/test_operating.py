"""Operating points: read from the manifest, conservative without them, one decision per family."""

from __future__ import annotations

import pytest

from vision.errors import ModelError
from vision.labels import LABELS
from vision.operating import (
    FamilyPoints,
    OperatingPoints,
    PhotoDecision,
    decide,
    parse_operating_points,
)

ZERO = dict.fromkeys(LABELS, 0.0)


def test_a_manifest_without_operating_points_decides_nothing_alone() -> None:
    points = parse_operating_points(None, LABELS, version="0.2.1")
    assert "0.2.1 states no operating points" in points.source
    for d in points.decisions(found=set(), scores=ZERO).values():
        assert d.confidence == 1.0 and not d.alone and d.min_confidence is None


def test_points_are_read_per_family_and_decision() -> None:
    block = {
        "schema": 1,
        "max_error": 0.02,
        "families": {
            "produce": {
                "calibration": {"spoilage": {"a": 1.0, "b": 0.0}},
                "decisions": {"clean": {"min_confidence": 0.9}, "defect": {"min_confidence": None}},
            }
        },
    }
    points = parse_operating_points(block, LABELS, version="9")
    assert points.families["produce"].min_confidence == {"clean": 0.9}
    decisions = points.decisions(found={"spoilage"}, scores={**ZERO, "spoilage": 0.99})
    assert decisions["produce"].decision == "defect" and not decisions["produce"].alone
    assert decisions["parcel"].decision == "clean" and not decisions["parcel"].alone
    clean = points.decisions(found=set(), scores={**ZERO, "spoilage": 0.05})["produce"]
    assert clean.alone and clean.confidence == pytest.approx(0.95)


@pytest.mark.parametrize(
    "block",
    [
        {"schema": 2, "families": {}},
        {"schema": 1, "families": {"bread": {}}},
        {"schema": 1, "families": {"can": {"decisions": {"maybe": {"min_confidence": 0.5}}}}},
        {"schema": 1, "families": {"can": {"decisions": {"clean": {"min_confidence": 1.5}}}}},
        {"schema": 1, "families": {"can": {"calibration": {"mold": {"a": -1, "b": 0}}}}},
        "yes",
    ],
)
def test_malformed_or_newer_blocks_are_refused(block: object) -> None:
    with pytest.raises(ModelError):
        parse_operating_points(block, LABELS, version="9")


def test_the_worst_label_found_decides_and_family_calibration_applies() -> None:
    points = FamilyPoints(calibration={})
    label, conf = decide(
        "produce",
        found={"spoilage", "mold"},
        scores=[{"spoilage": 0.9, "mold": 0.6}],
        points=points,
    )
    assert (label, conf) == ("mold", 0.6)
    # Several photos: the item's clean confidence is its least clean photo's.
    label, conf = decide(
        "can", found=set(), scores=[{"package_damage": 0.1}, {"swelling": 0.3}], points=points
    )
    assert label is None and conf == pytest.approx(0.7)


def test_a_photo_decision_survives_its_json_form() -> None:
    d = PhotoDecision("parcel", "clean", None, 0.786, 0.97)
    back = PhotoDecision.from_dict("parcel", d.as_dict())
    assert back == d and not back.alone and d.as_dict()["alone"] is False
    assert OperatingPoints().families == {}
