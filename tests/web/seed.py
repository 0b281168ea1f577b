"""Claims for the workbench's tests, filed through the public API as their users file them.

One on a lot with a real chain (registered parties, EPCIS events, a carrier's reefer running
hot) so its verdict cites ledger entries and its custody has temperatures to chart; one on
a lot the ledger has never heard of, undetermined, for a person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from supplychain.epcis.build import ZULU, epcis_document
from tests.api.access import grant
from tests.api.test_claims import _event, _series
from tests.conftest import FIXTURES, jpeg_bytes, scene

__all__ = ["FARM", "TRUCK", "WAREHOUSE", "Seeded", "seed"]

FARM, WAREHOUSE, TRUCK = (f"urn:epc:id:pgln:400000{i}.00000" for i in (1, 2, 3))


@dataclass(frozen=True)
class Seeded:
    """What the tests work on: the two claims and the keys of the people involved."""

    chain_claim: dict[str, Any]
    bare_claim: dict[str, Any]
    customer: dict[str, str]
    auditor: dict[str, str]


def _t(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _events(lot: str, delivered: datetime) -> list[dict[str, Any]]:
    """FARM (2 h) → WAREHOUSE (8 h, a clean intake inspection) → TRUCK (4 h at up to 12 °C)."""
    t0 = delivered - timedelta(hours=14)
    return [
        _event(lot, t0, "packing", src=FARM, temps=_series(t0, 2, [3, 3, 3])),
        _event(lot, t0 + timedelta(hours=2), "shipping", src=FARM, dst=WAREHOUSE),
        _event(
            lot,
            t0 + timedelta(hours=2, minutes=5),
            "inspecting",
            src=WAREHOUSE,
            disposition="sellable_accessible",
            temps=_series(t0 + timedelta(hours=2, minutes=5), 7.9, [3, 3, 4, 3, 3]),
        ),
        _event(lot, t0 + timedelta(hours=10), "shipping", src=WAREHOUSE, dst=TRUCK),
        _event(
            lot, t0 + timedelta(hours=10), "inspecting", src=WAREHOUSE, disposition="conformant"
        ),
        _event(
            lot,
            t0 + timedelta(hours=10, minutes=1),
            "storing",
            src=TRUCK,
            temps=_series(t0 + timedelta(hours=10, minutes=1), 3.9, [4, 11, 12, 12, 11, 4]),
        ),
    ]


def _file(
    client: httpx.Client, headers: dict[str, str], lot: str, photo: bytes, delivered: datetime
) -> dict[str, Any]:
    claim = {
        "order_id": f"ORD-{lot}",
        "lot": lot,
        "category": "chilled",
        # Over the automatic limit (50.00), under the adjudicator's (500.00): a person approves.
        "line_value": "80.00",
        "currency": "EUR",
        "delivered_at": _t(delivered),
    }
    resp = client.post(
        "/v1/claims",
        headers=headers,
        files=[("photos", ("photo.jpg", photo, "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def seed(app: FastAPI, base_url: str) -> Seeded:
    """Register the parties, capture the chain, and file both claims."""
    supply = grant(app, "supply_chain", parties=[FARM, WAREHOUSE, TRUCK])
    customer = grant(app, "customer_app", customer_id="C-WORKBENCH")
    delivered = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for pid, role, name in (
            (FARM, "supplier", "Green Farm"),
            (WAREHOUSE, "warehouse", "North DC"),
            (TRUCK, "carrier", "FastVan"),
        ):
            body = {"id": pid, "role": role, "name": name}
            assert client.post("/v1/parties", json=body, headers=supply).status_code == 201
        events = _events("LOT-WORKBENCH", delivered)
        doc = epcis_document(events, creation_date=datetime.now(UTC), times=ZULU)
        assert client.post("/v1/events", json=doc, headers=supply).status_code == 201
        # The shipped model finds the swollen pouch (a latent defect, weighed on temperatures).
        swollen = (FIXTURES / "swollen_pouch.jpg").read_bytes()
        chain_claim = _file(client, customer, "LOT-WORKBENCH", swollen, delivered)
        bare_claim = _file(client, customer, "LOT-NEVER-SEEN", jpeg_bytes(scene(seed=3)), delivered)
    return Seeded(chain_claim, bare_claim, customer, grant(app, "auditor"))
