"""The API's edge against careless and hostile clients: a clear 4xx, and nothing written.

Each case here was a defect found by trying the service as such a client: a 500, a stuck
idempotency row, or a value stored that should have been refused. Every refusal is asserted
on its status, its problem body (naming the field), and on the database, the ledger and the
evidence store being exactly as before.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.seeded import EPCIS, LOT, as_role, seeded_client, stored_state
from tests.conftest import REPO

PROBLEM = "application/problem+json"
PHOTO = (REPO / "datasets" / "fixtures" / "swollen_pouch.jpg").read_bytes()
GOOD: dict[str, Any] = {
    "order_id": "7781",
    "lot": LOT,
    "category": "chilled",
    "line_value": "12.50",
    "currency": "EUR",
    "delivered_at": "2024-05-02T10:00:00Z",
}


def SUPPLY(client: TestClient) -> dict[str, str]:
    return as_role(client, "supply_chain")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with seeded_client(tmp_path_factory.mktemp("edge") / "var", epcis_max_events=50) as c:
        yield c


def _file(client: TestClient, claim: str, *, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        "/v1/claims",
        files=[("photos", ("p.jpg", PHOTO, "image/jpeg"))],
        data={"claim": claim},
        headers=headers,
    )


def _refused(resp: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["type"].startswith("https://")
    assert "Traceback" not in resp.text
    if field is not None:
        assert body["field"] == field, body
    return body


# ---------------------------------------------------------------- Idempotency-Key


def test_an_empty_idempotency_key_is_a_400_and_leaves_filing_working(client: TestClient) -> None:
    before = stored_state(client)
    for _ in range(2):  # the second used to be a 500 behind the first's stored "" key
        body = _refused(_file(client, json.dumps(GOOD), key=""), 400, "Idempotency-Key")
        assert body["type"].endswith("/invalid-idempotency-key") and "empty" in body["detail"]
    assert stored_state(client) == before
    first = _file(client, json.dumps(GOOD | {"order_id": "k-1"}), key="order-k-1")
    assert first.status_code == 201, first.text
    again = _file(client, json.dumps(GOOD | {"order_id": "k-1"}), key="order-k-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    plain = _file(client, json.dumps(GOOD | {"order_id": "k-2"}))
    assert plain.status_code == 201


@pytest.mark.parametrize("key", ["a" * 201, "has space", "ключ", 'quote"d', "semi;colon"])
def test_an_idempotency_key_outside_the_documented_alphabet_is_a_400(
    client: TestClient, key: str
) -> None:
    before = stored_state(client)
    headers = {"Idempotency-Key": key.encode("utf-8")}  # raw bytes: UTF-8 sent as is
    resp = client.post(
        "/v1/claims",
        files=[("photos", ("p.jpg", PHOTO, "image/jpeg"))],
        data={"claim": json.dumps(GOOD)},
        headers=headers,
    )
    _refused(resp, 400, "Idempotency-Key")
    assert stored_state(client) == before


# ---------------------------------------------------------------- claim values

# Each was a 500, or stored when it should not have been.
BAD_VALUES = [
    ("line_value", "NaN"),
    ("line_value", "sNaN"),
    ("line_value", "Infinity"),
    ("line_value", "-Infinity"),
    ("line_value", "1E+999999"),
    ("line_value", 1e20),
    ("line_value", "10000000000.00"),  # beyond Numeric(12, 2)
    ("line_value", "12.505"),
    # Python's Decimal reads these; a probe of a served instance filed them as 1000.00,
    # 12.50, 1000.00 and 12.00.
    ("line_value", "1e3"),
    ("line_value", "125e-1"),
    ("line_value", "1_000"),
    ("line_value", "\u0661\u0662"),  # Arabic-Indic "12"
    ("line_value", " 12.50"),
    ("line_value", 0),
    ("line_value", True),
    ("delivered_at", "0001-01-01T00:00:00Z"),
    ("delivered_at", "2024-05-02T10:00:00"),  # no offset
    ("delivered_at", "yesterday"),
    ("customer_id", {"id": 1}),
    ("customer_id", ["a"]),
    ("customer_id", "x" * 100_000),
    ("description", {"text": "x"}),
    ("description", ["x"]),
    ("description", "x" * 4001),
    ("description", "rotten\x00"),
    ("description", "\x1b[2J\x1b[31mFAKE"),
    ("description", "invoice \u202efdp.exe"),
    ("order_id", {"id": "7781"}),
    ("order_id", 7781),
    ("order_id", "   "),
    ("order_id", "77\n81"),
    ("currency", "XYZ"),
    ("category", "Chilled; DROP TABLE"),
    ("lot", ""),
    ("unexpected", "field"),
]


@pytest.mark.parametrize(
    ("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}"[:40] for f, v in BAD_VALUES]
)
def test_a_bad_claim_value_is_a_422_naming_its_field_before_anything_is_stored(
    client: TestClient, field: str, value: Any
) -> None:
    before = stored_state(client)
    body = _refused(_file(client, json.dumps(GOOD | {field: value})), 422, f"claim.{field}")
    assert body["type"].endswith("/invalid-claim")
    assert any(e["field"] == f"claim.{field}" for e in body["errors"])
    assert stored_state(client) == before


def test_a_json_literal_nan_and_a_huge_exponent_are_422s(client: TestClient) -> None:
    before = stored_state(client)
    for raw in ('"line_value": NaN', '"line_value": Infinity', '"line_value": 1E+999999'):
        claim = json.dumps(GOOD).replace('"line_value": "12.50"', raw)
        _refused(_file(client, claim), 422, "claim.line_value")
    _refused(_file(client, "not json"), 422, "claim")
    _refused(_file(client, "[1, 2]"), 422, "claim")
    assert stored_state(client) == before


def test_a_future_delivery_is_refused_and_a_printable_description_kept(client: TestClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _refused(_file(client, json.dumps(GOOD | {"delivered_at": future})), 422, "claim.delivered_at")
    text = "Zerdrückt 🍓‍ und\nnass\tüberall"
    claim = GOOD | {"order_id": "t-1", "description": text, "currency": "eur"}
    filed = _file(client, json.dumps(claim))
    assert filed.status_code == 201 and filed.json()["description"] == text
    # A lowercase code is read as the ISO 4217 code it spells, and stored as such.
    assert filed.json()["line_value"] == "12.50" and filed.json()["currency"] == "EUR"


# ---------------------------------------------------------------- parties


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "pirate"),
        ("role", ["supplier"]),
        ("id", "urn:epc:id:pgln:4012345.00000.\x00"),
        ("id", "urn:epc:id:pgln:4012345." + "0" * 300),
        ("name", "Farm\x1b[0m"),
        ("name", "x" * 201),
        ("name", {"n": 1}),
    ],
)
def test_a_bad_party_is_refused_naming_its_field(
    client: TestClient, field: str, value: Any
) -> None:
    before = stored_state(client)
    body = {"id": "urn:epc:id:pgln:4099999.00000", "role": "supplier", "name": "New Farm"}
    resp = client.post("/v1/parties", json=body | {field: value}, headers=as_role(client, "admin"))
    problem = _refused(resp, 422)
    assert problem["field"].split(".")[-1] == field
    assert stored_state(client) == before


# ---------------------------------------------------------------- EPCIS capture


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EPCIS.read_text())
    doc.update(changes)
    return doc


def _future_doc() -> dict[str, Any]:
    doc = _doc()
    event = copy.deepcopy(doc["epcisBody"]["eventList"][0])
    event["eventTime"] = "2999-01-01T00:00:00.000Z"
    event["eventTimeZoneOffset"] = "+00:00"
    event.pop("eventID", None)
    doc["epcisBody"]["eventList"] = [event]
    return doc


def test_an_event_dated_in_the_future_is_refused_naming_it(client: TestClient) -> None:
    before = stored_state(client)
    problem = _refused(client.post("/v1/events", json=_future_doc(), headers=SUPPLY(client)), 422)
    assert problem["type"].endswith("/invalid-epcis")
    (error,) = problem["errors"]
    assert error["event_index"] == 0 and error["field"].endswith("eventTime")
    assert "future" in error["reason"]
    assert stored_state(client) == before


def test_a_document_over_the_event_limit_is_a_413_and_appends_nothing(client: TestClient) -> None:
    before = stored_state(client)
    doc = _doc()
    template = doc["epcisBody"]["eventList"][0]
    events = []
    for i in range(51):
        e = copy.deepcopy(template)
        e.pop("eventID", None)
        e["eventTime"] = f"2024-05-01T{i // 60:02d}:{i % 60:02d}:00.000Z"
        events.append(e)
    doc["epcisBody"]["eventList"] = events
    resp = client.post("/v1/events", json=doc, headers=SUPPLY(client))
    problem = _refused(resp, 413)
    assert problem["type"].endswith("/too-many-events")
    assert (problem["limit"], problem["actual"]) == (50, 51)
    assert resp.headers["GS1-EPCIS-Capture-Limit"] == "50"
    assert stored_state(client) == before
    doc["epcisBody"]["eventList"] = events[:50]
    ok = client.post("/v1/events", json=doc, headers=SUPPLY(client))
    assert ok.status_code == 201 and len(ok.json()["appended"]) == 50
    assert ok.headers["GS1-EPCIS-Capture-Limit"] == "50"


MALFORMED_EPCIS: list[tuple[str, bytes, str, int]] = [
    ("not JSON", b"{not json", "application/json", 422),
    ("empty body", b"", "application/json", 422),
    ("an array", b"[]", "application/json", 422),
    ("a string", b'"EPCISDocument"', "application/json", 422),
    (
        "NaN in a reading",
        json.dumps(_doc()).replace('"value": 4.5', '"value": NaN').encode(),
        "application/json",
        422,
    ),
    (
        "duplicate keys",
        b'{"type": "EPCISDocument", "type": "EPCISQueryDocument"}',
        "application/json",
        422,
    ),
    ("not UTF-8", b'{"type": "\xff\xfe"}', "application/json", 422),
    ("wrong type", json.dumps(_doc(type="EPCISQueryDocument")).encode(), "application/json", 422),
    ("no body", json.dumps(_doc(epcisBody=None)).encode(), "application/json", 422),
    (
        "eventList not a list",
        json.dumps(_doc(epcisBody={"eventList": {}})).encode(),
        "application/json",
        422,
    ),
    ("schemaVersion 1.2", json.dumps(_doc(schemaVersion="1.2")).encode(), "application/json", 422),
    ("bad creationDate", json.dumps(_doc(creationDate="soon")).encode(), "application/json", 422),
    ("form-encoded", b"type=EPCISDocument", "application/x-www-form-urlencoded", 415),
    ("XML", b"<epcis:EPCISDocument/>", "application/xml", 415),
    ("deeply nested", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", 422),
]


@pytest.mark.parametrize(
    ("name", "body", "media", "status"), MALFORMED_EPCIS, ids=[m[0] for m in MALFORMED_EPCIS]
)
def test_a_malformed_epcis_document_is_a_problem_and_appends_nothing(
    client: TestClient, name: str, body: bytes, media: str, status: int
) -> None:
    before = stored_state(client)
    resp = client.post(
        "/v1/events", content=body, headers={"content-type": media, **SUPPLY(client)}
    )
    _refused(resp, status)
    assert stored_state(client) == before


# ---------------------------------------------------------------- HTTP and OpenAPI


def test_405_names_every_method_of_the_path(client: TestClient) -> None:
    resp = client.delete("/v1/claims")
    _refused(resp, 405)
    assert resp.headers["Allow"] == "GET, POST"
    assert client.put("/v1/ledger/anchors").headers["Allow"] == "GET, POST"


def test_unknown_lot_on_a_trace_is_a_404_problem(client: TestClient) -> None:
    body = _refused(client.get("/v1/lots/NO-SUCH-LOT/trace", headers=SUPPLY(client)), 404)
    assert body["type"].endswith("/unknown-lot")


def test_huge_ledger_indices_are_422_not_500(client: TestClient) -> None:
    _refused(client.get(f"/v1/ledger/entries/{10**30}", headers=as_role(client, "admin")), 422)
    _refused(client.get(f"/v1/ledger/consistency?from=0&to={10**30}"), 422)


def test_the_openapi_document_describes_every_problem(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            assert "500" in responses, (method, path)
            for status, answer in responses.items():
                if int(status) >= 400:
                    assert list(answer["content"]) == [PROBLEM], (method, path, status)
            if "requestBody" in op:
                assert {"400", "413"} <= set(responses), (method, path)
    claims = doc["paths"]["/v1/claims"]["post"]
    assert {"400", "409", "413", "422"} <= set(claims["responses"])
    part = doc["components"]["schemas"]["Body_create_claim_v1_claims_post"]["properties"]["claim"]
    assert part["contentSchema"] == {"$ref": "#/components/schemas/Claim"}
    claim = doc["components"]["schemas"]["Claim"]
    assert claim["additionalProperties"] is False
    assert claim["properties"]["customer_id"]["anyOf"][0]["maxLength"] == 100
    role = doc["components"]["schemas"]["PartyIn"]["properties"]["role"]
    assert set(role["enum"]) == {"supplier", "warehouse", "carrier", "customer", "retailer"}
    events = doc["paths"]["/v1/events"]["post"]
    assert set(events["requestBody"]["content"]) == {"application/json", "application/ld+json"}
    assert {"413", "415", "422"} <= set(events["responses"])
