"""Every keyed GET route, called by each bound key with the other tenant's ids.

Two tenants of each bound kind: two customers with a claim each, two unrelated supply-chain
parties with a lot each, two stations with a batch each. Tenant two's keys ask for tenant
one's claim, photo, lot, ledger entries, batch and items on every route whose permission
needs a key; no answer that gets through (2xx) may carry anything of tenant one's. A route
added to ``ROUTE_PERMISSIONS`` with a path parameter this test does not know fails here,
naming it, until its tenant-one value is added to ``IDS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.access import ROUTE_PERMISSIONS, Permission
from api.deps import get_predictor
from api.settings import Settings
from tests.api.access import grant
from tests.api.test_tenancy import _Either
from tests.conftest import jpeg_bytes, scene
from tests.epcis_events import document, lot_event
from tests.stations.test_batches import PHOTOS

PARTY_1, PARTY_2 = "urn:epc:id:pgln:4011111.00000", "urn:epc:id:pgln:4022222.00000"
LOT_1, LOT_2 = (
    "urn:epc:class:lgtin:4011111.011111.XT1",
    "urn:epc:class:lgtin:4022222.022222.XT2",
)
DOCK_1 = ("DOCK-1", "urn:epc:id:sgln:4000002.00001.0")
DOCK_2 = ("DOCK-2", "urn:epc:id:sgln:4000002.00002.0")
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
# Which key asks, of tenant two's.
INTRUDERS = ("customer_app", "supply_chain", "station")
# Keyed routes whose answer is every tenant's by the README's role table: a station reads
# any lot's trace ("read lot traces").
SHARED = {("station", ("GET", "/v1/lots/{lot:path}/trace"))}
# No key, or the workbench's session: not a bound key's business.
UNKEYED = {Permission.PUBLIC, Permission.PUBLIC_PAGE, Permission.WEB_SESSION}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app, its client, tenant two's keys, tenant one's ids and what marks its data."""
    tmp: Path = tmp_path_factory.mktemp("cross-tenant")
    settings = Settings(
        data_dir=tmp / "var", anchor_backend="none", station_sync_items=3, station_max_items=16
    )
    app = create_app(settings)
    app.dependency_overrides[get_predictor] = _Either
    app.state.predictor = _Either()
    with TestClient(app, raise_server_exceptions=False) as client:
        chain = [grant(app, "supply_chain", parties=[p]) for p in (PARTY_1, PARTY_2)]
        shops = [grant(app, "customer_app", customer_id=c) for c in ("C-1", "C-2")]
        docks = [grant(app, "station", station_id=s, read_point=r) for s, r in (DOCK_1, DOCK_2)]
        for key, party, lot in ((chain[0], PARTY_1, LOT_1), (chain[1], PARTY_2, LOT_2)):
            body = {"id": party, "role": "supplier", "name": party[-13:]}
            assert client.post("/v1/parties", json=body, headers=key).status_code == 201
            doc = document(
                lot_event(lot, T0, "packing", src=party, temps=(3,) * 4),
                lot_event(lot, T0 + timedelta(hours=1), "inspecting", src=party),
            )
            assert client.post("/v1/events", json=doc, headers=key).status_code == 201
        # Tenant one's receipt of tenant two's lot, which tenant two has not shipped (yet): held.
        receipt = lot_event(LOT_2, T0 + timedelta(hours=2), "receiving", src=PARTY_2, dst=PARTY_1)
        held = client.post("/v1/events", json=document(receipt), headers=chain[0])
        assert held.status_code == 202, held.text
        claims = [
            _claim(client, shops[0], LOT_1, seed=61),
            _claim(client, shops[1], LOT_2, seed=62),
        ]
        for dock, serial in ((docks[0], 7100), (docks[1], 7200)):
            # Two items the model is unsure of: a station's batch with items left to people.
            _batch(client, dock, f"batch-{serial}", serial)
        one = claims[0]
        yield {
            "client": client,
            "keys": {"customer_app": shops[1], "supply_chain": chain[1], "station": docks[1]},
            "ids": {
                "claim_id": one["id"],
                "lot": LOT_1,
                "index": str(one["ledger"]["evidence_index"]),
                "batch_id": "batch-7100",
                "position": "0",
                "n": "0",
                "held_id": held.json()["held"],
            },
            "marks": (
                one["id"],
                "C-1",
                one["photos"][0]["sha256"],
                LOT_1,
                PARTY_1,
                DOCK_1[0],
                "batch-7100",
                "012345.7100",
            ),
            "unknown_claim": "0" * 32,
        }


def _claim(client: TestClient, shop: dict[str, str], lot: str, *, seed: int) -> dict[str, Any]:
    claim = {
        "order_id": f"o-{seed}",
        "lot": lot,
        "category": "chilled",
        "line_value": "9.90",
        "currency": "EUR",
        "delivered_at": (T0 + timedelta(days=1)).isoformat(),
    }
    resp = client.post(
        "/v1/claims",
        files=[("photos", ("p.jpg", jpeg_bytes(scene(seed=seed)), "image/jpeg"))],
        data={"claim": json.dumps(claim)},
        headers=shop,
    )
    assert resp.status_code == 201, resp.text
    filed: dict[str, Any] = resp.json()
    return filed


def _batch(client: TestClient, dock: dict[str, str], batch_id: str, serial: int) -> None:
    items = [
        {"epc": f"urn:epc:id:sgtin:4000001.012345.{serial + i}", "kind": "package", "photos": [i]}
        for i in range(2)
    ]
    resp = client.post(
        "/v1/stations/batches",
        headers=dock,
        files=[("photos", (f"p{i}.jpg", PHOTOS["unsure"], "image/jpeg")) for i in range(2)],
        data={"batch": json.dumps({"batch_id": batch_id, "items": items})},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["counts"]["manual"] == 2


def _urls(path: str, ids: dict[str, str]) -> list[str]:
    """The route with tenant one's ids, and the query variants that name its lot."""
    missing = [n for n in re.findall(r"\{(\w+)", path) if n not in ids]
    assert not missing, f"{path}: add tenant one's {missing} to the fixture's ids"
    url = re.sub(r"\{(\w+)(?::[^}]+)?\}", lambda m: ids[m.group(1)], path)
    if path in ("/v1/events", "/v1/eventTypes/{event_type}/events", "/v1/claims"):
        key = "lot" if path == "/v1/claims" else "MATCH_epcClass"
        return [url, f"{url}?{key}={ids['lot']}"]
    if path == "/v1/stations/jobs/{batch_id:path}":
        return [url, f"{url}?station_id={DOCK_1[0]}"]
    return [url]


def test_no_key_reads_another_tenants_data_on_any_route(seeded: dict[str, Any]) -> None:
    client: TestClient = seeded["client"]
    # Keys and key requests are the admin's: no tenant owns one.
    ids = seeded["ids"] | {"event_type": "ObjectEvent", "key_id": "0" * 8, "request_id": "0" * 8}
    leaks = []
    routes = [r for r, p in ROUTE_PERMISSIONS.items() if r[0] == "GET" and p not in UNKEYED]
    assert ("GET", "/v1/lots/{lot:path}/trace") in routes and len(routes) > 15
    for route in routes:
        for url in _urls(route[1], ids):
            for kind in INTRUDERS:
                resp = client.get(url, headers=seeded["keys"][kind])
                found = [m for m in seeded["marks"] if m in resp.text]
                if resp.is_success and found and (kind, route) not in SHARED:
                    leaks.append(f"{kind} GET {url}: {resp.status_code} shows {found}")
    assert leaks == []


def test_another_customers_claim_answers_as_an_unknown_one(seeded: dict[str, Any]) -> None:
    """404 for both, the same problem but for the id: nothing tells the other's exists."""
    client: TestClient = seeded["client"]
    shop = seeded["keys"]["customer_app"]
    theirs, unknown = seeded["ids"]["claim_id"], seeded["unknown_claim"]
    for suffix in ("", "/dossier"):
        a = client.get(f"/v1/claims/{theirs}{suffix}", headers=shop)
        b = client.get(f"/v1/claims/{unknown}{suffix}", headers=shop)
        assert a.status_code == b.status_code and a.status_code in (403, 404)
        assert a.text.replace(theirs, "ID") == b.text.replace(unknown, "ID")


def test_the_tenants_own_keys_do_read_their_own(seeded: dict[str, Any]) -> None:
    """The same calls with tenant two's own ids get through: the test above is no 403 wall."""
    client: TestClient = seeded["client"]
    keys = seeded["keys"]
    own = {
        "customer_app": "/v1/claims?lot=" + LOT_2,
        "supply_chain": f"/v1/lots/{LOT_2}/trace",
        "station": "/v1/stations/jobs/batch-7200",
    }
    for kind, url in own.items():
        resp = client.get(url, headers=keys[kind])
        assert resp.status_code == 200, (kind, resp.text)
        assert any(m in resp.text for m in ("C-2", LOT_2, DOCK_2[0])), (kind, resp.text)
