"""The lot alert counts a lot's defect claims whichever of its names each was filed by.

One lot goes by its LGTIN URN, its GS1 Digital Link (any host or form) and the bare lot
number printed on the pack. Three customers scanning, typing and pasting those names claim
on one lot: the third raises one alert naming all three. Two companies' lots that share a
bare number stay two lots, and a bare number names neither of them (claims.lot_keys).
Through the public API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import jpeg_bytes, postgres_schema, schema_url, textured
from tests.epcis_events import document, lot_event
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

FARM, RIVAL = "urn:epc:id:pgln:4012345.00000", "urn:epc:id:pgln:4099999.00000"
NOW = datetime.now(UTC).replace(microsecond=0)
_SEEDS = iter(range(100, 10_000))


class Mouldy:
    """The model seam: every photo shows mould, surely; only the same photo looks alike."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        found = (Finding("mold", 0.97, (0.0, 0.0, 9.0, 9.0)),)
        phash = int.from_bytes(hashlib.sha256(data).digest()[:8]) >> 1
        return Inspection(
            image, "0" * 64, 320, 240, QualityReport(True), found, {"version": "t"}, phash
        )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """The app with two companies (the farm's prefix 4012345, the rival's 4099999) and the
    keys of their systems, a customer's app and an auditor."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = schema_url(stack.enter_context(postgres_schema("lot_alert_test")))
        app = create_app(
            Settings(
                data_dir=tmp_path_factory.mktemp("lot_alerts") / "var",
                database_url=url,
                anchor_backend="none",
                rate_limit_per_minute=0,
            )
        )
        app.dependency_overrides[get_predictor] = Mouldy
        client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        keys = {
            "admin": grant(app, "admin"),
            "farm": grant(app, "supply_chain", parties=[FARM]),
            "rival": grant(app, "supply_chain", parties=[RIVAL]),
            "shop": grant(app, "customer_app", customer_id="C-1"),
            "auditor": grant(app, "auditor"),
        }
        for pid, name in ((FARM, "Green Farm"), (RIVAL, "Rival")):
            body = {"id": pid, "role": "supplier", "name": name}
            assert client.post("/v1/parties", json=body, headers=keys["admin"]).is_success
        yield client, keys


def _packed(client: TestClient, key: dict[str, str], lot: str, by: str) -> None:
    """The lot's packing on record, by its supplier."""
    doc = document(lot_event(lot, NOW - timedelta(days=2), "packing", src=by, temps=(3,) * 4))
    assert client.post("/v1/events", json=doc, headers=key).status_code == 201


def _file(client: TestClient, keys: dict[str, dict[str, str]], lot: str) -> dict[str, Any]:
    """A defect claim on ``lot`` (a fresh photo each: none is another's copy)."""
    claim = {
        "order_id": f"O-{next(_SEEDS)}",
        "lot": lot,
        "category": "chilled",
        "line_value": "9.50",
        "currency": "EUR",
        "delivered_at": (NOW - timedelta(hours=2)).isoformat(),
    }
    photo = jpeg_bytes(textured(seed=next(_SEEDS)))
    resp = client.post(
        "/v1/claims",
        files=[("photos", ("p.jpg", photo, "image/jpeg"))],
        data={"claim": json.dumps(claim)},
        headers=keys["shop"],
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _alerted(claim: dict[str, Any]) -> bool:
    return any(r["rule"] == "lot_alert" for r in claim["ticket"]["reasons"])


def _alert(
    client: TestClient, keys: dict[str, dict[str, str]], claim: dict[str, Any]
) -> dict[str, Any]:
    """The ``lot.alert`` ledger entry the claim raised (the entry after its verdict)."""
    index = claim["ledger"]["verdict_index"] + 1
    entry = client.get(f"/v1/ledger/entries/{index}", headers=keys["auditor"]).json()
    assert entry["kind"] == "lot.alert"
    body: dict[str, Any] = entry["body"]
    return body


def test_claims_on_one_lot_by_its_three_names_raise_one_alert(
    shop: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, keys = shop
    _packed(client, keys["farm"], "urn:epc:class:lgtin:4012345.012345.NAMES1", FARM)
    filed = [
        _file(client, keys, name)
        for name in (
            "https://shop.example/01/04012345123456/10/NAMES1",  # the pack's QR code
            "NAMES1",  # typed from the pack
            "urn:epc:class:lgtin:4012345.012345.NAMES1",
        )
    ]
    assert [_alerted(c) for c in filed] == [False, False, True]
    alert = _alert(client, keys, filed[2])
    assert alert["claims"] == [c["id"] for c in filed]
    assert alert["lot"] == "https://id.gs1.org/01/04012345123456/10/NAMES1"
    # A fourth claim on the lot is counted with them, but the alert is not raised again.
    assert not _alerted(_file(client, keys, "http://id.gs1.org/01/04012345123456/10/NAMES1"))


def test_two_companies_lots_sharing_a_number_do_not_pool(
    shop: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """The farm's and the rival's "TWIN1": a claim on the rival's lot is not one on the
    farm's, and the bare number, naming both, is counted with neither."""
    client, keys = shop
    farms = "urn:epc:class:lgtin:4012345.012345.TWIN1"
    _packed(client, keys["farm"], farms, FARM)
    _packed(client, keys["rival"], "urn:epc:class:lgtin:4099999.000001.TWIN1", RIVAL)
    on_farms = [_file(client, keys, farms)]
    others = [
        _file(client, keys, "https://id.gs1.org/01/04099999000012/10/TWIN1"),  # the rival's
        _file(client, keys, "TWIN1"),
    ]
    on_farms += [
        _file(client, keys, "https://shop.example/01/04012345123456/10/TWIN1"),
        _file(client, keys, "https://id.gs1.org/01/04012345123456/10/TWIN1"),
    ]
    assert [_alerted(c) for c in (*on_farms, *others)] == [False, False, True, False, False]
    alert = _alert(client, keys, on_farms[2])
    assert alert["claims"] == [c["id"] for c in on_farms]
    assert alert["lot"] == "https://id.gs1.org/01/04012345123456/10/TWIN1"


def test_claims_by_one_name_still_pool_recorded_or_not(
    shop: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """The same name three times raises the alert as before: a lot URI, and a bare number
    of no lot on record (its own key)."""
    client, keys = shop
    for name in ("urn:epc:class:lgtin:4012345.012345.SAME1", "UNRECORDED-9"):
        filed = [_file(client, keys, name) for _ in range(3)]
        assert [_alerted(c) for c in filed] == [False, False, True]
        assert _alert(client, keys, filed[2])["claims"] == [c["id"] for c in filed]
