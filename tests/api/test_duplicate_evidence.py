"""Duplicate evidence through the public API: a photo filed again with another claim.

The judging model is replaced by a stub that still decodes, gates and hashes each photo with
the real vision code (only the detector's findings are fixed), so these run without the
shipped weights; the supply chain, verdict, compensation and ledger are the real ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, cast

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from tests.api.access import grant
from tests.api.test_claims import DC, FARM, HOT, NOW, TRUCK, _chain, _t
from tests.conftest import jpeg_bytes, postgres_schema, scene, schema_url
from vision.image import assess_quality, decode_image
from vision.phash import hamming, parse_phash, phash
from vision.predictor import Finding, Inspection


class StubInspector:
    """Real decode, quality gate and pHash; every judgeable photo shows spoilage at 0.99."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        decoded = decode_image(data)
        quality = assess_quality(decoded.rgb)
        box = (0.0, 0.0, float(decoded.width), float(decoded.height))
        findings = (Finding("spoilage", 0.99, box, False),) if quality.ok else ()
        return Inspection(
            image,
            hashlib.sha256(data).hexdigest(),
            decoded.width,
            decoded.height,
            quality,
            findings,
            {"name": "stub", "sha256": "0" * 64},
            phash=phash(decoded.rgb),
        )


class Callers:
    """The keys these tests call with: the admin, an auditor, a customer app per customer."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.admin = grant(app, "admin")
        self.auditor = grant(app, "auditor")
        self._customers: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def customer(self, customer_id: str) -> dict[str, str]:
        """Headers of the customer app of ``customer_id`` (one key each, made once)."""
        with self._lock:
            if customer_id not in self._customers:
                self._customers[customer_id] = grant(
                    self.app, "customer_app", customer_id=customer_id
                )
            return self._customers[customer_id]


def _callers(client: TestClient) -> Callers:
    callers: Callers = cast(Any, client.app).state.test_callers
    return callers


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The client calls as the supply-chain system of the three parties, which builds each
    lot's chain (``_chain``); claims, reads and parties pass their own caller's key."""
    tmp = tmp_path_factory.mktemp("duplicates")
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            schema = stack.enter_context(postgres_schema("dup_test"))
            url = schema_url(schema)
        app = create_app(Settings(data_dir=tmp / "var", database_url=url, anchor_backend="none"))
        app.dependency_overrides[get_predictor] = StubInspector
        callers = app.state.test_callers = Callers(app)
        supply_chain = grant(app, "supply_chain", parties=[FARM, DC, TRUCK])
        with TestClient(app, raise_server_exceptions=False, headers=supply_chain) as c:
            for pid, role, name in (
                (FARM, "supplier", "Green Farm"),
                (DC, "warehouse", "North DC"),
                (TRUCK, "carrier", "FastVan"),
            ):
                assert c.post(
                    "/v1/parties",
                    json={"id": pid, "role": role, "name": name},
                    headers=callers.admin,
                ).is_success
            yield c


def _reencoded(data: bytes, *, quality: int, scale: float = 1.0) -> bytes:
    """The same picture saved again: what a customer's second upload of it looks like."""
    img = Image.open(io.BytesIO(data))
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _file(client: TestClient, lot: str, customer: str, *photos: bytes) -> dict[str, Any]:
    """A claim on a lot whose truck ran hot: a confident carrier verdict, auto-payable."""
    delivered = NOW - timedelta(hours=1)
    # The client's default headers are this app's supply-chain key.
    _chain(client, lot, delivered=delivered, truck_temps=HOT, headers=client.headers)
    claim = {
        "order_id": f"ORD-{lot}",
        "customer_id": customer,
        "lot": lot,
        "category": "chilled",
        "line_value": "12.50",
        "currency": "EUR",
        "delivered_at": _t(delivered),
    }
    resp = client.post(
        "/v1/claims",
        files=[("photos", (f"p{n}.jpg", p, "image/jpeg")) for n, p in enumerate(photos)],
        data={"claim": json.dumps(claim)},
        headers=_callers(client).customer(customer),
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _evidence(client: TestClient, claim: dict[str, Any]) -> dict[str, Any]:
    index = claim["ledger"]["evidence_index"]
    entry = client.get(f"/v1/ledger/entries/{index}", headers=_callers(client).auditor).json()
    assert entry["kind"] == "claim.evidence"
    body: dict[str, Any] = entry["body"]
    return body


def test_a_reencoded_photo_from_another_claim_is_flagged_and_not_auto_paid(
    client: TestClient,
) -> None:
    original = jpeg_bytes(scene(seed=21))
    again = _reencoded(original, quality=60, scale=0.8)
    assert again != original  # a new SHA-256: content addressing cannot see the copy

    first = _file(client, "LOT-DUP-A", "cust-A", original)
    assert first["photos"][0]["duplicate_of"] == []
    assert first["compensation"]["paid"] is True and first["status"] == "open"

    second = _file(client, "LOT-DUP-B", "cust-B", again)
    # Staff see which claim it copies; its customer, that it copies an earlier one (the
    # earlier claim is another customer's: never named to this one).
    staff = client.get(f"/v1/claims/{second['id']}", headers=_callers(client).auditor).json()
    (flag,) = staff["photos"][0]["duplicate_of"]
    assert second["photos"][0]["duplicate_of"] == [
        {"matches": "an earlier claim", "distance": flag["distance"]}
    ]
    assert flag["claim_id"] == first["id"]
    assert flag["photo_sha256"] == first["photos"][0]["sha256"]
    assert flag["evidence_index"] == first["ledger"]["evidence_index"]
    assert 0 <= flag["distance"] <= 6
    # The verdict rules are untouched; only the money waits for a person.
    assert second["verdict"]["responsible_party"] == first["verdict"]["responsible_party"]
    assert [r["code"] for r in second["verdict"]["reasons"]] == ["TEMPERATURE_ABUSE"]
    assert second["status"] == "needs_review"
    assert second["compensation"]["auto_pay"] is False
    assert second["compensation"]["paid"] is False
    assert "DUPLICATE_EVIDENCE" in second["compensation"]["reason"]

    # Visible when read back, each by its own customer; the earlier claim is not rewritten.
    callers = _callers(client)
    read = client.get(f"/v1/claims/{second['id']}", headers=callers.customer("cust-B"))
    assert read.json()["photos"] == second["photos"]
    read = client.get(f"/v1/claims/{first['id']}", headers=callers.customer("cust-A"))
    assert read.json()["photos"][0]["duplicate_of"] == []

    # Verifiable from the ledger alone: both entries carry the pHash, the distance follows.
    mine, theirs = _evidence(client, second)["photos"][0], _evidence(client, first)["photos"][0]
    assert mine["duplicate_of"] == [flag]
    assert mine["phash"] == second["photos"][0]["phash"]
    assert hamming(parse_phash(mine["phash"]), parse_phash(theirs["phash"])) == flag["distance"]


def test_an_unrelated_photo_is_not_flagged(client: TestClient) -> None:
    _file(client, "LOT-DUP-C", "cust-C", jpeg_bytes(scene(seed=22)))
    body = _file(client, "LOT-DUP-D", "cust-D", jpeg_bytes(scene(seed=23)))
    assert body["photos"][0]["duplicate_of"] == []
    assert body["compensation"]["paid"] is True and body["status"] == "open"


def test_a_claim_is_not_flagged_against_its_own_photos(client: TestClient) -> None:
    photo = jpeg_bytes(scene(seed=24))
    body = _file(client, "LOT-DUP-E", "cust-E", photo, _reencoded(photo, quality=50))
    assert [p["duplicate_of"] for p in body["photos"]] == [[], []]
    assert body["compensation"]["paid"] is True


def test_a_photo_that_fails_the_quality_gate_is_hashed_but_not_matched(
    client: TestClient,
) -> None:
    dark = (scene(seed=25) // 12).astype(np.uint8)
    first = _file(client, "LOT-DUP-F", "cust-F", jpeg_bytes(scene(seed=26)), jpeg_bytes(dark))
    again = _file(client, "LOT-DUP-G", "cust-G", jpeg_bytes(scene(seed=27)), jpeg_bytes(dark))
    assert all(len(p["phash"]) == 16 for p in first["photos"] + again["photos"])
    assert again["photos"][1]["quality"]["ok"] is False
    assert again["photos"][1]["duplicate_of"] == []


class RacingInspector(StubInspector):
    """Holds each photo until two claims have both been judged: both then race to be filed."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=20)

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        out = super().inspect(data, image=image, family=family)
        self.barrier.wait()
        return out


def test_two_copies_filed_at_the_same_instant_cannot_both_be_paid(client: TestClient) -> None:
    original = jpeg_bytes(scene(seed=28))
    copies = {"LOT-DUP-H": original, "LOT-DUP-I": _reencoded(original, quality=70)}
    racer = RacingInspector()
    app = cast(Any, client.app)
    app.dependency_overrides[get_predictor] = lambda: racer
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            filed = list(
                pool.map(lambda lot: _file(client, lot, f"cust-{lot}", copies[lot]), copies)
            )
    finally:
        app.dependency_overrides[get_predictor] = StubInspector
    flagged = [c for c in filed if c["photos"][0]["duplicate_of"]]
    # Whichever was written second saw the first under the ledger's write lock.
    (second,) = flagged
    (first,) = [c for c in filed if c is not second]
    staff = client.get(f"/v1/claims/{second['id']}", headers=_callers(client).auditor).json()
    assert staff["photos"][0]["duplicate_of"][0]["claim_id"] == first["id"]
    assert [c["compensation"]["paid"] for c in (first, second)] == [True, False]
    assert second["status"] == "needs_review"
