"""EPCIS 2.0 capture parsing, CBV normalisation and the CBV 2.0 event hash id."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import LedgerError
from supplychain.capture import lot_keys
from supplychain.epcis import (
    CaptureEvent,
    CBVVocabulary,
    EPCISDocumentError,
    EPCISValidationError,
    build,
    cbv_short_name,
    cbv_uri,
    event_hash_id,
    event_prehash,
    lot,
    parse_document,
    to_celsius,
    to_digital_link,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "epcis"
CONTEXT = [build.EPCIS_CONTEXT]
HASH_ID = re.compile(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def document(*events: dict[str, Any], **header: Any) -> dict[str, Any]:
    """A document of ``events`` (JSON, broken ones too), its header fields replaced by ``header``."""
    doc = build.epcis_document(
        events, creation_date=datetime(2024, 5, 2, 10, tzinfo=UTC), times=build.ZULU
    )
    doc.update(header)
    return doc


def object_event(**fields: Any) -> dict[str, Any]:
    """A valid receiving event with one temperature, its JSON fields replaced by ``fields``."""
    report = build.SensorReport("gs1:Temperature", value=4.5, uom="CEL")
    logger = build.SensorElement((report,), device_id="urn:epc:id:giai:4000001.LOGGER7")
    event = build.ObjectEvent(
        event_time=datetime(2024, 5, 2, 8, tzinfo=timezone(timedelta(hours=2))),
        event_time_zone_offset="+02:00",
        epcs=("urn:epc:id:sscc:4012345.0000000017", "urn:epc:id:sgtin:4012345.012345.1001"),
        biz_step="receiving",
        read_point="urn:epc:id:sgln:4000001.00010.0",
        sensors=(logger,),
        times=build.TimeFormat("milliseconds"),
    ).to_json()
    event.update(fields)
    return event


def only_event(doc: dict[str, Any]) -> CaptureEvent:
    parsed = parse_document(doc)
    assert len(parsed.events) == 1
    return parsed.events[0]


def errors_of(doc: Any) -> list[tuple[int | None, str]]:
    with pytest.raises(EPCISDocumentError) as info:
        parse_document(doc)
    return [(e.index, e.field) for e in info.value.errors]


# --------------------------------------------------------------------------- valid documents


def test_object_events_shipping_and_inspection() -> None:
    parsed = parse_document((DATA / "object_shipping_inspection.json").read_bytes())
    assert parsed.schema_version == "2.0"
    assert parsed.creation_date == datetime(2024, 5, 2, 7, 31, 12, 204000, tzinfo=UTC)
    shipping, inspection = parsed.events

    assert shipping.index == 0 and shipping.event_type == "ObjectEvent"
    assert shipping.event_time == datetime(2024, 5, 2, 4, 15, tzinfo=UTC)
    assert shipping.event_time.tzinfo is UTC
    assert shipping.event_time_zone_offset == "+02:00"
    assert shipping.action == "OBSERVE"
    assert (shipping.biz_step, shipping.disposition) == ("shipping", "in_transit")
    assert shipping.epcs == (
        "urn:epc:id:sscc:4012345.0000000017",
        "urn:epc:class:lgtin:4012345.012345.STRAW-0502",
    )
    assert shipping.lots == ("urn:epc:class:lgtin:4012345.012345.STRAW-0502",)
    assert shipping.read_point == "urn:epc:id:sgln:4012345.00001.0"
    assert shipping.biz_location == "urn:epc:id:sgln:4012345.00001.0"
    assert shipping.sources == (
        ("owning_party", "urn:epc:id:pgln:4012345.00000"),
        ("possessing_party", "urn:epc:id:pgln:4012345.00000"),
    )
    assert shipping.possessing_party_source() == "urn:epc:id:pgln:4012345.00000"
    assert shipping.possessing_party_destination() == "urn:epc:id:pgln:4023333.00000"
    assert shipping.declared_id == "urn:uuid:6b1f3c1e-3f4a-4c55-9a0e-0c2f4c3b9d01"
    assert not shipping.is_inspection
    assert shipping.temperatures == ()
    assert shipping.raw["bizStep"] == "shipping"

    # bizStep, disposition and source/destination types came as URN and web URI.
    assert inspection.is_inspection
    assert inspection.disposition == "sellable_accessible"
    assert inspection.sources == (("possessing_party", "urn:epc:id:pgln:4023333.00000"),)
    assert inspection.possessing_party_destination() == "urn:epc:id:pgln:4000001.00000"
    assert inspection.declared_id is None
    assert HASH_ID.match(shipping.hash_id) and HASH_ID.match(inspection.hash_id)
    assert shipping.hash_id != inspection.hash_id


def test_temperature_conversions_keep_the_original_value_and_unit() -> None:
    inspection = parse_document(load("object_shipping_inspection.json")).events[1]
    cel, far, kel, summary = inspection.temperatures  # the humidity report is not one
    assert (cel.celsius, cel.original_value, cel.original_uom) == (4.5, 4.5, "CEL")
    assert far.celsius == pytest.approx(5.0) and (far.original_value, far.original_uom) == (
        41.0,
        "FAR",
    )
    assert kel.celsius == pytest.approx(5.0) and (kel.original_value, kel.original_uom) == (
        278.15,
        "KEL",
    )
    # Report time wins, then sensorMetadata time, then endTime; all in UTC.
    assert cel.time == datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    assert far.time == datetime(2024, 5, 2, 7, 35, tzinfo=UTC)
    assert kel.time == datetime(2024, 5, 2, 7, 40, tzinfo=UTC)
    assert summary.time == datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    assert cel.device_id == "urn:epc:id:giai:4000001.LOGGER7"
    assert (summary.basis, summary.celsius) == ("meanValue", 5.2)
    assert (summary.min_celsius, summary.max_celsius, summary.mean_celsius) == (2.1, 9.8, 5.2)


@pytest.mark.parametrize(
    ("value", "uom", "celsius"),
    [(21.5, "CEL", 21.5), (-4.0, "FAR", -20.0), (212, "FAR", 100.0), (255.15, "KEL", -18.0)],
)
def test_to_celsius(value: float, uom: str, celsius: float) -> None:
    assert to_celsius(value, uom) == pytest.approx(celsius)


def test_to_celsius_rejects_unknown_unit() -> None:
    with pytest.raises(EPCISValidationError, match="unknown temperature uom 'DEG'"):
        to_celsius(5.0, "DEG")


def test_aggregation_event() -> None:
    event = only_event(load("aggregation_packing.json"))
    assert event.event_type == "AggregationEvent"
    assert event.action == "ADD"
    assert event.parent_id == "urn:epc:id:sscc:4012345.0000000017"
    assert event.epcs == (
        "urn:epc:id:sgtin:4012345.012345.1001",
        "urn:epc:id:sgtin:4012345.012345.1002",
        "urn:epc:class:lgtin:4012345.012345.STRAW-0502",
    )
    assert event.lots == ("urn:epc:class:lgtin:4012345.012345.STRAW-0502",)
    assert (event.biz_step, event.disposition) == ("packing", "in_progress")


def test_transformation_event() -> None:
    event = only_event(load("transformation_repack.json"))
    assert event.event_type == "TransformationEvent"
    assert event.action is None
    assert event.lots == (
        "urn:epc:class:lgtin:4012345.012345.STRAW-0502",
        "urn:epc:class:lgtin:4000001.054321.PUN-0503",
    )
    assert [lot(u) for u in event.lots] == ["STRAW-0502", "PUN-0503"]
    assert event.biz_step == "repackaging"
    assert event.raw["ilmd"]["cbvmda:bestBeforeDate"] == "2024-05-07"


def test_transformation_schema_version_number_is_accepted() -> None:
    assert parse_document(load("transformation_repack.json")).schema_version == "2.0"


def test_association_event() -> None:
    event = only_event(load("association_logger.json"))
    assert event.event_type == "AssociationEvent"
    assert event.parent_id == "urn:epc:id:grai:4000001.12345.PALLET-9"
    assert event.epcs == ("urn:epc:id:giai:4000001.LOGGER7",)
    assert event.lots == ()


def test_capture_event_is_frozen_and_raw_is_a_copy() -> None:
    doc = load("aggregation_packing.json")
    event = only_event(doc)
    with pytest.raises(AttributeError):
        event.biz_step = "shipping"  # type: ignore[misc]
    doc["epcisBody"]["eventList"][0]["bizStep"] = "shipping"
    assert event.raw["bizStep"] == "packing"


def test_empty_event_list_is_a_valid_document() -> None:
    assert parse_document(document()).events == ()


# --------------------------------------------------------------------------- CBV values


@pytest.mark.parametrize(
    "spelling",
    [
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
    ],
)
def test_biz_step_spellings_normalise_to_the_short_name(spelling: str) -> None:
    assert cbv_short_name(spelling, vocabulary=CBVVocabulary.BIZ_STEP) == "shipping"
    assert only_event(document(object_event(bizStep=spelling))).biz_step == "shipping"


@pytest.mark.parametrize(
    ("spelling", "vocabulary", "short"),
    [
        ("urn:epcglobal:cbv:disp:in_transit", CBVVocabulary.DISPOSITION, "in_transit"),
        ("https://ref.gs1.org/cbv/Disp-damaged", CBVVocabulary.DISPOSITION, "damaged"),
        (
            "urn:epcglobal:cbv:sdt:owning_party",
            CBVVocabulary.SOURCE_DESTINATION_TYPE,
            "owning_party",
        ),
        ("https://ref.gs1.org/cbv/SDT-location", CBVVocabulary.SOURCE_DESTINATION_TYPE, "location"),
        ("https://example.com/vocab/bizstep/ripening", CBVVocabulary.BIZ_STEP, None),
    ],
)
def test_cbv_short_names(spelling: str, vocabulary: CBVVocabulary, short: str | None) -> None:
    # A private vocabulary URI is kept as given (short=None marks that case).
    assert cbv_short_name(spelling, vocabulary=vocabulary) == (short or spelling)


def test_cbv_uri_round_trip() -> None:
    uri = cbv_uri("sellable_accessible", vocabulary=CBVVocabulary.DISPOSITION)
    assert uri == "https://ref.gs1.org/cbv/Disp-sellable_accessible"
    assert cbv_short_name(uri, vocabulary=CBVVocabulary.DISPOSITION) == "sellable_accessible"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bizStep", "shiping"),
        ("bizStep", "urn:epcglobal:cbv:disp:in_transit"),
        ("disposition", "fresh"),
    ],
)
def test_non_cbv_bare_words_are_rejected(field: str, value: str) -> None:
    assert errors_of(document(object_event(**{field: value}))) == [(0, f"eventList[0].{field}")]


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"type": "EPCISDocument", "type": "EPCISQueryDocument"}', "duplicate key"),
        (b'{"value": NaN}', "not JSON"),
    ],
)
def test_unreadable_input_is_one_document_level_error(raw: bytes, reason: str) -> None:
    with pytest.raises(EPCISDocumentError) as info:
        parse_document(raw)
    [error] = info.value.errors
    assert (error.index, error.field) == (None, "$")
    assert reason in error.reason


def test_wrong_document_type() -> None:
    assert errors_of(document(type="EPCISQueryDocument")) == [(None, "type")]


def test_missing_event_list() -> None:
    doc = document()
    doc["epcisBody"] = {}
    assert errors_of(doc) == [(None, "epcisBody.eventList")]


def test_header_errors_are_all_reported() -> None:
    doc = {"type": "EPCISDocument", "schemaVersion": "1.2", "creationDate": "yesterday"}
    assert errors_of(doc) == [
        (None, "@context"),
        (None, "schemaVersion"),
        (None, "creationDate"),
        (None, "epcisBody"),
    ]


def _without(name: str) -> dict[str, Any]:
    event = object_event()
    del event[name]
    return event


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (_without("eventTime"), "eventList[0].eventTime", "missing"),
        (_without("eventTimeZoneOffset"), "eventList[0].eventTimeZoneOffset", "missing"),
        (_without("action"), "eventList[0].action", "missing"),
        (object_event(action="MOVE"), "eventList[0].action", "not one of ADD, OBSERVE, DELETE"),
        (object_event(eventTime="02/05/2024 08:00"), "eventList[0].eventTime", "not an ISO"),
        (object_event(eventTime="2024-05-02T08:00:00"), "eventList[0].eventTime", "no UTC offset"),
        (object_event(eventTime="2024-02-30T08:00:00Z"), "eventList[0].eventTime", "not a valid"),
        (object_event(eventTimeZoneOffset="2h"), "eventList[0].eventTimeZoneOffset", "offset"),
        (object_event(type="ShipmentEvent"), "eventList[0].type", "unknown event type"),
        (object_event(type="TransactionEvent"), "eventList[0].type", "not supported"),
        (object_event(epcList=["LOT123"]), "eventList[0].epcList[0]", "not a URI"),
        (object_event(readPoint="urn:epc:id:sgln:4000001.00010.0"), "eventList[0].readPoint", ""),
        (
            object_event(sourceList=[{"source": "urn:epc:id:pgln:4012345.00000"}]),
            "eventList[0].sourceList[0].type",
            "missing",
        ),
        (
            object_event(
                quantityList=[
                    {"epcClass": "urn:epc:class:lgtin:4012345.012345.L1", "quantity": "5"}
                ]
            ),
            "eventList[0].quantityList[0].quantity",
            "not a number",
        ),
        # TDS: an LGTIN names a lot; a product without one is the idpat or the bare GTIN.
        (
            object_event(quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.012345"}]),
            "eventList[0].quantityList[0].epcClass",
            "a product without a lot is urn:epc:idpat:sgtin:4012345.012345.*",
        ),
        (
            object_event(quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.012345."}]),
            "eventList[0].quantityList[0].epcClass",
            "an LGTIN names a lot",
        ),
        (
            object_event(childQuantityList=[{"epcClass": "urn:epc:class:lgtin:STRAW-0502"}]),
            "eventList[0].childQuantityList[0].epcClass",
            "not an LGTIN URN",
        ),
    ],
)
def test_malformed_event_names_index_and_field(
    event: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(EPCISDocumentError) as info:
        parse_document(document(object_event(), event))
    [error] = info.value.errors
    assert (error.index, error.field) == (1, field.replace("[0]", "[1]", 1))
    assert reason in error.reason
    assert isinstance(error, LedgerError)


@pytest.mark.parametrize(
    "value", ["30/04/2024", "2024-04-31", "20240430", "2024-04-30 morning", 20240430, None]
)
def test_a_use_by_that_is_not_a_date_is_refused_not_lost(value: object) -> None:
    """The verdict reads a lot's use-by (a date past at delivery is the seller's): an ERP
    sending one it cannot read hears so, naming the field, instead of a record that decides
    nothing."""
    event = object_event(action="ADD", ilmd={"cbvmda:itemExpirationDate": value})
    with pytest.raises(EPCISDocumentError) as info:
        parse_document(document(event))
    [error] = info.value.errors
    assert error.field == "eventList[0].ilmd.cbvmda:itemExpirationDate"
    assert "is not a date" in error.reason


@pytest.mark.parametrize(
    "ilmd",
    [
        {"cbvmda:itemExpirationDate": "2024-04-30"},
        {"cbvmda:itemExpirationDate": "2024-04-30Z"},
        {"urn:epcglobal:cbv:mda#itemExpirationDate": "2024-04-30+02:00"},
        {"cbvmda:useByDate": "2024-04-30T00:00:00Z"},
        {"cbvmda:bestBeforeDate": "30/04/2024"},  # not read, so not checked
        {"cbvmda:lotNumber": "L1"},
    ],
)
def test_lot_master_data_the_verdict_can_read_or_does_not_read_is_accepted(
    ilmd: dict[str, Any],
) -> None:
    (captured,) = parse_document(document(object_event(action="ADD", ilmd=ilmd))).events
    assert captured.hash_id


@pytest.mark.parametrize(
    "epc_class", ["urn:epc:idpat:sgtin:4012345.012345.*", "https://id.gs1.org/01/04012345123456"]
)
def test_a_product_without_a_lot_is_accepted_under_no_lot(epc_class: str) -> None:
    # Class-level quantity of a GTIN (EPCIS 2.0 allows it): findable by the class, no lot's.
    event = object_event(quantityList=[{"epcClass": epc_class, "quantity": 5}])
    (captured,) = parse_document(document(event)).events
    assert epc_class in captured.epcs and captured.lots == ()
    assert lot_keys(captured) == set(captured.epcs)


def _report(**fields: Any) -> dict[str, Any]:
    return object_event(
        sensorElementList=[{"sensorReport": [{"type": "gs1:Temperature", **fields}]}]
    )


@pytest.mark.parametrize(
    ("event", "suffix", "reason"),
    [
        (_report(value=5.0, uom="XYZ"), "uom", "unknown temperature uom 'XYZ'"),
        (_report(value="5.0", uom="CEL"), "value", "not a number"),
        (_report(value=True, uom="CEL"), "value", "not a number"),
        (_report(maxValue=5.0), "uom", "missing"),
        (_report(value=-300.0, uom="CEL"), "value", "below absolute zero"),
        (_report(value=1e308, uom="CEL"), "value", "above 1000 °C"),
        (_report(maxValue=2000.0, uom="FAR"), "maxValue", "above 1000 °C"),
        (_report(value=5.0, uom="CEL", time="noon"), "time", "not an ISO"),
    ],
)
def test_malformed_sensor_report(event: dict[str, Any], suffix: str, reason: str) -> None:
    with pytest.raises(EPCISDocumentError) as info:
        parse_document(document(event))
    [error] = info.value.errors
    assert error.field == f"eventList[0].sensorElementList[0].sensorReport[0].{suffix}"
    assert reason in error.reason


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {
                "type": "AggregationEvent",
                "action": "ADD",
                "childEPCs": ["urn:epc:id:sgtin:4012345.012345.1"],
            },
            "eventList[0].parentID",
        ),
        (
            {
                "type": "AggregationEvent",
                "action": "ADD",
                "parentID": "urn:epc:id:sscc:4012345.0000000017",
            },
            "eventList[0].childEPCs",
        ),
        (
            {"type": "AssociationEvent", "action": "OBSERVE"},
            "eventList[0].parentID",
        ),
        (
            {
                "type": "TransformationEvent",
                "action": "ADD",
                "inputEPCList": ["urn:epc:id:sgtin:4012345.012345.1"],
            },
            "eventList[0].action",
        ),
        ({"type": "TransformationEvent"}, "eventList[0].inputEPCList"),
    ],
)
def test_required_fields_per_event_type(event: dict[str, Any], field: str) -> None:
    event = {"eventTime": "2024-05-02T08:00:00Z", "eventTimeZoneOffset": "+00:00", **event}
    assert errors_of(document(event)) == [(0, field)]


def test_multi_error_document_reports_every_error_and_returns_nothing() -> None:
    with pytest.raises(EPCISDocumentError) as info:
        parse_document((DATA / "invalid_multiple_errors.json").read_bytes())
    errors = info.value.errors
    assert [(e.index, e.field) for e in errors] == [
        (0, "eventList[0].eventTime"),
        (1, "eventList[1].action"),
        (2, "eventList[2].sensorElementList[0].sensorReport[0].uom"),
        (2, "eventList[2].sensorElementList[0].sensorReport[1].value"),
        (3, "eventList[3].type"),
    ]
    assert [e.reason for e in errors][:2] == [
        "missing",
        "'MOVE' is not one of ADD, OBSERVE, DELETE",
    ]
    assert "5 error(s)" in str(info.value)


# --------------------------------------------------------------------------- event hash id


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def _hash(event: dict[str, Any]) -> str:
    return only_event(document(event)).hash_id


def test_hash_id_matches_the_standalone_function() -> None:
    event = object_event()
    assert _hash(event) == event_hash_id(event)
    digest = hashlib.sha256(event_prehash(event).encode()).hexdigest()
    assert event_hash_id(event) == f"ni:///sha-256;{digest}?ver=CBV2.0"


def test_hash_is_independent_of_json_key_order() -> None:
    doc = load("object_shipping_inspection.json")
    reordered = _reverse_keys(doc)
    assert next(iter(reordered["epcisBody"]["eventList"][0])) != "type"
    original = [e.hash_id for e in parse_document(doc).events]
    assert [e.hash_id for e in parse_document(reordered).events] == original


def test_hash_is_independent_of_whitespace() -> None:
    doc = load("object_shipping_inspection.json")
    compact = json.dumps(doc, separators=(",", ":")).encode()
    spaced = json.dumps(doc, indent=7).encode()
    assert [e.hash_id for e in parse_document(compact).events] == [
        e.hash_id for e in parse_document(spaced).events
    ]
    padded = object_event(bizStep=" receiving ", epcList=[" urn:epc:id:sscc:4012345.0000000017 "])
    assert _hash(padded) == _hash(object_event(epcList=["urn:epc:id:sscc:4012345.0000000017"]))


def test_hash_is_independent_of_list_order() -> None:
    event = object_event()
    shuffled = copy.deepcopy(event)
    shuffled["epcList"].reverse()
    shuffled["sensorElementList"][0]["sensorReport"].insert(
        0, {"type": "gs1:RelativeHumidity", "value": 80, "uom": "P1"}
    )
    event["sensorElementList"][0]["sensorReport"].append(
        {"type": "gs1:RelativeHumidity", "value": 80, "uom": "P1"}
    )
    assert _hash(shuffled) == _hash(event)


@pytest.mark.parametrize(
    "stamp",
    ["2024-05-02T06:00:00Z", "2024-05-02T06:00:00.000000Z", "2024-05-02T01:00:00-05:00"],
)
def test_hash_is_independent_of_timestamp_representation(stamp: str) -> None:
    # eventTimeZoneOffset is a field of its own and stays; only eventTime's spelling changes.
    assert _hash(object_event(eventTime=stamp)) == _hash(object_event())


def test_hash_is_independent_of_cbv_and_epc_spelling() -> None:
    urns = object_event(
        bizStep="urn:epcglobal:cbv:bizstep:receiving",
        epcList=["urn:epc:id:sscc:4012345.0000000017", "urn:epc:id:sgtin:4012345.012345.1001"],
    )
    links = object_event(
        bizStep="https://ref.gs1.org/cbv/BizStep-receiving",
        epcList=[
            "https://id.gs1.org/00/040123450000000177",
            "https://shop.example.com/01/04012345123456/21/1001?17=240510",
        ],
    )
    assert _hash(urns) == _hash(links)


def test_hash_ignores_event_id_and_record_time() -> None:
    declared = object_event(eventID="urn:uuid:0f0e0d0c-1111-2222-3333-444455556666")
    declared["recordTime"] = "2024-05-02T08:00:01Z"
    event = only_event(document(declared))
    assert event.declared_id == "urn:uuid:0f0e0d0c-1111-2222-3333-444455556666"
    assert event.hash_id == _hash(object_event())
    assert event.hash_id != event.declared_id


def _change_sensor_value(event: dict[str, Any]) -> None:
    event["sensorElementList"][0]["sensorReport"][0]["value"] = 4.6


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.update(eventTime="2024-05-02T08:00:00.001+02:00"),
        lambda e: e.update(eventTimeZoneOffset="+01:00"),
        lambda e: e["epcList"].__setitem__(1, "urn:epc:id:sgtin:4012345.012345.1002"),
        lambda e: e.update(bizStep="shipping"),
        lambda e: e.update(disposition="damaged"),
        lambda e: e.update(action="ADD"),
        lambda e: e.update(readPoint={"id": "urn:epc:id:sgln:4000001.00010.1"}),
        _change_sensor_value,
        lambda e: e.update(ilmd={"cbvmda:lotNumber": "L2"}),
        lambda e: e.update({"fp:note": "re-packed"}),
    ],
)
def test_hash_changes_with_every_semantic_field(change: Any) -> None:
    changed = object_event()
    change(changed)
    assert _hash(changed) != _hash(object_event())


def test_sub_millisecond_digits_round_half_up() -> None:
    rounded = object_event(eventTime="2024-05-02T06:00:00.0005Z")
    exact = object_event(eventTime="2024-05-02T06:00:00.001Z")
    assert _hash(rounded) == _hash(exact)
    assert _hash(object_event(eventTime="2024-05-02T06:00:00.0004Z")) == _hash(object_event())


def test_prehash_string_follows_the_cbv_rules() -> None:
    # Hand-built from CBV 2.0 §8.9: canonical order, sorted lists, Digital Link ids,
    # web-URI vocabulary, UTC milliseconds, ILMD and extensions as {namespace}local.
    event = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-02T08:00:00+02:00",
        "eventTimeZoneOffset": "+02:00",
        "eventID": "urn:uuid:ignored",
        "quantityList": [
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.B2", "quantity": 10.50, "uom": "KGM"},
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.A1", "quantity": 3.0},
        ],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0", "fp:dock": "3"},
        "sourceList": [{"type": "possessing_party", "source": "urn:epc:id:pgln:4012345.00000"}],
        "ilmd": {
            "cbvmda:bestBeforeDate": "2024-05-09",
            "fp:harvestedAt": "2024-05-01T18:00:00+02:00",
        },
        "fp:grower": {"fp:name": "Hof Sonnenfeld", "fp:plot": 7},
        "sensorElementList": [
            {
                "sensorMetadata": {"time": "2024-05-02T07:59:00+02:00"},
                "sensorReport": [
                    {"type": "Temperature", "value": 3.0, "uom": "CEL"},
                    {"type": "gs1:AbsoluteHumidity", "value": 7.25, "uom": "A93"},
                ],
            }
        ],
    }
    context = [*CONTEXT, {"fp": "https://ns.example.com/freshproof/"}]
    fp = "{https://ns.example.com/freshproof/}"
    expected = (
        "eventType=ObjectEvent"
        "eventTime=2024-05-02T06:00:00.000Z"
        "eventTimeZoneOffset=+02:00"
        "quantityList"
        "quantityElementepcClass=https://id.gs1.org/01/04012345123456/10/A1quantity=3"
        "quantityElementepcClass=https://id.gs1.org/01/04012345123456/10/B2quantity=10.5uom=KGM"
        "action=ADD"
        "bizStep=https://ref.gs1.org/cbv/BizStep-commissioning"
        "disposition=https://ref.gs1.org/cbv/Disp-active"
        f"readPointid=https://id.gs1.org/414/4012345000016{fp}dock=3"
        "sourceListtype=https://ref.gs1.org/cbv/SDT-possessing_party"
        "source=https://id.gs1.org/417/4012345000009"
        "sensorElementList"
        "sensorElementsensorMetadatatime=2024-05-02T05:59:00.000Z"
        "sensorReporttype=https://gs1.org/voc/AbsoluteHumidityvalue=7.25uom=A93"
        "sensorReporttype=https://gs1.org/voc/Temperaturevalue=3uom=CEL"
        "ilmd"
        f"{fp}harvestedAt=2024-05-01T16:00:00.000Z"
        "{urn:epcglobal:cbv:mda}bestBeforeDate=2024-05-09"
        f"{fp}grower{fp}name=Hof Sonnenfeld{fp}plot=7"
    )
    assert event_prehash(event, context=context) == expected
    assert only_event(document(event, **{"@context": context})).hash_id == event_hash_id(
        event, context=context
    )


def test_event_hash_id_rejects_values_without_json_meaning() -> None:
    with pytest.raises(EPCISValidationError, match="not a JSON number"):
        event_hash_id(object_event(**{"fp:reading": float("nan")}))
    with pytest.raises(EPCISValidationError, match="no type"):
        event_hash_id({"eventTime": "2024-05-02T06:00:00Z"})


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    ("uri", "link"),
    [
        ("urn:epc:id:sgtin:4012345.012345.1001", "https://id.gs1.org/01/04012345123456/21/1001"),
        (
            "urn:epc:id:sgtin:4012345.012345.A(1)",
            "https://id.gs1.org/01/04012345123456/21/A%281%29",
        ),
        # SSCC check digit as in the reference implementation's published pre-hashes.
        ("urn:epc:id:sscc:4012345.1112223334", "https://id.gs1.org/00/140123451122233341"),
        ("urn:epc:id:sgln:4012345.00001.0", "https://id.gs1.org/414/4012345000016"),
        ("urn:epc:id:sgln:4012345.00001.12", "https://id.gs1.org/414/4012345000016/254/12"),
        ("urn:epc:id:pgln:4012345.00000", "https://id.gs1.org/417/4012345000009"),
        (
            "urn:epc:class:lgtin:4012345.012345.LOT123",
            "https://id.gs1.org/01/04012345123456/10/LOT123",
        ),
        ("urn:epc:idpat:sgtin:4012345.012345.*", "https://id.gs1.org/01/04012345123456"),
        ("urn:epc:id:giai:4000001.LOGGER7", "https://id.gs1.org/8004/4000001LOGGER7"),
        (
            "https://brand.example/gtin/4012345123456/lot/L1?exp=1",
            "https://id.gs1.org/01/04012345123456/10/L1",
        ),
        (
            "https://id.gs1.org/01/04012345123456/10/L1/21/9",
            "https://id.gs1.org/01/04012345123456/21/9",
        ),
        ("urn:epc:id:sgtin:4012345.01234.1", None),
        ("https://example.com/about/us", None),
        ("geo:47.5,11.1", None),
    ],
)
def test_to_digital_link(uri: str, link: str | None) -> None:
    assert to_digital_link(uri) == link


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("urn:epc:class:lgtin:4012345.012345.LOT123", "LOT123"),
        ("urn:epc:class:lgtin:4012345.012345.L%2F7", "L/7"),
        ("https://id.gs1.org/01/04012345123456/10/LOT9", "LOT9"),
        ("urn:epc:id:sgtin:4012345.012345.1001", None),
        ("https://id.gs1.org/01/04012345123456", None),
    ],
)
def test_lot_helper(uri: str, expected: str | None) -> None:
    assert lot(uri) == expected


def _shock_event(*reports: dict[str, Any]) -> dict[str, Any]:
    return object_event(
        sensorElementList=[
            {
                "sensorMetadata": {"deviceID": "urn:epc:id:giai:4000001.SHOCK1"},
                "sensorReport": list(reports),
            }
        ]
    )


def test_acceleration_reports_are_read_as_shocks_in_metres_per_second_squared() -> None:
    (event,) = parse_document(
        document(
            _shock_event(
                {"type": "gs1:Acceleration", "maxValue": 31.0, "value": 2.0, "uom": "K40"},
                {
                    "type": "MT-Acceleration",
                    "value": 12.5,
                    "uom": "MSK",
                    "time": "2024-05-02T05:50:00Z",
                },
                {"type": "gs1:Temperature", "value": 4.0, "uom": "CEL"},
            )
        )
    ).events
    peak, plain = event.accelerations
    # A logger's peak is the shock; 31 g in SI units.
    assert peak.mps2 == pytest.approx(31.0 * 9.80665) and (
        peak.original_value,
        peak.original_uom,
    ) == (31.0, "K40")
    assert peak.device_id == "urn:epc:id:giai:4000001.SHOCK1"
    assert peak.time == datetime(2024, 5, 2, 6, 0, tzinfo=UTC)  # the event's time
    assert (plain.mps2, plain.time) == (12.5, datetime(2024, 5, 2, 5, 50, tzinfo=UTC))
    assert [t.celsius for t in event.temperatures] == [4.0]


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({"type": "gs1:Acceleration", "value": 3.0, "uom": "KMH"}, "not an acceleration unit"),
        ({"type": "gs1:Acceleration", "value": 3.0}, "not an acceleration unit"),
        ({"type": "gs1:Acceleration", "value": -3.0, "uom": "MSK"}, "cannot be negative"),
    ],
)
def test_malformed_acceleration_reports_are_refused(report: dict[str, Any], reason: str) -> None:
    with pytest.raises(EPCISDocumentError, match=reason):
        parse_document(document(_shock_event(report)))
