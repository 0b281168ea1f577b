"""One custody rule: the pure derivation, and the trace and the claims timeline agreeing on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claims.custody import Party
from claims.timeline import build_timeline
from ledger.capture import capture_events, create_projection_tables, register_party
from ledger.custody import LotEvent, custody
from ledger.epcis import parse_document
from ledger.log import Ledger
from ledger.trace import lot_trace

DATA = Path(__file__).resolve().parent / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
SUPPLIER, CARRIER = "urn:epc:id:pgln:4012345.00000", "urn:epc:id:pgln:4023333.00000"
DC_ID = "urn:epc:id:pgln:4000001.00000"

T0 = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
FARM, TRUCK, DC = "urn:epc:id:pgln:1.0", "urn:epc:id:pgln:2.0", "urn:epc:id:pgln:3.0"


def _e(i: int, hours: float, step: str, src: str | None = None, dst: str | None = None) -> LotEvent:
    return LotEvent(
        index=i,
        leaf_hash=f"{i:064x}",
        hash_id=f"h{i}",
        event_type="ObjectEvent",
        time=T0 + timedelta(hours=hours),
        biz_step=step,
        disposition=None,
        read_point=None,
        source=src,
        destination=dst,
    )


def test_the_first_party_named_holds_then_each_new_destination_takes_over() -> None:
    chain = custody(
        [
            _e(0, 0, "packing"),  # names nobody: custody not yet known
            _e(1, 1, "shipping", FARM, TRUCK),
            _e(2, 3, "receiving", TRUCK, TRUCK),  # the holder again: no change
            _e(3, 5, "shipping", TRUCK, DC),
            _e(4, 5.5, "receiving", TRUCK, DC),
            _e(5, 6, "inspecting", DC),
        ]
    )
    assert [(h.holder, h.index) for h in chain] == [(FARM, 1), (TRUCK, 1), (DC, 3)]
    assert chain[0].since == chain[1].since == T0 + timedelta(hours=1)


def test_a_receipt_without_a_shipment_still_passes_custody() -> None:
    chain = custody([_e(0, 0, "shipping", FARM), _e(1, 2, "receiving", FARM, DC)])
    assert [h.holder for h in chain] == [FARM, DC]


def test_nothing_after_until_is_read() -> None:
    events = [_e(0, 0, "shipping", FARM, TRUCK), _e(1, 4, "shipping", TRUCK, DC)]
    assert [h.holder for h in custody(events, until=T0 + timedelta(hours=4))] == [FARM, TRUCK]
    assert custody([], until=T0) == ()


def test_trace_and_timeline_name_the_same_custodians(ledger: Ledger) -> None:
    """Before one rule, the trace passed custody on receipt only and the timeline on any new
    destination, so a shipped-but-not-received lot showed different holders."""
    create_projection_tables(ledger.engine)
    register_party(ledger=ledger, party_id=CARRIER, role="carrier", name="FastVan")
    doc = parse_document(json.loads((DATA / "object_shipping_inspection.json").read_text()))
    capture_events(ledger=ledger, events_in=doc)
    trace = lot_trace(ledger=ledger, lot=LOT)
    timeline = build_timeline(
        ledger=ledger,
        lot=LOT,
        delivered_at=datetime(2030, 1, 1, tzinfo=UTC),
        customer=Party("c", "customer"),
    )
    held = [s.custodian.id for s in timeline.segments if s.custodian.role != "customer"]
    assert [c["id"] for c in trace["custody"]] == held == [SUPPLIER, CARRIER, DC_ID]
    roles = [s.custodian.role for s in timeline.segments]
    assert roles == ["unregistered", "carrier", "unregistered", "customer"]
