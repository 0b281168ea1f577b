"""Two tenants of each kind (two customers, two stations) through the public API: the same
idempotency keys and batch ids do not collide, neither replays nor blocks the other's, and
no answer names the other's objects (claim ids, photos, batches). A reused batch id with
other content is a 409, queued or not. Run on SQLite and PostgreSQL where keys are unique.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.database import load_tables
from api.deps import get_predictor
from api.settings import Settings
from storage import migrate
from storage.db import make_engine
from tests.api.access import grant
from tests.api.test_duplicate_evidence import StubInspector, _reencoded
from tests.conftest import jpeg_bytes, postgres_schema, scene, schema_url
from tests.stations.test_batches import PHOTOS, PhotoScores

DOCK3 = ("DOCK-3", "urn:epc:id:sgln:4000002.00003.0")
DOCK4 = ("DOCK-4", "urn:epc:id:sgln:4000002.00004.0")
PROBLEM = "application/problem+json"
DELIVERED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The database: the default SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema("tenancy_test") as schema:
        yield schema_url(schema)


@pytest.fixture
def app(url: str | None, tmp_path: Path) -> Iterator[Any]:
    """An app whose model is a stub; batches over 3 items are queued in process."""
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=url,
        anchor_backend="none",
        station_sync_items=3,
        station_max_items=16,
    )
    application = create_app(settings)
    application.dependency_overrides[get_predictor] = _Either
    application.state.predictor = _Either()
    yield application


class _Either:
    """Station photos as the stations' double sees them, anything else as the claims' stub."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Any:
        if data in PHOTOS.values():
            return PhotoScores().inspect(data, image=image, family=family)
        return StubInspector().inspect(data, image=image, family=family)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# ---- customers ------------------------------------------------------------------------------


def _claim(
    client: TestClient, headers: dict[str, str], key: str | None, order: str, photo: bytes
) -> Any:
    claim = {
        "order_id": order,
        "lot": f"LOT-{order}",
        "category": "chilled",
        "line_value": "9.90",
        "currency": "EUR",
        "delivered_at": DELIVERED.isoformat(),
    }
    return client.post(
        "/v1/claims",
        files=[("photos", ("p.jpg", photo, "image/jpeg"))],
        data={"claim": json.dumps(claim)},
        headers=headers | ({"Idempotency-Key": key} if key else {}),
    )


def test_two_customers_with_the_same_idempotency_key_do_not_meet(
    app: Any, client: TestClient
) -> None:
    a = grant(app, "customer_app", customer_id="cust-A")
    b = grant(app, "customer_app", customer_id="cust-B")
    key = "order-8000-line-1"  # the README's style: predictable
    photo_a, photo_b = jpeg_bytes(scene(seed=41)), jpeg_bytes(scene(seed=42))

    first_b = _claim(client, b, key, "8000", photo_b)
    assert first_b.status_code == 201, first_b.text
    # B used the key first; A's own claim with it is filed all the same (it was a 409).
    first_a = _claim(client, a, key, "8000", photo_a)
    assert first_a.status_code == 201, first_a.text
    a_id, b_id = first_a.json()["id"], first_b.json()["id"]
    assert a_id != b_id and first_a.json()["customer_id"] == "cust-A"

    # Each retry replays its own claim, never the other's.
    again_a = _claim(client, a, key, "8000", photo_a)
    assert again_a.status_code == 200 and again_a.json()["id"] == a_id
    again_b = _claim(client, b, key, "8000", photo_b)
    assert again_b.status_code == 200 and again_b.json()["id"] == b_id
    # A key reused by its own customer with other content is still a conflict.
    other = _claim(client, a, key, "8001", photo_a)
    assert other.status_code == 409 and other.headers["content-type"].startswith(PROBLEM)
    assert b_id not in other.text

    # Neither reads, lists or probes the other's claim.
    assert client.get(f"/v1/claims/{a_id}", headers=b).status_code == 404
    assert client.get(f"/v1/claims/{b_id}", headers=a).status_code == 404
    listed = client.get("/v1/claims", headers=b).json()["items"]
    assert [c["id"] for c in listed] == [b_id]


def test_a_customer_is_told_a_photo_matches_an_earlier_claim_but_not_whose(
    app: Any, client: TestClient
) -> None:
    a = grant(app, "customer_app", customer_id="cust-A")
    b = grant(app, "customer_app", customer_id="cust-B")
    auditor = grant(app, "auditor")
    original = jpeg_bytes(scene(seed=43))
    filed_a = _claim(client, a, None, "9000", original).json()
    resp = _claim(client, b, None, "9001", _reencoded(original, quality=60, scale=0.8))
    assert resp.status_code == 201, resp.text
    filed_b = resp.json()
    a_photo = filed_a["photos"][0]["sha256"]

    for seen in (resp, client.get(f"/v1/claims/{filed_b['id']}", headers=b)):
        (match,) = seen.json()["photos"][0]["duplicate_of"]
        assert match["matches"] == "an earlier claim" and 0 <= match["distance"] <= 6
        assert filed_a["id"] not in seen.text and a_photo not in seen.text
    listed = client.get("/v1/claims", headers=b)
    assert filed_a["id"] not in listed.text and a_photo not in listed.text

    # Staff still see which claim it copies.
    (staff,) = client.get(f"/v1/claims/{filed_b['id']}", headers=auditor).json()["photos"][0][
        "duplicate_of"
    ]
    assert staff["claim_id"] == filed_a["id"] and staff["photo_sha256"] == a_photo


# ---- stations -------------------------------------------------------------------------------


def _station(app: Any, who: tuple[str, str]) -> dict[str, str]:
    return grant(app, "station", station_id=who[0], read_point=who[1])


def _items(n: int, serial: int, photo: str = "fresh") -> tuple[list[dict[str, Any]], list[bytes]]:
    items = [
        {"epc": f"urn:epc:id:sgtin:4000001.012345.{serial + i}", "kind": "package", "photos": [i]}
        for i in range(n)
    ]
    return items, [PHOTOS[photo]] * n


def _post(client: TestClient, headers: dict[str, str], batch_id: str, batch: Any) -> Any:
    items, photos = batch
    return client.post(
        "/v1/stations/batches",
        headers=headers,
        files=[("photos", (f"p{n}.jpg", p, "image/jpeg")) for n, p in enumerate(photos)],
        data={"batch": json.dumps({"batch_id": batch_id, "items": items})},
    )


def _done(client: TestClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(url, headers=headers).json()
        if state.get("status") != "pending":
            return state
        time.sleep(0.1)
    raise AssertionError(f"{url} still pending")


def _epcs(items: list[dict[str, Any]]) -> list[str]:
    return [i["epc"] for i in items]


def test_two_stations_with_the_same_batch_id_do_not_meet(app: Any, client: TestClient) -> None:
    dock3, dock4 = _station(app, DOCK3), _station(app, DOCK4)
    mine, theirs = _items(2, 3000), _items(2, 4000, "damaged")

    # Graded at once: DOCK-4 using DOCK-3's id gets its own batch graded, not DOCK-3's replay.
    first = _post(client, dock3, "dock3-0001", mine)
    assert first.status_code == 200, first.text
    other = _post(client, dock4, "dock3-0001", theirs)
    assert other.status_code == 200, other.text
    assert other.json()["replay"] is False
    assert _epcs(other.json()["items"]) == _epcs(theirs[0])
    assert "urn:epc:id:sgtin:4000001.012345.3000" not in other.text
    # ...and it did not block DOCK-3's retry, which replays DOCK-3's own batch.
    again = _post(client, dock3, "dock3-0001", mine)
    assert again.status_code == 200 and again.json()["replay"] is True
    assert again.json()["items"] == first.json()["items"]

    # Queued: the same, and each reads back its own job under the shared id.
    big3, big4 = _items(5, 3100), _items(5, 4100, "damaged")
    q3 = _post(client, dock3, "shared-0002", big3)
    q4 = _post(client, dock4, "shared-0002", big4)
    assert (q3.status_code, q4.status_code) == (202, 202), q4.text
    assert q4.json()["replay"] is False
    state3 = _done(client, dock3, q3.json()["url"])
    state4 = _done(client, dock4, q4.json()["url"])
    assert (state3["status"], state4["status"]) == ("done", "done"), state4
    assert (state3["station_id"], state4["station_id"]) == ("DOCK-3", "DOCK-4")
    assert _epcs(state3["items"]) == _epcs(big3[0]) and _epcs(state4["items"]) == _epcs(big4[0])
    assert "4000001.012345.31" not in json.dumps(state4)


def test_a_station_cannot_read_another_stations_batch_and_staff_read_all(
    app: Any, client: TestClient
) -> None:
    dock3, dock4 = _station(app, DOCK3), _station(app, DOCK4)
    auditor, admin = grant(app, "auditor"), grant(app, "admin")
    resp = _post(client, dock3, "only-dock3", _items(5, 3200))
    url = resp.json()["url"]
    assert _done(client, dock3, url)["status"] == "done"

    # Another station: absent, as an id never used, so ids cannot be probed.
    for probe in (url, f"{url}?station_id=DOCK-3", "/v1/stations/jobs/never-used"):
        got = client.get(probe, headers=dock4)
        assert got.status_code == 404 and got.headers["content-type"].startswith(PROBLEM)
        assert "DOCK-3" not in got.text
    # Auditors and admins read everything (403 before), and change nothing.
    for staff in (auditor, admin):
        read = client.get(url, headers=staff)
        assert read.status_code == 200, read.text
        assert read.json()["station_id"] == "DOCK-3" and read.json()["status"] == "done"
        assert _post(client, staff, "staff-batch", _items(1, 3300)).status_code == 403
    # An id two stations used: staff name which.
    _post(client, dock4, "only-dock3", _items(1, 4200))
    both = client.get(url, headers=auditor)
    assert both.status_code == 409 and both.json()["stations"] == ["DOCK-3", "DOCK-4"]
    named = client.get(f"{url}?station_id=DOCK-4", headers=auditor)
    assert named.status_code == 200 and named.json()["station_id"] == "DOCK-4"


def test_a_reused_batch_id_with_other_content_is_a_conflict_queued_or_not(
    app: Any, client: TestClient
) -> None:
    dock3 = _station(app, DOCK3)
    first, second = _items(5, 5000), _items(5, 5100)
    queued = _post(client, dock3, "b-reused", first)
    assert queued.status_code == 202, queued.text
    # Other content under the queued id: refused, not answered 202 and silently dropped.
    clash = _post(client, dock3, "b-reused", second)
    assert clash.status_code == 409 and clash.headers["content-type"].startswith(PROBLEM)
    state = _done(client, dock3, queued.json()["url"])
    assert state["status"] == "done" and _epcs(state["items"]) == _epcs(first[0])
    # Still refused once graded; the same content is the replay, with its outcome.
    assert _post(client, dock3, "b-reused", second).status_code == 409
    replay = _post(client, dock3, "b-reused", first)
    assert replay.status_code == 202 and replay.json()["replay"] is True
    assert replay.json()["status"] == "done"
    # A small batch meeting a queued id, and a large one meeting a graded id: 409 too.
    assert _post(client, dock3, "b-reused", _items(2, 5200)).status_code == 409
    assert _post(client, dock3, "b-small", _items(2, 5300)).status_code == 200
    assert _post(client, dock3, "b-small", _items(5, 5400)).status_code == 409


# ---- the migration --------------------------------------------------------------------------


def test_existing_rows_keep_working_after_the_migration(url: str | None, tmp_path: Path) -> None:
    """A database at 0004 with a claim's key and a pending job: 0005 keeps both, and from
    then on keys are unique per customer."""
    engine = make_engine(url or f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(engine, metadata=load_tables(), revision="0004")
        now = datetime.now(UTC)
        row = {
            "request_hash": "0" * 64,
            "lot": "L",
            "category": "chilled",
            "line_value": 1,
            "currency": "EUR",
            "delivered_at": now,
            "status": "open",
            "defective": 0,
            "responsible_party": "supplier",
            "confidence": 0.5,
            "verdict": "{}",
            "ticket": "{}",
            "compensation": "{}",
            "evidence_idx": 0,
            "verdict_idx": 1,
            "created_at": now,
        }
        columns = ["id", "idempotency_key", "order_id", "customer_id", *row]
        claims = sa.table("claims", *(sa.column(c) for c in columns))
        with engine.begin() as conn:
            conn.execute(
                claims.insert().values(
                    id="c1", idempotency_key="k", order_id="o", customer_id="A", **row
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO station_jobs (batch_id, station_id, status, job, submitted_at) "
                    "VALUES ('b1', 'DOCK-3', 'pending', '{}', :at)"
                ),
                {"at": now},
            )
        # Up to 0008: 0009 indexes the review queue from each claim's verdict, which these
        # bare rows do not carry (tests/api/test_review_queue.py covers 0009's backfill).
        migrate.upgrade(engine, metadata=load_tables(), revision="0008")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT id FROM claims")).scalars().all() == ["c1"]
            job = conn.execute(sa.text("SELECT status, owner, attempts FROM station_jobs")).one()
            assert tuple(job) == ("pending", None, 0)
            # Another customer may use the key now; the same customer may not.
            conn.execute(
                claims.insert().values(
                    id="c2", idempotency_key="k", order_id="o", customer_id="B", **row
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO station_jobs (batch_id, station_id, status, job, submitted_at) "
                    "VALUES ('b1', 'DOCK-4', 'pending', '{}', :at)"
                ),
                {"at": now},
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                claims.insert().values(
                    id="c3", idempotency_key="k", order_id="o", customer_id="A", **row
                )
            )
    finally:
        engine.dispose()
