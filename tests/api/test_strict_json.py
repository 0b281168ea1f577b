"""One strict JSON reader for every body (issue 22, item 9).

Python's ``json`` keeps the last of two equal keys, so ``{"role": "auditor", "role":
"admin"}`` made an admin key, a claim with two ``line_value``s was filed at the second, and
a decision with ``"compensation": "deny", "compensation": "approve"`` paid. Every JSON
body, the claim's multipart part and EPCIS documents now go through ``supplychain.strict_json``,
which refuses duplicate keys, NaN/Infinity and deep nesting, naming where.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.settings import Settings
from claims.compensation import payments
from supplychain import epcis
from supplychain.epcis import EPCISDocumentError, parse_document
from supplychain.strict_json import MAX_DEPTH, InvalidJSONError, loads
from tests.api.access import grant
from tests.conftest import jpeg_bytes, scene

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}

# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize(
    ("text", "fault", "path", "words"),
    [
        ('{"role": "auditor", "role": "admin"}', "duplicate-key", ("role",), "duplicate key"),
        ('{"a": [1, {"b": 1, "b": 1}]}', "duplicate-key", ("a", 1, "b"), "at $.a[1]"),
        ('{"v": NaN}', "number", ("v",), "NaN"),
        ('{"v": [Infinity]}', "number", ("v", 0), "Infinity"),
        ('{"v": -Infinity}', "number", ("v",), "-Infinity"),
        ('{"v": 1E+999999}', "number", ("v",), "1E+999999"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "depth", (0,) * MAX_DEPTH, "deeper"),
        # Beyond what Python's parser recurses into: refused all the same, with no path.
        ('{"a":' * 5000 + "1" + "}" * 5000, "depth", (), "deeper"),
        ("{not json", "syntax", (), "not JSON"),
        (b'{"a": "\xff"}', "encoding", (), "not UTF-8"),
    ],
)
def test_the_reader_refuses_naming_what_and_where(
    text: str | bytes, fault: str, path: tuple[Any, ...], words: str
) -> None:
    with pytest.raises(InvalidJSONError) as refused:
        loads(text)
    assert (refused.value.fault, refused.value.path) == (fault, path)
    assert words in refused.value.reason


def test_the_reader_accepts_what_json_means() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested) is not None
    assert loads(b'\xef\xbb\xbf{"a": [1, 2.5, "x", null, true]}') == {
        "a": [1, 2.5, "x", None, True]
    }
    # Equal keys in different objects are not duplicates.
    assert loads('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


def test_epcis_documents_are_read_by_the_same_reader() -> None:
    # One reader, not two: no module of EPCIS keeps a JSON parser of its own.
    modules = [
        epcis,
        *(
            importlib.import_module(f"{epcis.__name__}.{m.name}")
            for m in pkgutil.iter_modules(epcis.__path__)
        ),
    ]
    assert not [m.__name__ for m in modules if hasattr(m, "json")]
    with pytest.raises(EPCISDocumentError) as refused:
        parse_document(b'{"type": "EPCISDocument", "epcisBody": {"a": 1, "a": 2}}')
    [error] = refused.value.errors
    assert "duplicate key 'a' in the object at $.epcisBody" in error.reason


# --------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    app = create_app(
        Settings(
            data_dir=tmp_path_factory.mktemp("strict") / "var",
            anchor_backend="none",
            anchor_every_entries=10**6,
        )
    )
    with TestClient(app, raise_server_exceptions=False):
        yield app


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _refused(resp: Any, field: str, words: str) -> dict[str, Any]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["field"] == field and words in body["detail"], body
    return body


def test_a_duplicate_role_makes_no_key(app: Any, client: TestClient) -> None:
    admin = grant(app, "admin")
    keys, size = len(app.state.services.keys.list()), app.state.services.ledger.size()
    raw = b'{"role": "auditor", "role": "admin", "name": "two roles"}'
    # Before: 201, an admin key (the last "role" won).
    resp = client.post("/v1/keys", headers={**admin, **JSON}, content=raw)
    _refused(resp, "body.role", "duplicate key 'role'")
    assert len(app.state.services.keys.list()) == keys
    assert app.state.services.ledger.size() == size


def test_nan_and_deep_nesting_in_a_body_are_refused(app: Any, client: TestClient) -> None:
    admin = grant(app, "admin")
    nan = client.post(
        "/v1/keys", headers={**admin, **JSON}, content=b'{"role": "auditor", "name": NaN}'
    )
    _refused(nan, "body.name", "NaN")
    deep = b'{"role": "auditor", "name": "x", "parties": ' + b"[" * 70 + b"]" * 70 + b"}"
    resp = client.post("/v1/keys", headers={**admin, **JSON}, content=deep)
    _refused(resp, "body.parties.0.0.0.0.0.0.0", "nested deeper than 64 levels")


def _claim(**extra: Any) -> dict[str, Any]:
    return {
        "order_id": "O-STRICT",
        "lot": f"NO-RECORDS-{datetime.now(UTC).timestamp()}",
        "category": "chilled",
        "line_value": "12.50",
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        **extra,
    }


def _file(client: TestClient, customer: dict[str, str], part: str) -> Any:
    return client.post(
        "/v1/claims",
        headers=customer,
        files=[("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))],
        data={"claim": part},
    )


def _claims_count(app: Any) -> int:
    from claims.views import count_claims

    return int(count_claims(app.state.services.engine))


def test_a_claim_with_two_line_values_is_not_filed(app: Any, client: TestClient) -> None:
    customer = grant(app, "customer_app", customer_id="C-STRICT")
    part = json.dumps(_claim()).replace(
        '"line_value": "12.50"', '"line_value": "1.00", "line_value": "900.00"'
    )
    before = _claims_count(app)
    # Before: 201, filed at 900.00.
    body = _refused(_file(client, customer, part), "claim.line_value", "duplicate key")
    assert body["type"].endswith("/invalid-claim")
    assert _claims_count(app) == before


def _paid(app: Any) -> int:
    with app.state.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(payments)).scalar_one())


def test_a_decision_with_two_compensations_pays_nothing(app: Any, client: TestClient) -> None:
    customer = grant(app, "customer_app", customer_id="C-STRICT-2")
    filed = _file(client, customer, json.dumps(_claim()))
    assert (
        filed.status_code == 201 and filed.json()["verdict"]["responsible_party"] == "undetermined"
    )
    judge = grant(app, "adjudicator")
    raw = (
        b'{"party": "confirm", "reason": "Checked the photos.", '
        b'"compensation": "deny", "compensation": "approve"}'
    )
    paid, size = _paid(app), app.state.services.ledger.size()
    resp = client.post(
        f"/v1/claims/{filed.json()['id']}/decision", headers={**judge, **JSON}, content=raw
    )
    # Before: 200, and the claim was paid ("approve" won).
    _refused(resp, "body.compensation", "duplicate key 'compensation'")
    assert (_paid(app), app.state.services.ledger.size()) == (paid, size)
    seen = client.get(f"/v1/claims/{filed.json()['id']}", headers=customer).json()
    assert seen["status"] != "resolved"


def test_an_ordinary_body_is_still_read(app: Any, client: TestClient, tmp_path: Path) -> None:
    admin = grant(app, "admin")
    made = client.post("/v1/keys", headers=admin, json={"role": "auditor", "name": "plain"})
    assert made.status_code == 201 and made.json()["role"] == "auditor"
