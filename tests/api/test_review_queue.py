"""The review queue read by index is the queue the views computed (issue 24).

Claims are filed, moved (acknowledged, paused for the customer, resumed, resolved,
reopened), proposed above the adjudicator's limit (one rejected), put on a lot alert, filed
with a copied photo and flagged by late records, all through the public API. Every view of
the queue, read a page at a time by index, then lists the same claims in the same order as
the computation it replaced (``_reference``: every open claim's view built, filtered and
sorted in Python), at now and days later when the paused deadlines have moved; and a
database indexed by the migration's upgrade holds the rows the writes left.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import or_, select

from api.app import create_app
from api.database import load_tables
from api.deps import get_predictor
from api.settings import Settings
from cases.queue import QUEUE_FILTERS, queue_filter, review_queue_page
from claims.tables import claim_reassessments, claims, review_queue
from claims.views import views_of
from storage import migrate
from storage.migrations.versions import v0009_review_queue_index as v0009
from tests.api.access import grant
from tests.conftest import jpeg_bytes, postgres_schema, schema_url, textured
from tests.epcis_events import document, lot_event
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

LOT = "urn:epc:class:lgtin:4012345.012345.QUEUE1"
FARM, TRUCK, DC, SHOP = (f"urn:epc:id:pgln:40{n}.00000" for n in (11111, 22222, 33333, 44444))
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
DECIDE = {
    "party": "override",
    "responsible_party": "carrier",
    "party_id": TRUCK,
    "reason": "The driver's photo at the door shows the crushed crate.",
    "compensation": "approve",
}


class Mouldy:
    """The model seam: every photo shows mould, surely; only the same photo looks alike."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        found = (Finding("mold", 0.97, (0.0, 0.0, 9.0, 9.0)),)
        phash = int.from_bytes(hashlib.sha256(data).digest()[:8]) >> 1
        return Inspection(
            image, "0" * 64, 320, 240, QualityReport(True), found, {"version": "t"}, phash
        )


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _reference(engine: sa.Engine, view: str | None, now: datetime) -> list[dict[str, Any]]:
    """The queue as computed before the index (issue 23's ``cases.queue``), unbounded."""
    flagged = select(claim_reassessments.c.claim_id).where(claim_reassessments.c.kind == "flagged")
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(claims.c.id)
                .where(or_(claims.c.status != "resolved", claims.c.id.in_(flagged)))
                .order_by(claims.c.created_at.desc())
                .limit(1000)
            ).scalars()
        )
        rows = conn.execute(select(claims).where(claims.c.id.in_(ids))).all()
        found = views_of(conn, rows, now)
    chosen = [
        c
        for c in found
        if (c["status"] != "resolved" or c["flagged"] is not None) and queue_filter(view, c)
    ]
    chosen.sort(key=lambda c: c["ticket"]["due"]["resolution"])
    return chosen


def _paged(engine: sa.Engine, view: str | None, now: datetime, size: int) -> list[str]:
    """Every claim of a view, read ``size`` at a time through the cursor."""
    out: list[str] = []
    cursor: str | None = None
    while True:
        items, cursor = review_queue_page(engine, view=view, now=now, limit=size, cursor=cursor)
        out += [c["id"] for c in items]
        if cursor is None:
            return out
        assert len(items) == size


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, TestClient, dict[str, Any]]]:
    """A shop whose claims stand in every state the queue knows, and their ids by role."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = schema_url(stack.enter_context(postgres_schema("queue_test")))
        app = create_app(
            Settings(
                data_dir=tmp_path_factory.mktemp("queue") / "var",
                database_url=url,
                anchor_backend="none",
                rate_limit_per_minute=0,
                webhook_urls="http://127.0.0.1:9/hook",
            )
        )
        app.dependency_overrides[get_predictor] = Mouldy
        client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        yield app, client, _seed(app, client)


def _seed(app: Any, client: TestClient) -> dict[str, Any]:
    keys = {
        "admin": grant(app, "admin"),
        "shop": grant(app, "customer_app", customer_id="C-1"),
        "adjudicator": grant(app, "adjudicator"),
        "second": grant(app, "adjudicator"),
    }
    parties = ((FARM, "supplier"), (TRUCK, "carrier"), (DC, "warehouse"), (SHOP, "customer"))
    for pid, role in parties:
        body = {"id": pid, "role": role, "name": role}
        assert client.post("/v1/parties", json=body, headers=keys["admin"]).is_success
    chain = grant(app, "supply_chain", parties=[FARM, DC])
    truck = grant(app, "supply_chain", parties=[TRUCK])
    # Each side of each handover by its own party's key (a receipt names a sender whose
    # shipment is on record: supplychain/authorship.py, step 4).
    legs = (
        (
            chain,
            document(
                lot_event(LOT, h(0), "packing", src=FARM, temps=(3,) * 5),
                lot_event(LOT, h(2), "shipping", src=FARM, dst=TRUCK),
            ),
        ),
        (
            truck,
            document(
                lot_event(LOT, h(2.05), "receiving", src=FARM, dst=TRUCK),
                lot_event(LOT, h(2.1), "transporting", src=TRUCK, temps=(4,) * 6),
                lot_event(LOT, h(5), "shipping", src=TRUCK, dst=DC),
            ),
        ),
        (
            chain,
            document(
                lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=DC),
                lot_event(LOT, h(5.5), "storing", src=DC, temps=(4,) * 10),
                lot_event(LOT, h(10), "shipping", src=DC, dst=SHOP),
            ),
        ),
    )
    for headers, doc in legs:
        assert client.post("/v1/events", json=doc, headers=headers).status_code == 201

    def file(lot: str, value: str, seed: int) -> str:
        claim = {
            "order_id": f"o-{seed}",
            "lot": lot,
            "category": "chilled_produce",
            "line_value": value,
            "currency": "EUR",
            "delivered_at": h(12).isoformat(),
        }
        photo = jpeg_bytes(textured(seed=seed))
        resp = client.post(
            "/v1/claims",
            headers=keys["shop"],
            files=[("photos", ("p.jpg", photo, "image/jpeg"))],
            data={"claim": json.dumps(claim)},
        )
        assert resp.status_code == 201, resp.text
        claim_id: str = resp.json()["id"]
        return claim_id

    def move(claim_id: str, *actions: str) -> None:
        for action in actions:
            resp = client.post(
                f"/v1/claims/{claim_id}/ticket",
                json={"action": action, "note": action},
                headers=keys["adjudicator"],
            )
            assert resp.status_code == 200, resp.text

    def decide(claim_id: str) -> None:
        resp = client.post(
            f"/v1/claims/{claim_id}/decision", json=DECIDE, headers=keys["adjudicator"]
        )
        assert resp.status_code == 200, resp.text

    # On the recorded lot: paid by the machine, the third a lot alert.
    on_lot = [file(LOT, "12.50", seed) for seed in (1, 2, 3)]
    loose = [file(f"NO-RECORDS-{n}", "40.00", 10 + n) for n in range(9)]
    copied = file("NO-RECORDS-COPY", "40.00", 10)  # the photo of loose[0]
    move(loose[0], "acknowledge")
    move(loose[1], "wait_on_customer")
    move(loose[2], "wait_on_customer", "resume")
    move(loose[5], "acknowledge", "wait_on_customer")
    # Undetermined: a decision resolves them (a bare "resolve" is refused, 409).
    decide(loose[3])
    decide(loose[4])
    move(loose[4], "reopen")
    big = [file(f"NO-RECORDS-BIG-{n}", "900.00", 30 + n) for n in range(2)]
    for claim_id in big:
        decide(claim_id)
    answer = {"answer": "reject", "note": "no photo of the crate"}
    resp = client.post(f"/v1/claims/{big[1]}/approval", json=answer, headers=keys["second"])
    assert resp.status_code == 200, resp.text
    decide(loose[6])  # decided and resolved: out of the queue
    # A late logger of the DC: the settled claims on the lot are flagged (one resolved, so
    # back in the queue by its flag alone), and one acted on since.
    move(on_lot[1], "resolve")
    temps = (4, 16, 16, 16, 16, 16, 16, 4, 4)
    late = document(lot_event(LOT, h(5.6), "storing", src=DC, temps=temps))
    assert client.post("/v1/events", json=late, headers=chain).status_code == 201
    move(on_lot[0], "reopen" if _status(app, on_lot[0]) == "resolved" else "acknowledge")
    return {
        "keys": keys,
        "on_lot": on_lot,
        "loose": loose,
        "copied": copied,
        "big": big,
    }


def _status(app: Any, claim_id: str) -> str:
    with app.state.services.engine.connect() as conn:
        status: str = conn.execute(
            select(claims.c.status).where(claims.c.id == claim_id)
        ).scalar_one()
        return status


def test_the_claims_stand_in_every_view(shop: Any) -> None:
    app, _, seeded = shop
    now = datetime.now(UTC)
    engine = app.state.services.engine
    ids = {view: [c["id"] for c in _reference(engine, view, now)] for view in QUEUE_FILTERS}
    assert seeded["copied"] in ids["copied_photo"]
    assert ids["awaiting_approval"] == [seeded["big"][0]]
    assert seeded["on_lot"][2] in ids["lot_alert"]
    assert ids["flagged"] == sorted(seeded["on_lot"][1:], key=ids["flagged"].index)
    assert ids["needs_review"]
    everything = [c["id"] for c in _reference(engine, None, now)]
    assert seeded["loose"][3] not in everything and seeded["loose"][6] not in everything
    assert seeded["loose"][4] in everything


@pytest.mark.parametrize("later", [timedelta(0), timedelta(days=5)])
@pytest.mark.parametrize("view", [None, *QUEUE_FILTERS])
def test_each_view_by_index_is_the_views_computed(
    shop: Any, view: str | None, later: timedelta
) -> None:
    app, _, _ = shop
    engine = app.state.services.engine
    now = datetime.now(UTC) + later
    expected = _reference(engine, view, now)
    dues = [c["ticket"]["due"]["resolution"] for c in expected]
    assert len(set(dues)) == len(dues)  # no ties: the order is the reference's alone
    items, cursor = review_queue_page(engine, view=view, now=now, limit=200)
    assert [c["id"] for c in items] == [c["id"] for c in expected] and cursor is None
    assert items == expected  # the same views, built for the page alone
    assert _paged(engine, view, now, 2) == [c["id"] for c in expected]


def test_a_pause_moves_the_claim_down_the_queue_as_time_passes(shop: Any) -> None:
    app, _, seeded = shop
    engine = app.state.services.engine
    now = datetime.now(UTC)
    waiting = {seeded["loose"][1], seeded["loose"][5]}

    def dues(at: datetime) -> dict[str, datetime]:
        items = review_queue_page(engine, view=None, now=at, limit=200)[0]
        return {c["id"]: datetime.fromisoformat(c["ticket"]["due"]["resolution"]) for c in items}

    soon, later = dues(now), dues(now + timedelta(days=30))
    assert soon.keys() == later.keys()
    moved = {i for i in soon if later[i] != soon[i]}
    assert moved == waiting and all(later[i] - soon[i] == timedelta(days=30) for i in moved)
    # Every other deadline is days away: the paused claims are now the last two.
    order = [c["id"] for c in review_queue_page(engine, view=None, now=now + timedelta(days=30))[0]]
    assert set(order[-2:]) == waiting


def test_the_api_pages_the_queue_with_a_cursor(shop: Any) -> None:
    _, client, seeded = shop
    headers = seeded["keys"]["adjudicator"]
    whole = client.get("/v1/review", params={"limit": 200}, headers=headers).json()
    assert whole["next_cursor"] is None
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = client.get("/v1/review", params=params, headers=headers)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["items"]]
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert seen == [c["id"] for c in whole["items"]]
    bad = client.get("/v1/review", params={"cursor": "yesterday"}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def _rows(engine: sa.Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(review_queue))}


def test_the_upgrade_indexes_the_claims_as_their_writes_did(shop: Any) -> None:
    app, _, _ = shop
    engine = app.state.services.engine
    written = _rows(engine)
    assert written
    migrate.downgrade(engine, revision=str(v0009.down_revision))
    assert "review_queue" not in sa.inspect(engine).get_table_names()
    migrate.upgrade(engine, metadata=load_tables())
    assert _rows(engine) == written


def test_an_empty_database_upgrades_to_an_empty_queue(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate.upgrade(engine, metadata=load_tables())
    assert _rows(engine) == set()
    items, cursor = review_queue_page(engine, view=None, now=datetime.now(UTC), limit=5)
    assert items == [] and cursor is None
