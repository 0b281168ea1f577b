"""One custody rule: the pure derivation, and the trace and the claims timeline agreeing on it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from claims.segments import Party
from claims.timeline import build_timeline
from ledger.log import Ledger
from supplychain.capture import capture_events, create_projection_tables, register_party
from supplychain.custody import LotEvent, _use_by, custody
from supplychain.epcis import parse_document
from supplychain.epcis.build import (
    ZULU,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    epcis_document,
)
from supplychain.trace import lot_trace

DATA = Path(__file__).resolve().parent / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
SUPPLIER, CARRIER = "urn:epc:id:pgln:4012345.00000", "urn:epc:id:pgln:4023333.00000"
DC_ID = "urn:epc:id:pgln:4000001.00000"

T0 = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
# Registered below: PGLNs in full (GS1 TDS: company prefix and reference, 12 digits).
FARM, TRUCK, DC = (f"urn:epc:id:pgln:40000{n}.00000" for n in (21, 22, 23))


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
            _e(2, 1.25, "receiving", TRUCK, TRUCK),  # the holder again: no change
            _e(3, 5, "shipping", TRUCK, DC),
            _e(4, 5.5, "receiving", TRUCK, DC),
            _e(5, 6, "inspecting", DC),
        ]
    )
    assert [(h.holder, h.index) for h in chain] == [(FARM, 1), (TRUCK, 1), (DC, 3)]
    assert chain[0].since == chain[1].since == T0 + timedelta(hours=1)


def test_a_shipment_naming_no_receiver_leaves_nobody_on_record_until_a_receipt() -> None:
    chain = custody([_e(0, 0, "shipping", FARM), _e(1, 2, "receiving", FARM, DC)])
    assert [(h.holder, h.index) for h in chain] == [(FARM, 0), (None, 0), (DC, 1)]


def test_a_receipt_long_after_the_shipment_leaves_nobody_on_record_in_between() -> None:
    chain = custody(
        [
            _e(0, 0, "packing", FARM),
            _e(1, 1, "shipping", FARM, TRUCK),
            _e(2, 5, "receiving", FARM, TRUCK),  # four hours later: who had it meanwhile?
            _e(3, 6, "shipping", TRUCK, DC),  # never received: the named receiver holds it
        ]
    )
    assert [(h.holder, h.index) for h in chain] == [(FARM, 0), (None, 1), (TRUCK, 2), (DC, 3)]


def test_a_receipt_without_a_shipment_still_passes_custody() -> None:
    chain = custody([_e(0, 0, "packing", FARM), _e(1, 2, "receiving", FARM, DC)])
    assert [h.holder for h in chain] == [FARM, DC]
    # A shipment that names neither sender nor receiver says nothing about custody.
    chain = custody(
        [_e(0, 0, "packing", FARM), _e(1, 1, "shipping"), _e(2, 2, "receiving", FARM, DC)]
    )
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


def _event(
    at: datetime,
    step: str,
    *,
    src: str | None = None,
    dst: str | None = None,
    disposition: str | None = None,
    temps: tuple[float, ...] = (),
    shock: float | None = None,
) -> ObjectEvent:
    reports = [
        SensorReport("gs1:Temperature", value=c, uom="CEL", time=at + timedelta(minutes=15 * i))
        for i, c in enumerate(temps)
    ]
    if shock is not None:
        reports.append(SensorReport("gs1:Acceleration", max_value=shock, uom="MSK"))
    return ObjectEvent(
        event_time=at,
        biz_step=step,
        disposition=disposition,
        quantities=(Quantity(LOT, 5, "KGM"),),
        sources=(SourceDestination(src),) if src else (),
        destinations=(SourceDestination(dst),) if dst else (),
        sensors=(SensorElement(tuple(reports)),) if reports else (),
    )


def test_the_timeline_marks_receipt_and_dispatch_inspections_and_carries_shocks(
    ledger: Ledger,
) -> None:
    create_projection_tables(ledger.engine)
    for pid, role in ((FARM, "supplier"), (TRUCK, "carrier"), (DC, "warehouse")):
        register_party(ledger=ledger, party_id=pid, role=role, name=role)
    t = T0
    events = [
        _event(t, "packing", src=FARM, temps=(3, 3, 3, 3, 3)),
        _event(
            t + timedelta(minutes=55), "inspecting", src=FARM, disposition="sellable_accessible"
        ),
        _event(t + timedelta(hours=1), "shipping", src=FARM, dst=TRUCK),
        _event(t + timedelta(hours=1, minutes=5), "receiving", src=FARM, dst=TRUCK),
        _event(t + timedelta(hours=2), "transporting", src=TRUCK, temps=(4, 4), shock=250.0),
        _event(t + timedelta(hours=3), "shipping", src=TRUCK, dst=DC),
        _event(t + timedelta(hours=3, minutes=4), "receiving", src=TRUCK, dst=DC),
        _event(t + timedelta(hours=3, minutes=20), "inspecting", src=DC, disposition="damaged"),
        _event(t + timedelta(hours=5), "shipping", src=DC),  # to nobody named
    ]
    doc = epcis_document(events, creation_date=datetime(2024, 5, 2, tzinfo=UTC), times=ZULU)
    capture_events(ledger=ledger, events_in=parse_document(doc))
    timeline = build_timeline(
        ledger=ledger, lot=LOT, delivered_at=t + timedelta(hours=8), customer=Party("c", "customer")
    )
    holders = [(s.custodian.role, s.start - t) for s in timeline.segments]
    assert holders == [
        ("supplier", timedelta(0)),
        ("carrier", timedelta(hours=1)),
        ("warehouse", timedelta(hours=3)),
        ("unrecorded", timedelta(hours=5)),  # shipped to nobody named: a custody gap
        ("customer", timedelta(hours=8)),
    ]
    farm, truck, dc, nobody, _ = timeline.segments
    assert not nobody.recorded and dc.recorded
    assert [x.mps2 for x in truck.shocks] == [250.0] and farm.shocks == ()
    # The reading at the handover minute belongs to the next holder.
    assert len(farm.readings) == len(farm.reading_refs) == 4
    dispatch, arrival = timeline.observations
    # The farm's check five minutes before it shipped: the condition at dispatch.
    assert (dispatch.until_dispatch, dispatch.handed_over) == (
        timedelta(minutes=5),
        t + timedelta(hours=1),
    )
    # The DC's check 16 minutes after its receipt: the condition on arrival from the truck.
    assert arrival.defects == {"package_damage"}
    assert arrival.since_receipt == timedelta(minutes=16)
    assert arrival.taken_over == t + timedelta(hours=3)
    assert arrival.delivered_by is not None and arrival.delivered_by.id == TRUCK
    trace = lot_trace(ledger=ledger, lot=LOT)
    assert [c["id"] for c in trace["custody"]] == [FARM, TRUCK, DC, None]


@pytest.mark.parametrize(
    ("ilmd", "expected"),
    [
        ({"cbvmda:itemExpirationDate": "2026-12-10"}, date(2026, 12, 10)),
        ({"urn:epcglobal:cbv:mda#itemExpirationDate": "2026-12-10"}, date(2026, 12, 10)),
        (
            {"https://ref.gs1.org/cbv/itemExpirationDate": "2026-12-10T00:00:00Z"},
            date(2026, 12, 10),
        ),
        ({"cbvmda:useByDate": "2026-12-11"}, date(2026, 12, 11)),
        ({"cbvmda:bestBeforeDate": "2026-12-10"}, None),  # quality, not safety
        ({"cbvmda:itemExpirationDate": "10/12/2026"}, None),  # not an xsd:date
        ({"cbvmda:itemExpirationDate": 20261210}, None),
        ("not an object", None),
    ],
)
def test_the_use_by_an_events_ilmd_records(ilmd: object, expected: date | None) -> None:
    assert _use_by({"ilmd": ilmd}) == expected
