"""Receipts that arrive before their sender's shipment are held, then released (issue: receipt-
first flows), through the public API with real keys.

Each party posts its records on its own schedule, so a receiver's receipt often reaches us
before its sender's shipment. Authorship (step 4) accepts the receipt only once the sender's
own side of the handover is on record; until then the whole document is held (202, its
``Location`` a ``GET /v1/events/held/{id}``) and appended once the sender's record arrives
(``supplychain.held``, ``api.held_captures``). An outsider's forged receipt "from" the holder
is held the same way, never released, never opens the lot's trace, and expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from supplychain.held import held_captures
from tests.api.access import grant
from tests.epcis_events import document, lot_event

LOT = "urn:epc:class:lgtin:4012345.012345.HELD1"
FARM, TRUCK, DC, SHOP, OUTSIDER = (
    f"urn:epc:id:pgln:{p}.00000" for p in ("4011111", "4022222", "4033333", "4044444", "4099999")
)
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
TTL = timedelta(hours=6)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class Chain:
    app: Any
    client: TestClient
    keys: dict[str, dict[str, str]]

    @property
    def ledger(self) -> Any:
        return self.app.state.services.ledger

    def post(self, who: str, *events: dict[str, Any]) -> Any:
        return self.client.post("/v1/events", json=document(*events), headers=self.keys[who])

    def held(self, who: str, location: str) -> Any:
        return self.client.get(location, headers=self.keys[who])

    def trace(self, who: str) -> Any:
        return self.client.get(f"/v1/lots/{LOT}/trace", headers=self.keys[who])

    def move_clock(self, by: timedelta) -> None:
        later = datetime.now(UTC) + by
        self.app.state.services.clock = lambda: later


def _chain(tmp_path: Path, **settings: Any) -> Iterator[Chain]:
    app = create_app(
        Settings(
            data_dir=tmp_path / "var",
            anchor_backend="none",
            held_capture_ttl_seconds=TTL.total_seconds(),
            **settings,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = {
            "admin": grant(app, "admin"),
            "adjudicator": grant(app, "adjudicator"),
            "farm": grant(app, "supply_chain", parties=[FARM]),
            "truck": grant(app, "supply_chain", parties=[TRUCK]),
            "dc": grant(app, "supply_chain", parties=[DC]),
            "dc2": grant(app, "supply_chain", parties=[DC]),  # the DC's next key
            "dc_shop": grant(app, "supply_chain", parties=[DC, SHOP]),  # one ERP, two parties
            "outsider": grant(app, "supply_chain", parties=[OUTSIDER]),
        }
        chain = Chain(app, client, keys)
        # The farm packs and ships to the carrier, which confirms: the carrier holds the lot.
        for who, events in (
            ("farm", (lot_event(LOT, h(0), "packing", src=FARM), _ship(FARM, TRUCK, 2))),
            ("truck", (lot_event(LOT, h(2.05), "receiving", src=FARM, dst=TRUCK),)),
        ):
            assert chain.post(who, *events).status_code == 201
        yield chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    yield from _chain(tmp_path)


def _ship(src: str, dst: str | None, hours: float) -> dict[str, Any]:
    return lot_event(LOT, h(hours), "shipping", src=src, dst=dst)


def _receipt(src: str, dst: str, hours: float) -> dict[str, Any]:
    return lot_event(LOT, h(hours), "receiving", src=src, dst=dst)


def _assert_held(resp: Any) -> str:
    """A 202 held answer, the same shape for everyone; returns its Location."""
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert set(body) == {"held", "status", "created_at", "expires_at", "detail", "events"}
    assert body["status"] == "held" and "sender's own record" in body["detail"]
    assert not resp.headers["content-type"].startswith("application/problem+json")
    location: str = resp.headers["Location"]
    assert location == f"/v1/events/held/{body['held']}"
    return location


def _events_in_trace(chain: Chain) -> list[tuple[str, Any, Any]]:
    trace = chain.trace("admin")
    assert trace.status_code == 200, trace.text
    out = []
    for e in trace.json()["events"]:
        ends = [(e["custody"] or {}).get(end) or {} for end in ("from", "to")]
        out.append((e["biz_step"], ends[0].get("id"), ends[1].get("id")))
    return out


def test_a_receipt_before_the_senders_shipment_is_held_then_released(chain: Chain) -> None:
    size, before = chain.ledger.size(), _events_in_trace(chain)
    # The DC's system posts its receipt (and its inspection at receipt) before the carrier's
    # system posts the shipment: held, nothing on the ledger, the trace as it was.
    resp = chain.post(
        "dc",
        _receipt(TRUCK, DC, 5.05),
        lot_event(LOT, h(5.2), "inspecting", src=DC, disposition="conformant"),
    )
    location = _assert_held(resp)
    assert chain.ledger.size() == size and _events_in_trace(chain) == before
    assert chain.held("dc", location).json()["status"] == "held"
    assert chain.trace("dc").status_code == 403  # not a party to the lot yet
    # The carrier's shipment arrives: appended, and the held receipt with it.
    shipped = chain.post("truck", _ship(TRUCK, DC, 5))
    assert shipped.status_code == 201, shipped.text
    released = chain.held("dc", location).json()
    assert released["status"] == "released" and len(released["ledger_indices"]) == 2
    (shipment,) = [a["ledger_index"] for a in shipped.json()["appended"]]
    assert min(released["ledger_indices"]) > shipment
    entry = chain.ledger.entry(released["ledger_indices"][0])
    assert entry.body["captured_for"] == [DC] and entry.body["captured_by"].endswith(
        "(supply_chain)"
    )
    steps = _events_in_trace(chain)
    assert ("receiving", TRUCK, DC) in steps and steps[: len(before)] == before
    assert chain.trace("dc").status_code == 200
    # The same parties' other key and staff read it; the ledger holds it once.
    assert chain.held("dc2", location).json()["status"] == "released"
    assert (
        chain.held("adjudicator", location).json()["ledger_indices"] == (released["ledger_indices"])
    )
    assert chain.ledger.size() == size + 3
    # Its bytes are not kept twice: the events are on the ledger, each as it was sent.
    with chain.app.state.services.engine.connect() as conn:
        kept = conn.execute(
            sa.select(held_captures.c.document).where(held_captures.c.id == released["held"])
        ).scalar_one()
    assert bytes(kept) == b""


def test_a_released_receipt_is_captured_for_the_parties_that_took_part(chain: Chain) -> None:
    """Released, it is recorded as a capture is (``captured_for``: the key's parties that took
    part), not for every party of the key that sent it: the shop never held this lot."""
    location = _assert_held(chain.post("dc_shop", _receipt(TRUCK, DC, 5.05)))
    assert chain.post("truck", _ship(TRUCK, DC, 5)).status_code == 201
    (index,) = chain.held("dc_shop", location).json()["ledger_indices"]
    assert chain.ledger.entry(index).body["captured_for"] == [DC]


def test_an_outsiders_forged_receipt_is_held_never_released_and_expires(chain: Chain) -> None:
    size = chain.ledger.size()
    forged = chain.post("outsider", _receipt(TRUCK, OUTSIDER, 3))
    location = _assert_held(forged)
    assert TRUCK not in forged.text and FARM not in forged.text
    # Only its sender's parties and staff see it: to others it does not exist.
    assert chain.held("outsider", location).json()["status"] == "held"
    assert chain.held("admin", location).status_code == 200
    other = chain.held("dc", location)
    assert other.status_code == 404 and other.json()["type"].endswith("/unknown-held-capture")
    # The carrier's records arrive (it ships to the DC, not to the outsider): still held.
    assert chain.post("truck", _ship(TRUCK, DC, 5)).status_code == 201
    assert chain.post("dc", _receipt(TRUCK, DC, 5.05)).status_code == 201
    assert chain.held("outsider", location).json()["status"] == "held"
    assert chain.ledger.size() == size + 2
    refused = chain.trace("outsider")
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-lot")
    # Past its time it expires, its bytes dropped, and no later record releases it.
    chain.move_clock(TTL + timedelta(minutes=1))
    assert chain.held("outsider", location).json()["status"] == "expired"
    # Even the carrier's shipment to it (which would have released it in time) does not.
    assert chain.post("truck", _ship(TRUCK, OUTSIDER, 2.5)).status_code == 201
    assert chain.held("outsider", location).json()["status"] == "expired"
    with chain.app.state.services.engine.connect() as conn:
        row = conn.execute(sa.select(held_captures)).one()
    assert (row.status, bytes(row.document)) == ("expired", b"")


def test_an_expired_receipt_is_not_released_by_its_senders_shipment(chain: Chain) -> None:
    location = _assert_held(chain.post("dc", _receipt(TRUCK, DC, 5.05)))
    chain.move_clock(TTL + timedelta(seconds=1))
    size = chain.ledger.size()
    assert chain.post("truck", _ship(TRUCK, DC, 5)).status_code == 201
    assert chain.ledger.size() == size + 1
    assert chain.held("dc", location).json()["status"] == "expired"


def test_a_receipt_whose_sender_ships_to_someone_else_stays_held(chain: Chain) -> None:
    location = _assert_held(chain.post("dc", _receipt(TRUCK, DC, 5.05)))
    size = chain.ledger.size()
    assert chain.post("truck", _ship(TRUCK, SHOP, 5)).status_code == 201
    assert chain.ledger.size() == size + 1
    assert chain.held("dc", location).json()["status"] == "held"


def test_the_same_document_twice_is_the_same_held_capture(chain: Chain) -> None:
    sent = document(_receipt(TRUCK, DC, 5.05))
    first = _assert_held(chain.client.post("/v1/events", json=sent, headers=chain.keys["dc"]))
    again = chain.client.post("/v1/events", json=sent, headers=chain.keys["dc"])
    assert _assert_held(again) == first
    # Another key (of the same parties) sending it holds its own.
    other = chain.client.post("/v1/events", json=sent, headers=chain.keys["dc2"])
    assert _assert_held(other) != first
    with chain.app.state.services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(held_captures)).scalar() == 2


def test_a_key_over_its_held_cap_gets_429(tmp_path: Path) -> None:
    for chain in _chain(tmp_path, held_capture_max_per_key=2):
        for minutes in (1, 2):
            _assert_held(chain.post("outsider", _receipt(TRUCK, OUTSIDER, 3 + minutes / 60)))
        over = chain.post("outsider", _receipt(TRUCK, OUTSIDER, 3.5))
        assert over.status_code == 429, over.text
        assert over.json()["type"].endswith("/too-many-held")
        # The cap is per key: the DC's receipt is still held.
        _assert_held(chain.post("dc", _receipt(TRUCK, DC, 5.05)))
        # Held ones past their time stop counting.
        chain.move_clock(TTL + timedelta(minutes=1))
        _assert_held(chain.post("outsider", _receipt(TRUCK, OUTSIDER, 3.5)))


def test_a_revoked_keys_receipt_is_not_released(chain: Chain) -> None:
    location = _assert_held(chain.post("dc", _receipt(TRUCK, DC, 5.05)))
    token = chain.keys["dc"]["Authorization"].removeprefix("Bearer ")
    chain.app.state.services.keys.revoke(token.split("_")[1], by="tests")
    size = chain.ledger.size()
    assert chain.post("truck", _ship(TRUCK, DC, 5)).status_code == 201
    assert chain.ledger.size() == size + 1
    assert chain.held("dc2", location).json()["status"] == "held"


def test_a_released_receipt_releases_the_next_one(chain: Chain) -> None:
    """The DC's receipt waits for the carrier's shipment; the shop's for the DC's, which the DC
    posted after its own receipt (held too: it stands on that receipt). One shipment by the
    carrier releases all three, in a chain."""
    dc = _assert_held(chain.post("dc", _receipt(TRUCK, DC, 5.05), _ship(DC, SHOP, 10)))
    shop_key = grant(chain.app, "supply_chain", parties=[SHOP])
    shop = _assert_held(
        chain.client.post("/v1/events", json=document(_receipt(DC, SHOP, 10.05)), headers=shop_key)
    )
    assert chain.post("truck", _ship(TRUCK, DC, 5)).status_code == 201
    assert chain.held("dc", dc).json()["status"] == "released"
    assert chain.client.get(shop, headers=shop_key).json()["status"] == "released"
    assert [s for s, _, _ in _events_in_trace(chain)][-3:] == ["receiving", "shipping", "receiving"]


def test_other_refusals_are_still_refused(chain: Chain) -> None:
    size = chain.ledger.size()
    # A shipment by a party that does not hold the lot.
    ship = chain.post("dc", _ship(DC, SHOP, 3))
    assert ship.status_code == 403 and ship.json()["rule"] == "not-your-custody"
    # A receipt naming only other parties.
    names = chain.post("dc", _receipt(TRUCK, SHOP, 5.05))
    assert names.status_code == 403 and names.json()["rule"] == "names-another-party"
    # A held-shaped receipt beside a refusal that does not stand on it: the whole document.
    mixed = chain.post(
        "dc",
        lot_event(LOT, h(3), "inspecting", src=DC, disposition="damaged"),
        _receipt(TRUCK, DC, 5.05),
    )
    assert mixed.status_code == 403 and mixed.json()["event_index"] == 0
    assert chain.ledger.size() == size
    with chain.app.state.services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(held_captures)).scalar() == 0
