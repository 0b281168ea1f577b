"""Returned items graded at a station are evidence about those items, never a handover record
(GUIDE §4 rule 4): mixed return grades must not turn a settled verdict into a conflict.

The lot's records and the station's grades go through the real capture path (EPCIS parse,
ledger, projections, the timeline built from the log); only the verdict rules are called.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claims.profiles import DEFAULT_PROFILES
from claims.responsibility import ClaimFacts, decide
from claims.segments import Party
from claims.timeline import build_timeline
from ledger.log import Ledger
from stations.batches import Station, epcis_document, inspection_event
from stations.grading import Grade
from storage.db import make_engine
from storage.schema import metadata
from supplychain.capture import capture_events, register_party
from supplychain.epcis import parse_document
from tests.epcis_events import document, lot_event

LOT = "urn:epc:class:lgtin:4012345.012345.RET1"
FARM, TRUCK, DC = (f"urn:epc:id:pgln:40{n}.00000" for n in (11111, 22222, 33333))
T0 = datetime(2026, 5, 1, 6, tzinfo=UTC)
DELIVERED = T0 + timedelta(hours=12)
STATION = Station("DOCK-3", "urn:epc:id:sgln:4000002.00007.0", "key:dock3 (station)")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = make_engine(f"sqlite:///{tmp_path / 'returns.db'}")
    metadata.create_all(engine)
    ledger = Ledger(engine)
    for pid, role in ((FARM, "supplier"), (TRUCK, "carrier"), (DC, "warehouse")):
        register_party(ledger=ledger, party_id=pid, role=role, name=role)
    yield ledger
    engine.dispose()


def _event(at: datetime, step: str, **kw: Any) -> dict[str, Any]:
    return lot_event(LOT, at, step, **kw)


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return document(*events)


def _capture_chain(ledger: Ledger, *, dc_temps: tuple[float, ...]) -> None:
    """Farm → truck → DC → (last mile by the truck) → customer, inspected clean at the DC
    on arrival and at dispatch."""
    h = lambda n: T0 + timedelta(hours=n)  # noqa: E731
    events = [
        _event(h(0), "packing", src=FARM, temps=(3,) * 5),
        _event(h(2), "shipping", src=FARM, dst=TRUCK),
        _event(h(2.05), "receiving", src=FARM, dst=TRUCK),
        _event(h(2.1), "transporting", src=TRUCK, temps=(4,) * 5),
        _event(h(5), "shipping", src=TRUCK, dst=DC),
        _event(h(5.05), "receiving", src=TRUCK, dst=DC),
        _event(h(5.3), "inspecting", src=DC, disposition="sellable_accessible"),
        _event(h(5.5), "storing", src=DC, temps=dc_temps),
        _event(h(9.95), "inspecting", src=DC, disposition="sellable_accessible"),
        _event(h(10), "shipping", src=DC, dst=TRUCK),
        _event(h(10.05), "receiving", src=DC, dst=TRUCK),
        _event(h(10.1), "transporting", src=TRUCK, temps=(4,) * 4),
    ]
    capture_events(ledger=ledger, events_in=parse_document(_document(events)))


def _grade_returns(ledger: Ledger, at: datetime, conditions: list[tuple[str, str]]) -> None:
    """A station grades returned items of the lot, one event per item (as stations do)."""
    events = [
        inspection_event(
            uri=f"urn:epc:id:sgtin:4012345.012345.{500 + n}",
            lot=LOT,
            photos=[f"{n:064x}"],
            grade=Grade("produce", condition, 0.97, disposition, "scrap", False, "test"),
            station=STATION,
            now=at + timedelta(minutes=n),
        )
        for n, (condition, disposition) in enumerate(conditions)
    ]
    capture_events(
        ledger=ledger,
        events_in=parse_document(epcis_document(events, at)),
        actor=STATION.actor,
    )


MIXED = [
    ("fresh", "sellable_accessible"),
    ("moldy", "destroyed"),
    ("damaged", "damaged"),
    ("fresh", "sellable_accessible"),
]


def _verdict(ledger: Ledger, *defects: str, photo_hours: float = 2) -> Any:
    timeline = build_timeline(
        ledger=ledger, lot=LOT, delivered_at=DELIVERED, customer=Party("c-1", "customer")
    )
    facts = ClaimFacts(frozenset(defects), DELIVERED + timedelta(hours=photo_hours), DELIVERED, 0.9)
    return decide(timeline=timeline, claim=facts, profile=DEFAULT_PROFILES["chilled_produce"])


def test_mixed_return_grades_leave_a_temperature_verdict_alone(ledger: Ledger) -> None:
    _capture_chain(ledger, dc_temps=(4, 14, 15, 15, 14, 15, 15, 4))
    before = _verdict(ledger, "mold")
    assert (before.responsible_party, before.party_id) == ("warehouse", DC)
    assert before.reasons[0].code == "TEMPERATURE_ABUSE"
    _grade_returns(ledger, DELIVERED + timedelta(minutes=30), MIXED)
    after = _verdict(ledger, "mold")
    assert (after.responsible_party, after.party_id, after.confidence) == (
        "warehouse",
        DC,
        before.confidence,
    )
    assert "CONFLICTING_EVIDENCE" not in [r.code for r in after.reasons]


def test_a_clean_return_never_clears_the_party_that_delivered_damaged(ledger: Ledger) -> None:
    _capture_chain(ledger, dc_temps=(4,) * 8)
    before = _verdict(ledger, "package_damage", photo_hours=1)
    assert (before.responsible_party, before.party_id) == ("carrier", TRUCK)
    # A returned item graded intact after delivery is not "the package was seen intact at
    # delivery": it must not hand the damage to the customer.
    _grade_returns(ledger, DELIVERED + timedelta(minutes=20), MIXED)
    after = _verdict(ledger, "package_damage", photo_hours=1)
    assert (after.responsible_party, after.party_id) == ("carrier", TRUCK)
    assert [r.code for r in after.reasons] == [r.code for r in before.reasons]


def test_returns_with_the_same_latent_defect_support_the_claim(ledger: Ledger) -> None:
    _capture_chain(ledger, dc_temps=(4, 14, 15, 15, 14, 15, 15, 4))
    _grade_returns(ledger, DELIVERED + timedelta(minutes=30), MIXED)
    verdict = _verdict(ledger, "spoilage")
    sources = sorted({e.source for e in verdict.evidence})
    assert sources == ["photo", "return"]
    # Supporting evidence: it neither adds a defect nor lends the return's confidence.
    assert {e.defect for e in verdict.evidence} == {"spoilage"}
    assert verdict.confidence == pytest.approx(0.95 * 0.9, abs=1e-3)
