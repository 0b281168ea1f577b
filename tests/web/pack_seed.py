"""A lot built through the public API for the pack page's tests, with everything it must hide.

GTIN 04000001123452, lot STRAW-0502: Green Farm packs it in Spain (ILMD) → North DC (a
clean intake inspection, readings in band) → FastVan (a reefer at 11-12 °C for two hours)
→ delivered to a customer who is a registered party. On the way: a shipment carrying a
purchase order (bizTransactionList), a packing record with a price in an extension field,
a storing record whose read point its supplier marks private, an event marked private
whole, and the customer's own receipt. Beside it, lot STRAW-0502 of another GTIN from
another farm. Then two claims are filed on the lot by a customer's app.

Every secret is a string the tests look for in what the page serves: ``SECRETS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from supplychain.capture import capture_events
from supplychain.epcis.build import (
    EPCIS_CONTEXT,
    ZULU,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    epcis_document,
)
from supplychain.epcis.read import parse_document
from tests.api.access import grant
from tests.api.test_claims import _series
from tests.conftest import jpeg_bytes, scene

__all__ = ["GTIN", "LOT", "OTHER_GTIN", "SECRETS", "PackSeed", "seed_pack"]

GTIN = "04000001123452"  # company prefix 4000001, item reference 012345
OTHER_GTIN = "04000001543212"  # same company, item reference 054321: another product
LOT = "STRAW-0502"
FARM, DC, TRUCK, JANE, OTHER_FARM = (f"urn:epc:id:pgln:400000{i}.00000" for i in (1, 2, 3, 4, 5))
PRIVATE_SITE = "urn:epc:id:sgln:4000002.00077.0"

SECRETS = {
    "customer id": "C-SECRET-4711",
    "customer party": JANE,
    "customer name": "Jane Secretperson",
    "order": "ORD-SECRET-99",
    "line value": "87.65",
    "price extension": "13.37",
    "purchase order": "PO-SECRET-2024",
    "private read point": PRIVATE_SITE,
    "private event": "SECRET-NOTE",
    "other farm": "Hidden Orchard",
    "claim description": "mouldy secret berries",
}


@dataclass(frozen=True)
class PackSeed:
    """What the tests work on: the claims filed on the lot and the time it was delivered."""

    claims: tuple[dict[str, Any], ...]
    delivered: datetime


def _lot(gtin_ref: str = "012345", lot: str = LOT) -> tuple[Quantity, ...]:
    return (Quantity(f"urn:epc:class:lgtin:4000001.{gtin_ref}.{lot}", 10, "KGM"),)


def _event(
    at: datetime,
    step: str,
    *,
    src: str | None = None,
    dst: str | None = None,
    temps: list[tuple[datetime, float]] | None = None,
    quantities: tuple[Quantity, ...] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    sensors = ()
    if temps:
        reports = tuple(
            SensorReport("gs1:Temperature", value=c, uom="CEL", time=t) for t, c in temps
        )
        sensors = (SensorElement(reports, device_id="urn:epc:id:giai:4000001.L1"),)
    event = ObjectEvent(
        event_time=at,
        biz_step=step,
        disposition=extra.pop("disposition", None),
        read_point=extra.pop("read_point", None),
        quantities=quantities or _lot(),
        sources=(SourceDestination(src),) if src else (),
        destinations=(SourceDestination(dst),) if dst else (),
        sensors=sensors,
        extensions=extra.pop("extensions", {}),
        times=ZULU,
    ).to_json()
    event.update(extra)
    return event


def _events(delivered: datetime) -> list[dict[str, Any]]:
    t0 = delivered - timedelta(hours=14)
    return [
        _event(
            t0,
            "packing",
            src=FARM,
            temps=_series(t0, 2, [3, 3, 3]),
            ilmd={
                "cbvmda:countryOfOrigin": "ES",
                "cbvmda:harvestStartDate": (t0 - timedelta(hours=20)).date().isoformat(),
            },
            extensions={"example:unitPrice": SECRETS["price extension"]},
        ),
        _event(
            t0 + timedelta(hours=2),
            "shipping",
            src=FARM,
            dst=DC,
            bizTransactionList=[
                {
                    "type": "po",
                    "bizTransaction": f"urn:epcglobal:cbv:bt:4000001000005:{SECRETS['purchase order']}",
                }
            ],
        ),
        _event(
            t0 + timedelta(hours=2, minutes=5),
            "inspecting",
            src=DC,
            disposition="sellable_accessible",
            temps=_series(t0 + timedelta(hours=2, minutes=5), 7.9, [3, 3, 4, 3, 3]),
        ),
        _event(
            t0 + timedelta(hours=6),
            "storing",
            src=DC,
            read_point=PRIVATE_SITE,
            extensions={"fp:private": ["readPoint"]},
        ),
        _event(
            t0 + timedelta(hours=7),
            "storing",
            src=DC,
            extensions={"fp:private": True, "example:note": SECRETS["private event"]},
        ),
        _event(t0 + timedelta(hours=10), "shipping", src=DC, dst=TRUCK),
        _event(
            t0 + timedelta(hours=10, minutes=1),
            "storing",
            src=TRUCK,
            temps=_series(t0 + timedelta(hours=10, minutes=1), 3.9, [4, 11, 12, 12, 11, 4]),
        ),
        _event(delivered, "shipping", src=TRUCK, dst=JANE),
        _event(
            delivered + timedelta(minutes=30),
            "receiving",
            src=JANE,
            dst=JANE,
            temps=_series(delivered + timedelta(minutes=30), 1, [18, 19, 20]),
        ),
        # Same lot number, another product (GTIN) from another farm: never on this page.
        _event(t0, "packing", src=OTHER_FARM, quantities=_lot("054321")),
    ]


def _claim(
    client: httpx.Client, headers: dict[str, str], delivered: datetime, n: int
) -> dict[str, Any]:
    claim = {
        "order_id": SECRETS["order"],
        "lot": LOT,
        "category": "chilled",
        "line_value": SECRETS["line value"],
        "currency": "EUR",
        "delivered_at": delivered.isoformat().replace("+00:00", "Z"),
        "description": SECRETS["claim description"],
    }
    resp = client.post(
        "/v1/claims",
        headers={**headers, "Idempotency-Key": f"pack-seed-{n}"},
        files=[("photos", ("photo.jpg", jpeg_bytes(scene(seed=n)), "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return epcis_document(
        events,
        creation_date=datetime.now(UTC),
        times=ZULU,
        context=(
            EPCIS_CONTEXT,
            {"example": "https://example.com/ns/", "fp": "https://ns.example.com/freshproof/"},
        ),
    )


def _capture(client: httpx.Client, headers: dict[str, str], events: list[dict[str, Any]]) -> None:
    resp = client.post("/v1/events", json=_document(events), headers=headers)
    assert resp.status_code == 201, resp.text


def seed_pack(app: FastAPI, client: httpx.Client) -> PackSeed:
    """Register the parties, capture the records (each by a key of its own parties), and
    file two claims on the lot."""
    chain = grant(app, "supply_chain", parties=[FARM, DC, TRUCK])
    shopper = grant(app, "supply_chain", parties=[JANE])
    other = grant(app, "admin")
    customer = grant(app, "customer_app", customer_id=SECRETS["customer id"])
    delivered = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    for pid, role, name, key in (
        (FARM, "supplier", "Green Farm", chain),
        (DC, "warehouse", "North DC", chain),
        (TRUCK, "carrier", "FastVan", chain),
        (JANE, "customer", SECRETS["customer name"], shopper),
        (OTHER_FARM, "supplier", SECRETS["other farm"], other),
    ):
        resp = client.post("/v1/parties", json={"id": pid, "role": role, "name": name}, headers=key)
        assert resp.status_code == 201, resp.text
    events = _events(delivered)
    _capture(client, chain, events[:-2])
    _capture(client, shopper, events[-2:-1])
    # The other product's lot by the operator's own import (``freshproof events import``:
    # a shell user's login as its capturer): a key of the other farm is refused here, for
    # authorship reads a bare lot number as one lot across GTINs.
    capture_events(
        ledger=app.state.services.ledger,
        events_in=parse_document(_document(events[-1:])).events,
        actor="cli:operator",
    )
    claims = tuple(_claim(client, customer, delivered, n) for n in (1, 2))
    return PackSeed(claims, delivered)
