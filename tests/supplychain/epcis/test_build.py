"""The one EPCIS event builder: what it writes is what the parser reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from supplychain.epcis import event_hash_id, parse_document
from supplychain.epcis.build import (
    EPCIS_CONTEXT,
    ISO,
    ZULU,
    ZULU_MILLIS,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    TimeFormat,
    epcis_document,
)

AT = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
LOT = "urn:epc:class:lgtin:4012345.012345.L1"
FARM, TRUCK = "urn:epc:id:pgln:4000001.00000", "urn:epc:id:pgln:4000011.00000"
FP = {"fp": "https://freshproof.dev/epcis/"}


def _full() -> ObjectEvent:
    """Every field the builder knows, with a point reading, an aggregate and a shock."""
    return ObjectEvent(
        event_time=AT,
        biz_step="shipping",
        disposition="in_transit",
        epcs=("urn:epc:id:sgtin:4012345.012345.1",),
        quantities=(Quantity(LOT, 12.5, "KGM"),),
        read_point="urn:epc:id:sgln:4000001.00001.0",
        biz_location="urn:epc:id:sgln:4000001.00002.0",
        sources=(SourceDestination(FARM), SourceDestination(FARM, "owning_party")),
        destinations=(SourceDestination(TRUCK),),
        sensors=(
            SensorElement(
                (SensorReport("gs1:Temperature", value=41.0, uom="FAR", time=AT),),
                device_id="urn:epc:id:giai:4000001.T1",
            ),
            SensorElement(
                (
                    SensorReport(
                        "gs1:Temperature", min_value=2.0, max_value=9.5, mean_value=4.25, uom="CEL"
                    ),
                ),
                device_id="urn:epc:id:giai:4000001.T2",
                start_time=AT - timedelta(hours=4),
                end_time=AT,
            ),
            SensorElement((SensorReport("gs1:Acceleration", max_value=3.0, uom="K40"),)),
        ),
        extensions={"fp:station": "DOCK-1", "fp:grade": {"condition": "fresh"}},
    )


def test_a_built_event_reads_back_as_built() -> None:
    doc = epcis_document([_full()], creation_date=AT, context=(EPCIS_CONTEXT, FP))
    (event,) = parse_document(doc).events
    assert (event.event_type, event.action) == ("ObjectEvent", "OBSERVE")
    assert (event.biz_step, event.disposition) == ("shipping", "in_transit")
    assert (event.event_time, event.event_time_zone_offset) == (AT, "+00:00")
    assert event.epcs == ("urn:epc:id:sgtin:4012345.012345.1", LOT) and event.lots == (LOT,)
    assert event.read_point == "urn:epc:id:sgln:4000001.00001.0"
    assert event.biz_location == "urn:epc:id:sgln:4000001.00002.0"
    assert event.sources == (("possessing_party", FARM), ("owning_party", FARM))
    assert event.possessing_party_destination() == TRUCK
    point, summary = event.temperatures
    assert (point.celsius, point.original_value, point.original_uom) == (5.0, 41.0, "FAR")
    assert point.device_id == "urn:epc:id:giai:4000001.T1"
    # The aggregate keeps all its numbers and covers its sensor's period (GUIDE §4 rule 5).
    assert summary.aggregate and (summary.min_celsius, summary.max_celsius) == (2.0, 9.5)
    assert (summary.mean_celsius, summary.start, summary.end) == (4.25, AT - timedelta(hours=4), AT)
    (shock,) = event.accelerations
    assert shock.mps2 == pytest.approx(3.0 * 9.80665)
    assert event.raw["fp:grade"] == {"condition": "fresh"}
    assert event.hash_id == event_hash_id(_full().to_json(), context=[EPCIS_CONTEXT, FP])


def test_fields_come_in_the_canonical_order_and_absent_ones_are_left_out() -> None:
    assert list(_full().to_json()) == [
        "type", "eventTime", "eventTimeZoneOffset", "epcList", "quantityList", "action",
        "bizStep", "disposition", "readPoint", "bizLocation", "sourceList", "destinationList",
        "sensorElementList", "fp:station", "fp:grade",
    ]  # fmt: skip
    bare = ObjectEvent(event_time=AT, quantities=(Quantity(LOT),)).to_json()
    assert bare == {
        "type": "ObjectEvent",
        "eventTime": "2024-05-02T06:00:00+00:00",
        "eventTimeZoneOffset": "+00:00",
        "quantityList": [{"epcClass": LOT}],
        "action": "OBSERVE",
    }
    unnamed = SensorElement((SensorReport("gs1:Temperature", value=4.0, uom="CEL"),))
    assert unnamed.to_json() == {
        "sensorReport": [{"type": "gs1:Temperature", "value": 4.0, "uom": "CEL"}]
    }


def test_an_extension_needs_its_prefix() -> None:
    with pytest.raises(ValueError, match="prefix"):
        ObjectEvent(event_time=AT, epcs=(LOT,), extensions={"bizStep": "receiving"})


def test_each_time_format_writes_the_same_instant_its_own_way() -> None:
    berlin = datetime(2024, 5, 2, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert ISO.render(berlin) == "2024-05-02T08:00:00.123456+02:00"
    assert ZULU.render(berlin) == "2024-05-02T08:00:00.123456+02:00"  # not UTC: no Z
    assert ZULU.render(AT) == "2024-05-02T06:00:00Z"
    assert ZULU_MILLIS.render(berlin) == "2024-05-02T06:00:00.123Z"
    assert TimeFormat("milliseconds").render(berlin) == "2024-05-02T08:00:00.123+02:00"
    event = ObjectEvent(
        event_time=berlin,
        event_time_zone_offset="+02:00",
        sensors=(SensorElement((SensorReport("gs1:Temperature", 4.0, "CEL", berlin),), time=AT),),
        times=ZULU_MILLIS,
    ).to_json()
    element = event["sensorElementList"][0]
    assert event["eventTime"] == element["sensorReport"][0]["time"] == "2024-05-02T06:00:00.123Z"
    assert element["sensorMetadata"] == {"time": "2024-05-02T06:00:00.000Z"}
    # However written, the event hashes alike.
    same = ObjectEvent(
        event_time=berlin,
        event_time_zone_offset="+02:00",
        sensors=(SensorElement((SensorReport("gs1:Temperature", 4.0, "CEL", berlin),), time=AT),),
    )
    assert event_hash_id(event) == event_hash_id(same.to_json())


def test_a_document_carries_built_events_and_json_alike() -> None:
    built = ObjectEvent(event_time=AT, biz_step="receiving", quantities=(Quantity(LOT, 1),))
    broken = {**built.to_json(), "eventTime": "yesterday"}
    doc = epcis_document([built, broken], creation_date=AT, times=ZULU)
    assert doc == {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T06:00:00Z",
        "epcisBody": {"eventList": [built.to_json(), broken]},
    }
    assert parse_document(epcis_document([built], creation_date=AT)).events[0].lots == (LOT,)
