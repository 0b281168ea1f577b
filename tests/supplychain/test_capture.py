"""Capture, registry and trace on both databases (SQLite and PostgreSQL)."""

import json
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.log import Ledger
from supplychain.authorship import bound_to
from supplychain.capture import capture_events, create_projection_tables, get_party, register_party
from supplychain.epcis import parse_document
from supplychain.trace import UnknownLotError, lot_trace

DATA = Path(__file__).resolve().parent / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"


@pytest.fixture
def captured(ledger: Ledger) -> Ledger:
    create_projection_tables(ledger.engine)
    register_party(
        ledger=ledger, party_id="urn:epc:id:pgln:4023333.00000", role="carrier", name="FastVan"
    )
    return ledger


def test_capture_trace_and_dedupe(captured: Ledger) -> None:
    doc = parse_document(json.loads((DATA / "object_shipping_inspection.json").read_text()))
    first = capture_events(ledger=captured, events_in=doc)
    second = capture_events(ledger=captured, events_in=doc)
    assert len(first.appended) == 2 and first.duplicates == ()
    assert second.appended == () and len(second.duplicates) == 2
    # A duplicate names the entry its event already has: a retry can assess its lots again.
    assert second.duplicates == first.appended and second.indices == first.indices == [1, 2]
    assert captured.size() == 3  # the party and two events
    trace = lot_trace(ledger=captured, lot=LOT)
    assert [e["ledger_index"] for e in trace["events"]] == [1, 2]
    assert trace["custody"][0]["id"] == "urn:epc:id:pgln:4012345.00000"
    assert trace["events"][0]["custody"]["to"]["role"] == "carrier"
    assert get_party(captured.engine, "urn:epc:id:pgln:4023333.00000").name == "FastVan"
    assert audit(captured).size == 3


def test_duplicate_inside_one_document_counts_once(captured: Ledger) -> None:
    raw = json.loads((DATA / "object_shipping_inspection.json").read_text())
    raw["epcisBody"]["eventList"].append(dict(raw["epcisBody"]["eventList"][0]))
    result = capture_events(ledger=captured, events_in=parse_document(raw))
    assert len(result.appended) == 2 and len(result.duplicates) == 1
    assert result.duplicates[0] == result.appended[0]  # the repeat is the entry just made


SUPPLIER, RETAILER = "urn:epc:id:pgln:4012345.00000", "urn:epc:id:pgln:4000001.00000"


def test_an_event_is_captured_for_the_parties_that_took_part_in_it(captured: Ledger) -> None:
    """The supplier's shipment of a new lot, by a key speaking for it and a retailer."""
    raw = json.loads((DATA / "object_shipping_inspection.json").read_text())
    del raw["epcisBody"]["eventList"][1]
    doc = parse_document(raw)
    mine = [RETAILER, SUPPLIER]
    bound = capture_events(ledger=captured, events_in=doc, speaks_for=mine, check=bound_to(mine))
    ((_, index),) = bound.appended
    assert captured.entry(index).body["captured_for"] == [SUPPLIER]
    # A check that decides nothing about an event leaves it captured for every party.
    raw["epcisBody"]["eventList"][0]["eventTime"] = "2024-05-02T06:16:00.000+02:00"
    unsure = capture_events(
        ledger=captured, events_in=parse_document(raw), speaks_for=mine, check=lambda c, e: ()
    )
    assert captured.entry(unsure.appended[0][1]).body["captured_for"] == mine


def test_without_a_check_an_event_is_captured_for_every_party_named(captured: Ledger) -> None:
    """The operator's own code vouches for the parties it names (no rule ran)."""
    doc = parse_document(json.loads((DATA / "object_shipping_inspection.json").read_text()))
    result = capture_events(ledger=captured, events_in=doc, speaks_for=[SUPPLIER, RETAILER])
    bodies = [captured.entry(i).body for _, i in result.appended]
    assert [b["captured_for"] for b in bodies] == [[RETAILER, SUPPLIER]] * 2


def test_unknown_lot(captured: Ledger) -> None:
    with pytest.raises(UnknownLotError):
        lot_trace(ledger=captured, lot="NOPE")


def test_trace_by_epc(captured: Ledger) -> None:
    doc = parse_document(json.loads((DATA / "object_shipping_inspection.json").read_text()))
    capture_events(ledger=captured, events_in=doc)
    by_epc = lot_trace(ledger=captured, lot="urn:epc:id:sscc:4012345.0000000017")
    by_lot = lot_trace(ledger=captured, lot=LOT)
    assert [e["ledger_index"] for e in by_epc["events"]] == [
        e["ledger_index"] for e in by_lot["events"]
    ]
