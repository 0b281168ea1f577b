"""Who may do what, as a matrix over every route in the OpenAPI document and every role.

Also: what a key is bound to (a customer's claims, a supply chain's parties), role changes,
bad credentials, rate limits, actors named in the ledger, and logs free of keys and ids.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.access import PUBLIC, ROLE_PERMISSIONS, ROUTE_PERMISSIONS, openapi_permissions
from api.auth.keys import ROLES
from api.settings import Settings
from api.web.operations import router as operations_pages
from api.web.pack import router as pack_pages
from api.web.routes import router as workbench
from api.web.stations import router as station_pages
from claims.views import count_claims
from supplychain.epcis.build import ObjectEvent, Quantity, SourceDestination, epcis_document
from tests.api.access import grant
from tests.conftest import jpeg_bytes, scene

FARM, TRUCK = "urn:epc:id:pgln:4000001.00000", "urn:epc:id:pgln:4000003.00000"
OTHER = "urn:epc:id:pgln:4099999.00000"
PROBLEM = "application/problem+json"
BINDINGS: dict[str, dict[str, Any]] = {
    "customer_app": {"customer_id": "C-A"},
    "supply_chain": {"parties": [FARM, TRUCK]},
    "station": {"station_id": "ST-1", "read_point": "urn:epc:id:sgln:4000001.00001.0"},
}
# A body each operation accepts far enough to reach the access check.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/parties"): {"json": {"id": FARM, "role": "supplier", "name": "Farm"}},
    ("post", "/v1/events"): {"json": {}},
    ("post", "/v1/keys"): {"json": {"role": "auditor", "name": "matrix"}},
    ("post", "/v1/inspect"): {},
    ("post", "/v1/claims"): {},
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_app(
        Settings(
            data_dir=tmp_path_factory.mktemp("access") / "var",
            anchor_backend="none",
            anchor_every_entries=1_000_000,
        )
    )


@pytest.fixture(scope="module")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def keys(app: Any, client: TestClient) -> dict[str, dict[str, str]]:
    return {role: grant(app, role, **BINDINGS.get(role, {})) for role in ROLES}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    doc = client.get("/openapi.json").json()
    return [(m, p) for p, ops in doc["paths"].items() for m in ops]


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    concrete = (
        path.replace("{index}", "0")
        .replace("{claim_id}", "nope")
        .replace("{lot}", "LOT-X")
        .replace("{key_id}", "00000000")
        .replace("{position}", "0")  # an int path convertor: only digits route
        .replace("{n}", "0")
    )
    params = {"from": 0, "to": 0} if path.endswith("/consistency") else None
    return client.request(
        method.upper(),
        concrete,
        headers=headers,
        params=params,
        **BODIES.get((method, path), {}),
    )


def _state(app: Any) -> tuple[int, int, int]:
    services = app.state.services
    return services.ledger.size(), count_claims(services.engine), len(services.keys.list())


def _not_in_schema() -> set[tuple[str, str]]:
    """Declared routes the OpenAPI document leaves out: /metrics, the workbench's pages and
    a pack's public page (GS1 Digital Link paths under /01/)."""
    return {("get", "/metrics")} | {
        (m, p)
        for m, p in openapi_permissions()
        if p == "/review" or p.startswith(("/review/", "/01/"))
    }


def test_every_route_in_the_document_declares_a_permission(client: TestClient) -> None:
    declared = openapi_permissions()
    undeclared = [op for op in _operations(client) if op not in declared]
    assert undeclared == [], "add these to ROUTE_PERMISSIONS in api/auth/access.py"
    # ...and the table names no route that does not exist (a typo would leave one open).
    assert set(declared) - set(_operations(client)) == _not_in_schema()
    # The workbench's and the pack's pages exist, each declared: only kept out of the document.
    pages = {
        # As the document names paths: a path-convertor parameter by its name alone.
        (m.lower(), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", r.path))
        for r in [
            *workbench.routes,
            *station_pages.routes,
            *operations_pages.routes,
            *pack_pages.routes,
        ]
        for m in getattr(r, "methods", ())
    }
    assert pages == _not_in_schema() - {("get", "/metrics")}


def test_the_document_declares_the_key_scheme_and_who_may_call(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for (method, path), permission in openapi_permissions().items():
        if (method, path) in _not_in_schema():
            continue
        op = doc["paths"][path][method]
        assert op["x-permission"] == str(permission)
        if permission is PUBLIC:
            assert op["security"] == []
        else:
            assert op["security"] == [{"apiKey": []}]
            assert {"401", "403", "429"} <= set(op["responses"])


def test_the_matrix(app: Any, client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """Each route, each role, and no key: 401 without, 403 for the wrong role, else through."""
    permissions = openapi_permissions()
    failures = []
    for method, path in [*_operations(client), ("get", "/metrics")]:
        permission = permissions[(method, path)]
        for role in (None, *ROLES):
            before = _state(app)
            resp = _call(client, method, path, keys[role] if role else {})
            allowed = permission is PUBLIC or (
                role is not None and permission in ROLE_PERMISSIONS[role]
            )
            if allowed:
                ok = resp.status_code not in (401, 403) or (
                    # Allowed, then refused for what the key is bound to: its own parties.
                    resp.status_code == 403 and "speaks for" in resp.text
                )
            else:
                ok = resp.status_code == (401 if role is None else 403)
                ok = ok and resp.headers["content-type"].startswith(PROBLEM)
                # A refused call changes nothing: no entry, no claim, no key.
                ok = ok and _state(app) == before
            if not ok:
                failures.append((method.upper(), path, role, resp.status_code, resp.text[:120]))
    assert failures == []


def test_without_a_key_the_answer_says_how_to_authenticate(client: TestClient) -> None:
    resp = client.get("/v1/claims")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["type"].endswith("/credentials-required")
    basic = client.get("/v1/claims", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-key", "malformed"),
        ("fpk_0000000_" + "a" * 43, "malformed"),
        ("fpk_00000000_" + "a" * 43, "unknown"),
    ],
)
def test_bad_keys_are_401_problems(client: TestClient, token: str, reason: str) -> None:
    resp = client.get("/v1/claims", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and resp.json()["reason"] == reason
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_revoked_and_expired_keys_are_refused(app: Any, client: TestClient) -> None:
    store = app.state.services.keys
    token, record = store.create(role="auditor", name="short-lived", created_by="tests")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/claims", headers=headers).status_code == 200
    admin = grant(app, "admin")
    gone = client.delete(f"/v1/keys/{record.key_id}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_by"].endswith("(admin)")
    resp = client.get("/v1/claims", headers=headers)
    assert (resp.status_code, resp.json()["reason"]) == (401, "revoked")
    token, _ = store.create(
        role="auditor", name="expired", created_by="tests", expires_in=timedelta(seconds=1)
    )
    time.sleep(1.1)
    resp = client.get("/v1/claims", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json()["reason"]) == (401, "expired")


def test_keys_are_created_by_an_admin_shown_once_and_listed_without_secrets(
    app: Any, client: TestClient
) -> None:
    admin = grant(app, "admin")
    made = client.post(
        "/v1/keys",
        headers=admin,
        json={"role": "customer_app", "name": "Shop app", "customer_id": "C-NEW"},
    )
    assert made.status_code == 201
    token = made.json()["key"]
    listing = client.get("/v1/keys", headers=admin)
    assert token not in listing.text and made.json()["key_id"] in listing.text
    bad = client.post("/v1/keys", headers=admin, json={"role": "customer_app", "name": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "customer_id"
    entry = app.state.services.ledger.entry(app.state.services.ledger.size() - 1)
    assert entry.kind == "key.created" and entry.body["actor"].endswith("(admin)")
    assert token not in json.dumps(entry.body)


def _claim(client: TestClient, headers: dict[str, str], **extra: Any) -> Any:
    claim = {
        "order_id": "O-ACCESS",
        "lot": "LOT-NONE",
        "category": "chilled",
        "line_value": "4.00",
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **extra,
    }
    return client.post(
        "/v1/claims",
        headers=headers,
        files=[("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )


def test_a_customer_app_sees_only_its_customers_claims(app: Any, client: TestClient) -> None:
    a = grant(app, "customer_app", customer_id="C-ONE")
    b = grant(app, "customer_app", customer_id="C-TWO")
    filed = _claim(client, a)
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    assert claim["customer_id"] == "C-ONE"  # filled in from the key
    assert client.get(f"/v1/claims/{claim['id']}", headers=a).status_code == 200
    # Another customer's claim is "not found", exactly like an id that does not exist.
    other = client.get(f"/v1/claims/{claim['id']}", headers=b)
    absent = client.get("/v1/claims/0123456789abcdef", headers=b)
    assert other.status_code == absent.status_code == 404
    assert other.json()["title"] == absent.json()["title"]
    assert claim["id"] not in client.get("/v1/claims", headers=b).text
    assert claim["id"] in client.get("/v1/claims", headers=a).text
    assert claim["id"] in client.get("/v1/claims", headers=grant(app, "auditor")).text
    # The evidence entry names who filed it.
    entry = app.state.services.ledger.entry(claim["ledger"]["evidence_index"])
    assert entry.body["filed_by"].endswith("(customer_app)")


def test_a_customer_app_cannot_file_for_another_customer(app: Any, client: TestClient) -> None:
    one = grant(app, "customer_app", customer_id="C-ONE")
    before = _state(app)
    resp = _claim(client, one, customer_id="C-TWO")
    assert resp.status_code == 403 and resp.headers["content-type"].startswith(PROBLEM)
    assert _state(app)[:2] == before[:2]


def test_parties_a_supply_chain_may_register_and_roles_only_an_admin_may_change(
    app: Any, client: TestClient
) -> None:
    supply = grant(app, "supply_chain", parties=[FARM])
    body = {"id": FARM, "role": "supplier", "name": "Farm"}
    assert client.post("/v1/parties", headers=supply, json=body).status_code == 201
    ledger = app.state.services.ledger
    size = ledger.size()
    # Not a party this key speaks for.
    other = client.post("/v1/parties", headers=supply, json={**body, "id": OTHER})
    assert other.status_code == 403
    # Its own party, but a new role: roles decide verdicts, so only an admin may.
    flip = client.post("/v1/parties", headers=supply, json={**body, "role": "customer"})
    assert flip.status_code == 403 and flip.json()["type"].endswith("/role-change-refused")
    assert ledger.size() == size
    admin = client.post(
        "/v1/parties", headers=grant(app, "admin"), json={**body, "role": "carrier"}
    )
    assert admin.status_code == 201 and admin.json()["role"] == "carrier"
    entry = ledger.entry(ledger.size() - 1)
    assert entry.kind == "party.updated" and entry.body["actor"].endswith("(admin)")
    assert entry.body["previous"]["role"] == "supplier"


def _doc(src: str) -> dict[str, Any]:
    event = ObjectEvent(
        event_time=datetime.now(UTC) - timedelta(hours=1),
        biz_step="shipping",
        quantities=(Quantity("urn:epc:class:lgtin:4000001.012345.ACC-1", 1),),
        sources=(SourceDestination(src),),
    )
    return epcis_document([event], creation_date=datetime.now(UTC))


def test_a_supply_chain_captures_events_of_its_own_parties_only(
    app: Any, client: TestClient
) -> None:
    supply = grant(app, "supply_chain", parties=[TRUCK])
    ledger = app.state.services.ledger
    size = ledger.size()
    refused = client.post("/v1/events", headers=supply, json=_doc(OTHER))
    assert refused.status_code == 403 and "event 0" in refused.json()["detail"]
    assert ledger.size() == size
    ok = client.post("/v1/events", headers=supply, json=_doc(TRUCK))
    assert ok.status_code == 201
    entry = ledger.entry(ok.json()["appended"][0]["ledger_index"])
    assert entry.body["captured_by"].endswith("(supply_chain)")


def test_a_key_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            data_dir=tmp_path / "var",
            anchor_backend="none",
            rate_limit_per_minute=6,
            rate_limit_burst=2,
        )
    )
    with TestClient(app) as c:
        auditor = grant(app, "auditor")
        codes = [c.get("/v1/claims", headers=auditor).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.get("/v1/claims", headers=auditor)
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"].startswith(PROBLEM)
        # Per key: another key is not slowed by the first one's burst.
        assert c.get("/v1/claims", headers=grant(app, "auditor")).status_code == 200


def test_logs_carry_no_keys_and_no_customer_ids(
    app: Any, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token_headers = grant(app, "customer_app", customer_id="C-SECRET-7")
    token = token_headers["Authorization"].split()[1]
    caplog.set_level(logging.DEBUG)
    _claim(client, token_headers)
    client.get("/v1/claims", headers=token_headers)
    client.get("/v1/ledger/entries/0", headers=token_headers)  # a 403, logged or not
    client.get("/v1/claims", headers={"Authorization": f"Bearer {token[:-1]}x"})  # a 401
    _claim(client, token_headers, customer_id="C-OTHER-9")  # a 403
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in text and token[:-1] not in text
    assert "C-SECRET-7" not in text and "C-OTHER-9" not in text


def test_route_table_keys_are_real_methods() -> None:
    assert {m for m, _ in ROUTE_PERMISSIONS} <= {"GET", "POST", "DELETE"}
