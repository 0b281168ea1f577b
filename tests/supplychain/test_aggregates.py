"""Aggregate sensor reports (min/max/mean over a period) keep all their numbers (GUIDE §4 rule 5).

The README's example reports min 2.1 / max 9.8 / mean 5.2 °C over the carrier's leg; before,
the parser kept no period, the entry's view and the trace one 5.2 °C point.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from claims.segments import Party
from claims.timeline import build_timeline
from ledger.log import Ledger
from supplychain.capture import (
    _index,
    capture_events,
    create_projection_tables,
    event_view,
    register_party,
)
from supplychain.custody import AggregateReading, lot_events
from supplychain.epcis import CaptureEvent, EPCISDocumentError, parse_document
from supplychain.trace import lot_trace

DATA = Path(__file__).resolve().parent / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
CARRIER, DC = "urn:epc:id:pgln:4023333.00000", "urn:epc:id:pgln:4000001.00000"
LEG = (datetime(2024, 5, 2, 4, 15, tzinfo=UTC), datetime(2024, 5, 2, 7, 30, tzinfo=UTC))


def _doc() -> dict[str, Any]:
    return dict(json.loads((DATA / "object_shipping_inspection.json").read_text()))


def test_an_aggregate_report_keeps_min_max_mean_and_its_period() -> None:
    *points, summary = parse_document(_doc()).events[1].temperatures
    assert summary.aggregate and not any(p.aggregate for p in points)
    assert (summary.min_celsius, summary.max_celsius, summary.mean_celsius) == (2.1, 9.8, 5.2)
    # The sensor metadata's startTime/endTime, in UTC: the carrier's leg.
    assert (summary.start, summary.end) == LEG
    assert summary.original_values == (("minValue", 2.1), ("maxValue", 9.8), ("meanValue", 5.2))
    assert all(p.start is None and p.end is None for p in points)


def test_without_a_period_an_aggregate_covers_the_moment_reported() -> None:
    doc = _doc()
    element = doc["epcisBody"]["eventList"][1]["sensorElementList"][1]
    element["sensorMetadata"] = {"deviceID": "urn:epc:id:giai:4000001.LOGGER7"}
    summary = parse_document(doc).events[1].temperatures[-1]
    event_time = datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    assert summary.aggregate and summary.start == summary.end == event_time


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    doc = _doc()
    meta = doc["epcisBody"]["eventList"][1]["sensorElementList"][1]["sensorMetadata"]
    meta["startTime"], meta["endTime"] = meta["endTime"], meta["startTime"]
    with pytest.raises(EPCISDocumentError) as caught:
        parse_document(doc)
    assert [(e.field, e.reason) for e in caught.value.errors] == [
        ("eventList[1].sensorElementList[1].sensorMetadata.endTime", "before startTime")
    ]


def test_the_event_hash_is_the_same_as_before_aggregates_were_kept() -> None:
    """The CBV 2.0 hash reads the raw event: keeping more of a report changes no hash id."""
    events = parse_document(_doc()).events
    assert [e.hash_id for e in events] == [
        "ni:///sha-256;f688304d90ffefbdad880f1cb6c676023dedf3894e15aea59d29a4384513096e?ver=CBV2.0",
        "ni:///sha-256;47ed1ebf078663c6b97baa3c1f5ce19ab448195f6e1d1afbb85a840b7bd6646c?ver=CBV2.0",
    ]


def _captured(ledger: Ledger) -> None:
    create_projection_tables(ledger.engine)
    register_party(ledger=ledger, party_id=CARRIER, role="carrier", name="FastVan")
    register_party(ledger=ledger, party_id=DC, role="warehouse", name="DC")
    capture_events(ledger=ledger, events_in=parse_document(_doc()))


def test_the_entry_and_the_lot_events_keep_the_aggregate_apart_from_points(
    ledger: Ledger,
) -> None:
    _captured(ledger)
    _, inspection = lot_events(ledger=ledger, lot=LOT)
    assert [r.celsius for r in inspection.readings] == [4.5, 5.0, 5.0]  # no 5.2 °C point
    assert inspection.aggregates == (
        AggregateReading(
            datetime(2024, 5, 2, 7, 30, tzinfo=UTC),
            *LEG,
            2.1,
            9.8,
            5.2,
            (("minValue", 2.1), ("maxValue", 9.8), ("meanValue", 5.2)),
            "CEL",
            "urn:epc:id:giai:4000001.LOGGER7",
        ),
    )
    view = ledger.entry(inspection.index).body["view"]
    assert view["view_version"] == 3
    assert [t["max_celsius"] for t in view["temperature_aggregates"]] == [9.8]


def _v2_view(event: CaptureEvent) -> dict[str, Any]:
    """The view as version 2 wrote it: every temperature report a point at its basis."""
    view = event_view(event)
    view["view_version"] = 2
    view.pop("temperature_aggregates")
    view["temperatures"] = [
        {
            "time": t.time.isoformat().replace("+00:00", "Z"),
            "celsius": round(t.celsius, 4),
            "value": t.original_value,
            "uom": t.original_uom,
            "device_id": t.device_id,
        }
        for t in event.temperatures
    ]
    return view


def test_an_entry_written_before_view_version_3_loads_with_its_aggregate(ledger: Ledger) -> None:
    """A version-2 entry held the report as a 5.2 °C point; it is read again from the raw event."""
    create_projection_tables(ledger.engine)
    event = parse_document(_doc()).events[1]
    body = {
        "captured_by": None,
        "hash_id": event.hash_id,
        "declared_id": event.declared_id,
        "event": event.raw,
        "view": _v2_view(event),
    }
    with ledger.writer() as w:
        (entry,) = w.append_many([("epcis.event", body)])
        _index(w.conn, [event], [entry.index])
    assert [t["celsius"] for t in ledger.entry(entry.index).body["view"]["temperatures"]] == [
        4.5,
        5.0,
        5.0,
        5.2,
    ]
    (found,) = lot_events(ledger=ledger, lot=LOT)
    assert [r.celsius for r in found.readings] == [4.5, 5.0, 5.0]
    assert [(a.start, a.end, a.max_celsius) for a in found.aggregates] == [(*LEG, 9.8)]


def test_the_trace_says_point_or_aggregate_with_all_numbers_and_the_period(
    ledger: Ledger,
) -> None:
    _captured(ledger)
    trace = lot_trace(ledger=ledger, lot=LOT)
    temps = trace["events"][1]["temperatures"]
    assert [t["kind"] for t in temps] == ["point", "point", "point", "aggregate"]
    summary = temps[-1]
    assert (summary["min_celsius"], summary["max_celsius"], summary["mean_celsius"]) == (
        2.1,
        9.8,
        5.2,
    )
    assert summary["period"] == {"start": "2024-05-02T04:15:00Z", "end": "2024-05-02T07:30:00Z"}
    assert summary["values"] == {"minValue": 2.1, "maxValue": 9.8, "meanValue": 5.2}
    assert (trace["temperature_readings"], trace["temperature_aggregates"]) == (4, 1)


def test_the_timeline_gives_the_aggregate_to_the_holder_of_its_period(ledger: Ledger) -> None:
    _captured(ledger)
    timeline = build_timeline(
        ledger=ledger,
        lot=LOT,
        delivered_at=datetime(2024, 5, 2, 8, 30, tzinfo=UTC),
        customer=Party("c", "customer"),
    )
    by_role = {s.custodian.role: s for s in timeline.segments}
    carrier, dc = by_role["carrier"], by_role["warehouse"]
    # The report is stamped at the handover minute, but its period is the carrier's leg.
    assert [(a.t_min, a.t_max, a.t_mean) for a in carrier.aggregates] == [(2.1, 9.8, 5.2)]
    assert carrier.aggregate_refs[0] in carrier.refs
    assert dc.aggregates == () and 5.2 not in [r.celsius for r in dc.readings]
