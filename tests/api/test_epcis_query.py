"""The EPCIS 2.0 query over HTTP: the standard's example queries, every parameter against
captured events, the standard's exceptions, visibility across parties and tenants, paging.

Data: the EPCIS 2.0 OpenAPI document's example EPCISDocument (two events of 0614141 and
0012345) and SingleEvent (sensor data: temperature, humidity, speed, illuminance), a
transport example after the standard's sensor query example (SSCCs transported at or above
15.5 °C), our strawberry lot (shipping by 4012345 to the carrier 4023333, inspection at the
retailer 4000001), and another tenant's lot (4099999).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant

DATA = Path(__file__).resolve().parents[1] / "supplychain" / "data" / "epcis"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
PROBLEM = "application/problem+json"


def pgln(prefix: str) -> str:
    return f"urn:epc:id:pgln:{prefix}.00000"


SUPPLIER, CARRIER, RETAILER = pgln("4012345"), pgln("4023333"), pgln("4000001")
OTHER_TENANT, OUTSIDER = pgln("4099999"), pgln("4088888")
EXAMPLE_PARTIES = [pgln("0614141"), pgln("0012345")]
SHIP_ID = "urn:uuid:6b1f3c1e-3f4a-4c55-9a0e-0c2f4c3b9d01"  # the strawberry shipment


def document(*events: dict[str, Any], prefixes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "@context": [CONTEXT, *([prefixes] if prefixes else [])],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T09:31:12Z",
        "epcisBody": {"eventList": list(events)},
    }


# The OpenAPI document's example EPCISDocument (gs1/EPCIS, REST Bindings/openapi.yaml).
STANDARD_EXAMPLE = document(
    {
        "eventID": "_:event1",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
        "eventTime": "2022-01-08T20:33:31.116-06:00",
        "eventTimeZoneOffset": "-06:00",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}
        ],
    },
    {
        "eventID": "_:event2",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
        "eventTime": "2022-01-08T20:33:32.116-06:00",
        "eventTimeZoneOffset": "-06:00",
        "readPoint": {"id": "urn:epc:id:sgln:0012345.11111.400"},
        "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"},
            {"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"},
        ],
        "example:myField": "Example of a vendor/user extension",
    },
    prefixes={"example": "http://ns.example.com/epcis/"},
)


def _sensor_element(time: str, temperature: float, humidity: float, speed: float, lux: float):
    return {
        "sensorMetadata": {"time": time, "deviceID": "urn:epc:id:giai:4000001.111"},
        "sensorReport": [
            {"type": "gs1:Temperature", "value": temperature, "uom": "CEL"},
            {"type": "gs1:AbsoluteHumidity", "value": humidity, "uom": "A93"},
            {"type": "gs1:Speed", "value": speed, "uom": "KMH"},
            {"type": "gs1:Illuminance", "value": lux, "uom": "LUX"},
        ],
    }


# The OpenAPI document's SingleEvent example: sensor data of three reports.
SENSOR_EXAMPLE = document(
    {
        "eventID": "urn:uuid:sensor-example",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "eventTime": "2021-05-05T15:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
        "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
        "sensorElementList": [
            _sensor_element("2019-04-02T14:05:00.000+01:00", 26.0, 12.1, 160.0, 800.0),
            _sensor_element("2019-04-02T14:35:00.000+01:00", 26.1, 12.2, 161.0, 801.0),
            _sensor_element("2019-04-02T14:55:00.000+01:00", 26.2, 12.2, 162.0, 802.0),
        ],
    }
)


def _transport(n: int, value: float, uom: str) -> dict[str, Any]:
    return {
        "eventID": f"urn:uuid:transport-{n}",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "transporting",
        "epcList": [f"urn:epc:id:sscc:0614141.123456789{n}"],
        "eventTime": "2022-02-01T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
        "sensorElementList": [
            {"sensorReport": [{"type": "gs1:Temperature", "value": value, "uom": uom}]}
        ],
    }


# After the standard's sensor query example: transported at 16 °C, and at 59 °F (15 °C).
TRANSPORT = document(_transport(0, 16.0, "CEL"), _transport(1, 59.0, "FAR"))

OTHER_LOT = "urn:epc:class:lgtin:4099999.000001.B1"
OTHER_CHAIN = document(
    {
        "eventID": "urn:uuid:other-tenant",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": ["urn:epc:id:sscc:4099999.0000000001"],
        "quantityList": [{"epcClass": OTHER_LOT, "quantity": 10, "uom": "KGM"}],
        "eventTime": "2024-05-02T06:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "readPoint": {"id": "urn:epc:id:sgln:4099999.00001.0"},
        "sourceList": [{"type": "possessing_party", "source": OTHER_TENANT}],
    }
)


class World:
    """The app and a key for each caller."""

    def __init__(self, client: TestClient) -> None:
        app = client.app
        self.client = client
        self.admin = grant(app, "admin")  # type: ignore[arg-type]
        self.auditor = grant(app, "auditor")  # type: ignore[arg-type]
        self.chain = grant(app, "supply_chain", parties=[SUPPLIER, CARRIER, RETAILER])  # type: ignore[arg-type]
        self.supplier = grant(app, "supply_chain", parties=[SUPPLIER])  # type: ignore[arg-type]
        self.carrier = grant(app, "supply_chain", parties=[CARRIER])  # type: ignore[arg-type]
        self.retailer = grant(app, "supply_chain", parties=[RETAILER])  # type: ignore[arg-type]
        self.example = grant(app, "supply_chain", parties=EXAMPLE_PARTIES)  # type: ignore[arg-type]
        self.tenant = grant(app, "supply_chain", parties=[OTHER_TENANT])  # type: ignore[arg-type]
        self.outsider = grant(app, "supply_chain", parties=[OUTSIDER])  # type: ignore[arg-type]
        self.customer = grant(app, "customer_app", customer_id="c1")  # type: ignore[arg-type]

    def capture(self, doc: dict[str, Any], key: dict[str, str]) -> None:
        resp = self.client.post("/v1/events", json=doc, headers=key)
        assert resp.status_code == 201, resp.text

    def get(self, query: str = "", key: dict[str, str] | None = None, path: str = "/v1/events"):
        return self.client.get(path + (f"?{query}" if query else ""), headers=key or self.admin)

    def events(self, query: str = "", key: dict[str, str] | None = None) -> list[dict[str, Any]]:
        resp = self.get(query, key)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["type"] == "EPCISQueryDocument"
        return body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]

    def ids(self, query: str = "", key: dict[str, str] | None = None) -> set[str]:
        return {e["eventID"] for e in self.events(query, key)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("epcis-query") / "var"))
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(client)
        strawberries = json.loads((DATA / "object_shipping_inspection.json").read_text())
        w.capture(strawberries, w.chain)
        w.capture(STANDARD_EXAMPLE, w.example)
        w.capture(TRANSPORT, w.example)
        w.capture(SENSOR_EXAMPLE, w.supplier)
        w.capture(OTHER_CHAIN, w.tenant)
        yield w


def _q(**params: str) -> str:
    return "&".join(f"{k}={quote(v, safe='|')}" for k, v in params.items())


INSPECTION = "the strawberry inspection"  # no declared id: its event hash


def test_the_answer_is_an_epcis_query_document_with_record_times(world: World) -> None:
    resp = world.get(_q(EQ_eventID=SHIP_ID))
    assert resp.status_code == 200
    assert resp.headers["GS1-EPCIS-Version"] == "2.0" and "link" not in resp.headers
    body = resp.json()
    assert body["@context"] == [CONTEXT] and body["schemaVersion"] == "2.0"
    (event,) = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["bizStep"] == "shipping" and event["eventID"] == SHIP_ID
    # The repository's record time, not the one the capturer wrote into the event.
    assert event["recordTime"] != "2024-05-02T06:15:03.512+02:00"
    assert event["recordTime"].endswith("Z")


# The standard's example queries, on the standard's example events.
@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        # openapi.yaml, /eventTypes/{eventType}/events: shipping or decommissioning since a date.
        (
            "/v1/eventTypes/ObjectEvent/events",
            "EQ_bizStep=shipping%7Cdecommissioning&GE_eventTime=2015-03-15T00%3A00%3A00.000-04%3A00",
            {"_:event1", SHIP_ID, "urn:uuid:other-tenant"},
        ),
        (
            "/v1/events",
            "eventType=ObjectEvent&EQ_bizStep=shipping&LT_eventTime=2023-01-01T00:00:00Z",
            {"_:event1"},
        ),
        ("/v1/events", "MATCH_epc=urn:epc:id:sgtin:0614141.107346.2018", {"_:event1", "_:event2"}),
        ("/v1/events", "MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*", {"_:event1", "_:event2"}),
        ("/v1/events", "EQ_readPoint=urn:epc:id:sgln:0012345.11111.400", {"_:event2"}),
        ("/v1/events", "EQ_bizLocation=urn:epc:id:sgln:0012345.11111.0", {"_:event2"}),
        ("/v1/events", "EQ_disposition=in_progress", {"_:event2"}),
        (
            "/v1/events",
            "EQ_bizTransaction_desadv=urn:epcglobal:cbv:bt:0614141073467:1152",
            {"_:event2"},
        ),
        (
            "/v1/events",
            "EQ_bizTransaction_po=http://transaction.acme.com/po/12345678",
            {"_:event1", "_:event2"},
        ),
        # The standard's sensor query: logistic units of a company transported at ≥ 15.5 °C.
        (
            "/v1/events",
            "EQ_bizStep=transporting&MATCH_epc=urn:epc:idpat:sscc:0614141.*"
            "&EQ_type=Temperature&GE_value_CEL=15.5",
            {"urn:uuid:transport-0"},
        ),
        # The same in Fahrenheit: 59.9 °F is 15.5 °C.
        ("/v1/events", "EQ_bizStep=transporting&GE_value_FAR=59.9", {"urn:uuid:transport-0"}),
        (
            "/v1/events",
            "EQ_type=gs1:AbsoluteHumidity&GE_value_A93=12.2",
            {"urn:uuid:sensor-example"},
        ),
        ("/v1/events", "GT_value_KMH=162", set()),
        ("/v1/events", "GE_value_KMH=162", {"urn:uuid:sensor-example"}),
        ("/v1/events", "EQ_deviceID=urn:epc:id:giai:4000001.111", {"urn:uuid:sensor-example"}),
    ],
)
def test_the_standards_example_queries(
    world: World, path: str, query: str, expected: set[str]
) -> None:
    resp = world.client.get(f"{path}?{query}", headers=world.admin)
    assert resp.status_code == 200, resp.text
    found = {
        e["eventID"] for e in resp.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    }
    assert found == expected


# Each parameter against our strawberry lot: a query that finds the event, one that does not.
@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("eventType=ObjectEvent&EQ_eventID=" + SHIP_ID, True),
        ("eventType=AggregationEvent|TransactionEvent&EQ_eventID=" + SHIP_ID, False),
        ("GE_eventTime=2024-05-02T04:15:00Z&EQ_eventID=" + SHIP_ID, True),  # 06:15+02:00
        ("GE_eventTime=2024-05-02T04:15:00.001Z&EQ_eventID=" + SHIP_ID, False),
        ("LT_eventTime=2024-05-02T04:15:00.001Z&EQ_eventID=" + SHIP_ID, True),
        ("LT_eventTime=2024-05-02T04:15:00Z&EQ_eventID=" + SHIP_ID, False),
        ("GE_recordTime=2020-01-01T00:00:00Z&EQ_eventID=" + SHIP_ID, True),
        ("LT_recordTime=2020-01-01T00:00:00Z&EQ_eventID=" + SHIP_ID, False),
        ("EQ_action=OBSERVE&EQ_eventID=" + SHIP_ID, True),
        ("EQ_action=ADD|DELETE&EQ_eventID=" + SHIP_ID, False),
        ("EQ_bizStep=urn:epcglobal:cbv:bizstep:shipping&EQ_eventID=" + SHIP_ID, True),
        ("EQ_bizStep=receiving&EQ_eventID=" + SHIP_ID, False),
        ("EQ_disposition=in_transit&EQ_eventID=" + SHIP_ID, True),
        ("EQ_disposition=destroyed&EQ_eventID=" + SHIP_ID, False),
        ("EQ_readPoint=urn:epc:id:sgln:4012345.00001.0&EQ_bizStep=shipping", True),
        ("WD_readPoint=urn:epc:id:sgln:4012345.00001.0&EQ_bizStep=shipping", True),
        ("EQ_readPoint=urn:epc:id:sgln:4012345.00001.9&EQ_bizStep=shipping", False),
        ("EQ_bizLocation=urn:epc:id:sgln:4012345.00001.0", True),
        ("MATCH_epc=urn:epc:id:sscc:4012345.0000000017&EQ_bizStep=shipping", True),
        ("MATCH_epc=urn:epc:id:sscc:4012345.0000000018&EQ_bizStep=shipping", False),
        ("MATCH_anyEPC=urn:epc:id:sscc:4012345.0000000017&EQ_bizStep=shipping", True),
        ("MATCH_parentID=urn:epc:id:sscc:4012345.0000000017", False),
        ("MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.STRAW-0502&EQ_bizStep=shipping", True),
        ("MATCH_epcClass=urn:epc:idpat:sgtin:4012345.012345.*&EQ_bizStep=shipping", True),
        (
            "MATCH_anyEPCClass=urn:epc:class:lgtin:4012345.012345.STRAW-0502&EQ_bizStep=shipping",
            True,
        ),
        ("MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.OTHER&EQ_bizStep=shipping", False),
        ("MATCH_inputEPCClass=urn:epc:class:lgtin:4012345.012345.STRAW-0502", False),
        (f"EQ_source_owning_party={SUPPLIER}&EQ_bizStep=shipping", True),
        (f"EQ_source_owning_party={CARRIER}&EQ_bizStep=shipping", False),
        (f"EQ_destination_possessing_party={CARRIER}&EQ_bizStep=shipping", True),
        (f"EQ_destination_owning_party={CARRIER}&EQ_bizStep=shipping", False),
        ("EQ_bizTransaction_desadv=urn:epcglobal:cbv:bt:4012345000009:DESADV-7781", True),
        ("EQ_bizTransaction_po=urn:epcglobal:cbv:bt:4012345000009:DESADV-7781", False),
        (f"EQ_eventID={SHIP_ID}|urn:uuid:nothing", True),
    ],
)
def test_each_parameter_finds_the_shipment_or_not(world: World, query: str, hit: bool) -> None:
    assert (SHIP_ID in world.ids(query)) is hit


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("EQ_type=Temperature", True),
        ("EQ_type=https://gs1.org/voc/RelativeHumidity", True),
        ("EQ_type=gs1:Illuminance", False),
        ("GE_maxValue_CEL=9.8", True),  # the aggregate report's maximum
        ("GT_maxValue_CEL=9.8", False),
        ("LT_minValue_CEL=2.2", True),
        ("LE_minValue_CEL=2.0", False),
        ("LT_minValue_KEL=275.35", True),  # 2.2 °C
        ("GE_meanValue_CEL=5.2&LE_meanValue_CEL=5.2", True),
        ("GE_value_CEL=5.0", True),  # 41 °F and 278.15 K read as 5 °C
        ("GT_value_CEL=5.0", False),
        ("LE_value_CEL=4.5", True),
        ("GE_value_P1=91", True),
        ("GE_value_P1=91.5", False),
        ("EQ_deviceID=urn:epc:id:giai:4000001.LOGGER7", True),
    ],
)
def test_sensor_filters_on_the_inspection(world: World, query: str, hit: bool) -> None:
    found = world.events(
        query + "&EQ_bizStep=inspecting&MATCH_epc=urn:epc:id:sscc:4012345.0000000017"
    )
    assert bool(found) is hit


@pytest.mark.parametrize(
    "query",
    [
        "bogus=1",
        "EQ_bizStep=sailing",
        "GE_eventTime=yesterday",
        "GE_eventTime=2024-05-02T00:00:00Z&GE_eventTime=2024-05-03T00:00:00Z",
        "eventType=Nonsense",
        "MATCH_epc=urn:epc:idpat:sgtin:*.1.*",
        "GE_maxValue_CEL=hot",
        "EQ_value_CEL=4",
        "EXISTS_sensorElement=",
        "perPage=-3",
        "nextPageToken=forged.token",
        "orderBy=bizStep",
    ],
)
def test_malformed_or_unknown_parameters_are_query_parameter_exceptions(
    world: World, query: str
) -> None:
    resp = world.get(query)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    assert problem["type"].endswith("/QueryParameterException")
    assert problem["title"] == "QueryParameterException" and problem["field"] in query


def test_more_than_max_event_count_is_query_too_large(world: World) -> None:
    resp = world.get("maxEventCount=2")
    assert resp.status_code == 413 and resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["type"].endswith("/QueryTooLargeException")
    assert resp.json()["title"] == "QueryTooLargeException" and resp.json()["limit"] == 2
    assert (
        len(
            world.events(
                "maxEventCount=2&EQ_bizStep=shipping&eventType=ObjectEvent&"
                + _q(LT_eventTime="2024-01-01T00:00:00Z")
            )
        )
        == 1
    )
    assert len(world.events("eventCountLimit=2")) == 2  # the other limit truncates instead


def test_an_unknown_event_type_in_the_path_is_no_such_name(world: World) -> None:
    resp = world.get(path="/v1/eventTypes/FancyEvent/events")
    assert resp.status_code == 404 and resp.json()["type"].endswith("/NoSuchNameException")
    assert (
        world.get(path="/v1/eventTypes/AggregationEvent/events").json()["epcisBody"][
            "queryResults"
        ]["resultsBody"]["eventList"]
        == []
    )


# Visibility: a key reads the events of the lots its parties took part in.
ALL = {
    SHIP_ID,
    INSPECTION,
    "_:event1",
    "_:event2",
    "urn:uuid:transport-0",
    "urn:uuid:transport-1",
    "urn:uuid:sensor-example",
    "urn:uuid:other-tenant",
}


def _named(world: World, key: dict[str, str]) -> set[str]:
    return {i if not i.startswith("ni:///") else INSPECTION for i in world.ids(key=key)}


def test_staff_read_every_event(world: World) -> None:
    assert _named(world, world.admin) == ALL
    assert _named(world, world.auditor) == ALL


def test_a_chain_reads_its_lots_and_nothing_of_another_tenants(world: World) -> None:
    assert _named(world, world.chain) == {SHIP_ID, INSPECTION, "urn:uuid:sensor-example"}
    assert _named(world, world.tenant) == {"urn:uuid:other-tenant"}
    assert _named(world, world.example) == {
        "_:event1",
        "_:event2",
        "urn:uuid:transport-0",
        "urn:uuid:transport-1",
    }
    # Asking for the other tenant's lot by name finds nothing either.
    assert world.ids(_q(MATCH_epcClass=OTHER_LOT), world.chain) == set()
    assert world.ids(_q(MATCH_epcClass=OTHER_LOT), world.admin) == {"urn:uuid:other-tenant"}


def test_a_party_named_in_a_handover_reads_the_whole_lot(world: World) -> None:
    # The carrier received the shipment; the retailer received it from the carrier at the
    # inspection: both read both events of the lot, and nothing else.
    assert _named(world, world.carrier) == {SHIP_ID, INSPECTION}
    assert _named(world, world.retailer) == {SHIP_ID, INSPECTION}
    # The supplier also captured the sensor example of another of its lots.
    assert _named(world, world.supplier) == {SHIP_ID, INSPECTION, "urn:uuid:sensor-example"}


def test_an_outsider_reads_nothing(world: World) -> None:
    # (A supply-chain key always speaks for a party: api.auth.key_spec.)
    assert world.ids(key=world.outsider) == set()
    assert world.ids(_q(EQ_eventID=SHIP_ID), world.outsider) == set()


def test_keys_of_other_roles_may_not_query(world: World) -> None:
    resp = world.get(key=world.customer)
    assert resp.status_code == 403 and resp.headers["content-type"].startswith(PROBLEM)


def test_a_page_token_does_not_open_another_scope(world: World) -> None:
    resp = world.get("perPage=1", world.admin)
    token = resp.headers["link"].split("nextPageToken=")[1].split(">")[0]
    stolen = world.get(f"nextPageToken={token}", world.outsider)
    assert stolen.status_code == 400
    assert stolen.json()["type"].endswith("/QueryParameterException")
    other_query = world.get(f"nextPageToken={token}&EQ_bizStep=shipping", world.admin)
    assert other_query.status_code == 400


def _pages(world: World, query: str, key: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    resp = world.get(query, key)
    while True:
        assert resp.status_code == 200, resp.text
        yield resp.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = resp.headers.get("link")
        if link is None:
            return
        url, rel = link.split("; ")
        assert rel == 'rel="next"'
        resp = world.client.get(url.strip("<>"), headers=key)


@pytest.mark.parametrize(
    "order",
    ["", "orderBy=eventTime", "orderBy=eventTime&orderDirection=DESC", "orderDirection=DESC"],
)
def test_paging_in_each_order_serves_each_event_once(world: World, order: str) -> None:
    whole = [e["eventID"] for e in world.events(order)]
    paged = [
        e["eventID"] for page in _pages(world, order + "&perPage=3", world.admin) for e in page
    ]
    assert paged == whole and len(set(paged)) == len(ALL)
    if "eventTime" in order:
        times = [e["eventTime"] for e in world.events(order)]
        assert len(times) == len(ALL)


def test_the_openapi_document_lists_the_query(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    op = doc["paths"]["/v1/events"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"GE_eventTime", "EQ_bizStep", "MATCH_epc", "perPage", "nextPageToken"} <= names
    assert {"400", "413"} <= set(op["responses"])
    assert "/v1/eventTypes/{event_type}/events" in doc["paths"]
