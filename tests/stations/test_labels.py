"""A station item whose printed label reads another lot than its tag's goes to a person."""

from __future__ import annotations

from typing import Any

from api.services import Services
from stations.batches import ItemInput, grade_batch
from stations.grading import Grade, GradingPolicy, other_lot
from tests.stations.test_batches import ITEM_A, ITEM_B, NOW, PHOTOS, STATION, PhotoScores
from tests.stations.test_batches import services as services  # the fixture, re-exported
from vision.label_text import LabelRead, LabelReading, Unreadable

GRADE = Grade("package", "intact", 0.98, "sellable_accessible", "resell", False, "no defect found")


def _label(lot: str) -> LabelRead:
    return LabelRead(lot, (), 0.97, 0.97, engine="rapidocr 3.10.0")


class FixedLabels:
    """A test double for the label reader: each photo's read is given."""

    def __init__(self, reads: dict[bytes, LabelReading]) -> None:
        self.reads = reads

    def read(self, data: bytes) -> LabelReading:
        return self.reads.get(data, Unreadable("no label"))


def test_another_lot_on_the_label_leaves_the_grade_to_a_person() -> None:
    graded, note = other_lot(GRADE, lot="RET-7", labels=[Unreadable("glare"), _label("RET-8")])
    assert graded.manual and graded.action == "manual"
    assert (graded.condition, graded.disposition) == ("intact", "sellable_accessible")
    assert note == "the label reads lot 'RET-8', not the item's lot 'RET-7': a person grades it"
    assert graded.reason.endswith(note)


def test_the_items_own_lot_or_no_read_keeps_the_grade() -> None:
    assert other_lot(GRADE, lot="RET-7", labels=[_label("ret7")])[0] == GRADE
    assert other_lot(GRADE, lot="RET-7", labels=[Unreadable("blur")]) == (GRADE, None)
    # The ledger knows no lot for the tag: nothing to compare; the read is noted.
    kept, note = other_lot(GRADE, lot=None, labels=[_label("RET-8")])
    assert kept == GRADE and note is not None and "knows no lot" in note


def _run(services: Services, reads: dict[bytes, LabelReading]) -> Any:
    return grade_batch(
        ledger=services.ledger,
        store=services.evidence,
        inspector=PhotoScores(),
        station=STATION,
        batch_id="labels-1",
        items=[
            ItemInput(ITEM_A, "package", (("a.jpg", PHOTOS["fresh"]),)),
            ItemInput(ITEM_B, "package", (("b.jpg", PHOTOS["fresh2"]),)),
        ],
        policy=GradingPolicy(min_confidence=0.7),
        now=NOW,
        label_reader=FixedLabels(reads),
    )


def test_a_batch_item_labelled_with_another_lot_waits_for_a_person(services: Services) -> None:
    size = services.ledger.size()
    result = _run(services, {PHOTOS["fresh"]: _label("RET-7"), PHOTOS["fresh2"]: _label("RET-9")})
    same, other = result.items
    assert same["grade"]["action"] == "resell" and same["ledger_index"] is not None
    assert "the item's lot" in same["notes"][-1]
    assert other["grade"]["manual"] and other["ledger_index"] is None
    assert "reads lot 'RET-9', not the item's lot 'RET-7'" in other["notes"][-1]
    assert result.counts == {"items": 2, "graded": 1, "manual": 1, "failed": 0}
    # No grade event is written for the item whose lot is in doubt.
    assert services.ledger.size() == size + 1
