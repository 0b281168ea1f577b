"""Forged evidence from outside a lot's history (issue 22, item 1), through the public API.

A supply-chain key adds events about a lot only for the part of its history its parties
took part in (supplychain/authorship.py): an outsider's report of a shock or a damaged, warm
lot inside another party's custody is refused (403 ``not-your-custody``), the ledger is
unchanged and no verdict moves. The parties' own records still go in; naming one's own read
point lets an outsider in only where no party holds the goods on record, and an outsider's
record (that, or one from before the rule) never makes a verdict confident alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from supplychain.epcis.build import SensorElement, SensorReport
from tests.api.access import grant
from tests.conftest import jpeg_bytes, textured
from tests.epcis_events import document, lot_event
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

LOT = "urn:epc:class:lgtin:4012345.012345.FORGE1"
FARM, TRUCK, DC, SHOP, OUTSIDER = (
    f"urn:epc:id:pgln:{p}.00000" for p in ("4011111", "4022222", "4033333", "4044444", "4099999")
)
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
DELIVERED = T0 + timedelta(hours=12)
PHOTO = jpeg_bytes(textured(seed=5))


class Swollen:
    """The model seam: every photo shows a swollen pack, surely."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        found = (Finding("swelling", 0.97, (0.0, 0.0, 9.0, 9.0)),)
        return Inspection(
            image, "0" * 64, 320, 240, QualityReport(True), found, {"version": "t"}, 7
        )


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _shock(at: datetime, mps2: float = 310.0, lot: str = LOT) -> dict[str, Any]:
    """The forged report: an inspection naming no party, with a hard acceleration."""
    e = lot_event(lot, at, "inspecting")
    shock = SensorReport("gs1:Acceleration", value=mps2, uom="MSK", time=at)
    e["sensorElementList"] = [SensorElement((shock,)).to_json()]
    return e


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Any, TestClient, dict[str, dict[str, str]]]]:
    app = create_app(Settings(data_dir=tmp_path / "var", anchor_backend="none"))
    app.dependency_overrides[get_predictor] = Swollen
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = {
            "admin": grant(app, "admin"),
            "farm": grant(app, "supply_chain", parties=[FARM]),
            "truck": grant(app, "supply_chain", parties=[TRUCK]),
            "dc": grant(app, "supply_chain", parties=[DC]),
            "outsider": grant(app, "supply_chain", parties=[OUTSIDER]),
            "shop": grant(app, "customer_app", customer_id="C-1"),
        }
        roles = ((FARM, "supplier"), (TRUCK, "carrier"), (DC, "warehouse"), (SHOP, "customer"))
        for pid, role in (*roles, (OUTSIDER, "warehouse")):
            body = {"id": pid, "role": role, "name": role}
            assert client.post("/v1/parties", json=body, headers=keys["admin"]).is_success
        # Each party posts its own records, as things happen: all of them are accepted.
        _capture(
            client,
            keys["farm"],  # the supplier's first events on a new lot
            lot_event(LOT, h(0), "packing", src=FARM, temps=(3,) * 4),
            lot_event(LOT, h(2), "shipping", src=FARM, dst=TRUCK),
        )
        _capture(
            client,
            keys["truck"],
            lot_event(LOT, h(2.05), "receiving", src=FARM, dst=TRUCK),
            # The custodian's own logger, naming no party: inside its custody.
            lot_event(LOT, h(2.1), "transporting", temps=(4,) * 6),
            lot_event(LOT, h(5), "shipping", src=TRUCK, dst=DC),
        )
        _capture(
            client,
            keys["dc"],
            lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=DC),
            # The receiver's inspection at receipt.
            lot_event(LOT, h(5.2), "inspecting", src=DC, disposition="conformant"),
            lot_event(LOT, h(5.5), "storing", src=DC, temps=(4,) * 9),
            lot_event(LOT, h(10), "shipping", src=DC, dst=SHOP),
        )
        yield app, client, keys


def _capture(client: TestClient, headers: dict[str, str], *events: dict[str, Any]) -> list[int]:
    resp = client.post("/v1/events", json=document(*events), headers=headers)
    assert resp.status_code == 201, resp.text
    return [a["ledger_index"] for a in resp.json()["appended"]]


def _file(
    client: TestClient, headers: dict[str, str], order: str, lot: str = LOT
) -> dict[str, Any]:
    claim = {
        "order_id": order,
        "lot": lot,
        "category": "chilled",
        "line_value": "12.50",
        "currency": "EUR",
        "delivered_at": DELIVERED.isoformat(),
    }
    resp = client.post(
        "/v1/claims",
        headers=headers,
        files=[("photos", ("p.jpg", PHOTO, "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _blame(claim: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    v = claim["verdict"]
    return v["responsible_party"], v["party_id"], [r["code"] for r in v["reasons"]]


def test_an_outsiders_shock_report_in_the_carriers_custody_is_refused(chain: Any) -> None:
    app, client, keys = chain
    before = _file(client, keys["shop"], "o-1")
    assert _blame(before) == ("supplier", FARM, ["SEAL_DEFECT"])
    ledger = app.state.services.ledger
    size = ledger.size()
    forged = client.post("/v1/events", json=document(_shock(h(3))), headers=keys["outsider"])
    assert forged.status_code == 403, forged.text
    problem = forged.json()
    assert problem["type"].endswith("/not-your-custody")
    assert (problem["rule"], problem["event_index"], problem["lot"]) == (
        "not-your-custody",
        0,
        LOT,
    )
    # Named nowhere in the lot's history, it is not told who held the lot then.
    assert problem["needs"] == [] and problem["speaks_for"] == [OUTSIDER]
    assert TRUCK not in forged.text
    assert "speaks for" in problem["detail"] and "not-your-custody" in problem["detail"]
    assert ledger.size() == size
    # Nothing moved: the first claim stands, and the next claim is judged the same way.
    again = client.get(f"/v1/claims/{before['id']}", headers=keys["shop"]).json()
    assert again["verdict"] == before["verdict"]
    after = _file(client, keys["shop"], "o-2")
    assert _blame(after) == ("supplier", FARM, ["SEAL_DEFECT"])
    assert after["verdict"]["confidence"] == before["verdict"]["confidence"]


def test_an_outsiders_damaged_and_warm_report_in_the_warehouses_custody_is_refused(
    chain: Any,
) -> None:
    app, client, keys = chain
    ledger = app.state.services.ledger
    size = ledger.size()
    warm = lot_event(LOT, h(6), "inspecting", disposition="damaged", temps=(30, 30, 30))
    forged = client.post("/v1/events", json=document(warm), headers=keys["outsider"])
    assert forged.status_code == 403 and forged.json()["needs"] == [], forged.text
    # Naming itself as the possessor does not put the outsider into the history either.
    warm["sourceList"] = [{"type": "possessing_party", "source": OUTSIDER}]
    named = client.post("/v1/events", json=document(warm), headers=keys["outsider"])
    assert named.status_code == 403 and named.json()["rule"] == "not-your-custody"
    assert ledger.size() == size
    assert _blame(_file(client, keys["shop"], "o-3"))[:2] == ("supplier", FARM)


def test_an_outsiders_refusals_never_tell_it_who_held_the_lot(chain: Any) -> None:
    """Found probing the access matrix: the outsider, refused the lot's trace (403
    not-your-lot), posted one event per hour and read each 403's ``needs``: the farm, then
    the truck, then the DC, the custody chain the trace keeps from it, and nothing was
    written. Now its refusals name nobody; the parties the history names are still told."""
    app, client, keys = chain
    size = app.state.services.ledger.size()
    assert client.get(f"/v1/lots/{LOT}/trace", headers=keys["outsider"]).status_code == 403
    for hours in (1, 3, 6, 9):
        probe = lot_event(LOT, h(hours), "receiving", dst=OUTSIDER)
        refused = client.post("/v1/events", json=document(probe), headers=keys["outsider"])
        assert refused.status_code == 403 and refused.json()["needs"] == [], refused.text
        assert not any(p in refused.text for p in (FARM, TRUCK, DC, SHOP)), refused.text
    assert app.state.services.ledger.size() == size
    told = client.post("/v1/events", json=document(_shock(h(3))), headers=keys["farm"])
    assert told.status_code == 403 and told.json()["needs"] == [TRUCK], told.text


def test_an_outsiders_receipt_dated_before_the_history_does_not_open_the_lot(
    chain: Any,
) -> None:
    """Found probing the access matrix: the outsider, refused the lot's trace, captured a
    receipt from nobody naming itself, dated a day before the farm packed (201, nobody held
    the lot on record then), and from then on read the lot's whole trace, FSMA export and
    events as a party that took part, and stood first in its custody. Now it is refused."""
    app, client, keys = chain
    size = app.state.services.ledger.size()
    early = lot_event(LOT, h(-24), "receiving", dst=OUTSIDER)
    refused = client.post("/v1/events", json=document(early), headers=keys["outsider"])
    assert refused.status_code == 403 and refused.json()["rule"] == "not-your-custody"
    assert app.state.services.ledger.size() == size
    trace = client.get(f"/v1/lots/{LOT}/trace", headers=keys["outsider"])
    assert trace.status_code == 403 and trace.json()["type"].endswith("/not-your-lot")
    query = client.get("/v1/events", params={"MATCH_epcClass": LOT}, headers=keys["outsider"])
    assert query.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    # The custody the verdicts read still begins with the farm.
    staff = client.get(f"/v1/lots/{LOT}/trace", headers=keys["admin"]).json()
    assert staff["custody"][0]["id"] == FARM


def test_a_bare_lot_number_does_not_open_another_companys_lot_of_that_number(
    chain: Any,
) -> None:
    """Found probing the access matrix: the outsider company's own lot FORGE1 (an operator's
    import here; ledgers from before the authorship rule hold such pairs) shares its bare
    number with the farm's. GET /v1/lots/FORGE1/trace and /fsma answered the outsider with the
    farm's, truck's and DC's records. Now a bare number shared by several lots means the
    caller's own lot of them (``supplychain.lot_names``); staff are asked to choose."""
    app, client, keys = chain
    own = "urn:epc:class:lgtin:4099999.099999.FORGE1"
    capture_events(
        ledger=app.state.services.ledger,
        events_in=parse_document(document(lot_event(own, h(1), "packing", src=OUTSIDER))),
        actor="cli:operator",
    )
    assert client.get(f"/v1/lots/{own}/trace", headers=keys["outsider"]).status_code == 200
    for url in ("/v1/lots/FORGE1/trace", "/v1/lots/FORGE1/fsma"):
        mine = client.get(url, headers=keys["outsider"])
        assert mine.status_code == 200, (url, mine.text[:300])
        assert TRUCK not in mine.text and DC not in mine.text and FARM not in mine.text
    refused = client.get(f"/v1/lots/{LOT}/trace", headers=keys["outsider"])
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-lot")
    # The farm by the number they share reads its own lot, not the outsider's.
    farm = client.get("/v1/lots/FORGE1/trace", headers=keys["farm"])
    assert farm.status_code == 200 and OUTSIDER not in farm.text and TRUCK in farm.text
    both = client.get("/v1/lots/FORGE1/trace", headers=keys["admin"])
    assert both.status_code == 409 and both.json()["type"].endswith("/ambiguous-lot")
    assert len(both.json()["lots"]) == 2


def test_a_party_may_not_write_after_it_handed_the_goods_over(chain: Any) -> None:
    _, client, keys = chain
    late = client.post("/v1/events", json=document(_shock(h(7))), headers=keys["truck"])
    assert late.status_code == 403 and late.json()["needs"] == [DC]
    # ...while the warehouse, holding the goods then, records the same shock as its own.
    _capture(client, keys["dc"], _shock(h(7)))
    assert _blame(_file(client, keys["shop"], "o-4"))[:2] == ("warehouse", DC)


def test_an_outsiders_own_read_point_does_not_let_it_write_about_a_held_lot(
    chain: Any,
) -> None:
    app, client, keys = chain
    ledger = app.state.services.ledger
    size = ledger.size()
    # Naming its own site is the outsider's word against the record: the carrier holds the
    # goods then, so the shock report is refused as any other, and nothing moves.
    seen = _shock(h(3))
    seen["readPoint"] = {"id": "urn:epc:id:sgln:4099999.00001.0"}
    refused = client.post("/v1/events", json=document(seen), headers=keys["outsider"])
    assert refused.status_code == 403 and refused.json()["needs"] == [], refused.text
    assert ledger.size() == size
    assert _blame(_file(client, keys["shop"], "o-5"))[:2] == ("supplier", FARM)


def test_an_outsiders_receipt_from_nobody_does_not_put_it_into_a_held_lot(chain: Any) -> None:
    """Found trying the EPCIS query as a hostile partner (issue 26): a receipt naming itself as
    the receiver and no sender was accepted while the carrier held the goods, and made the
    outsider a party to the lot, so it read the lot's whole history. Now it is refused as
    any other word against the record, and the outsider reads nothing of the lot."""
    app, client, keys = chain
    ledger = app.state.services.ledger
    size = ledger.size()
    receipt = lot_event(LOT, h(3), "receiving", dst=OUTSIDER)
    refused = client.post("/v1/events", json=document(receipt), headers=keys["outsider"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule"] == "not-your-custody" and refused.json()["needs"] == []
    assert ledger.size() == size
    query = client.get(
        "/v1/events", params={"MATCH_epcClass": LOT}, headers=keys["outsider"]
    ).json()
    assert query["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    fsma = client.get(f"/v1/lots/{LOT}/fsma", headers=keys["outsider"])
    assert fsma.status_code == 403 and fsma.json()["type"].endswith("/not-your-lot")
    # The receiver's side of a real handover still goes in: it names its sender.
    _capture(client, keys["dc"], lot_event(LOT, h(5.06), "receiving", src=TRUCK, dst=DC))


LOT2 = "urn:epc:class:lgtin:4012345.012345.FORGE2"


def test_an_outsiders_sighting_in_an_unconfirmed_stretch_never_decides_alone(
    chain: Any,
) -> None:
    _, client, keys = chain
    # A second lot the farm shipped naming no receiver: from then on no party holds it on
    # record, so a party that saw it at its own site may say so.
    _capture(
        client,
        keys["farm"],
        lot_event(LOT2, h(0), "packing", src=FARM, temps=(3,) * 4),
        lot_event(LOT2, h(2), "shipping", src=FARM),
    )
    before = _file(client, keys["shop"], "o-6", lot=LOT2)
    seen = _shock(h(3), lot=LOT2)
    seen["readPoint"] = {"id": "urn:epc:id:sgln:4099999.00001.0"}
    (index,) = _capture(client, keys["outsider"], seen)
    claim = _file(client, keys["shop"], "o-7", lot=LOT2)
    assert _blame(before) == _blame(claim) == ("undetermined", None, ["CUSTODY_GAP"])
    assert claim["status"] == "needs_review" and index > 0


def test_an_outsiders_record_from_before_capture_was_bounded_never_decides_alone(
    chain: Any,
) -> None:
    app, client, keys = chain
    # A ledger kept before this rule may hold an outsider's report inside the carrier's
    # custody (as the forged shock was): written here as such a store would hold it.
    old = capture_events(
        ledger=app.state.services.ledger,
        events_in=parse_document(document(_shock(h(3)))),
        actor="key:fpk_0ld00000 (supply_chain)",
        speaks_for=[OUTSIDER],
    )
    ((_, index),) = old.appended
    claim = _file(client, keys["shop"], "o-8")
    party, party_id, codes = _blame(claim)
    assert (party, party_id) == ("carrier", TRUCK) and "RECORD_BY_OUTSIDER" in codes
    outsider = next(r for r in claim["verdict"]["reasons"] if r["code"] == "RECORD_BY_OUTSIDER")
    assert [r["index"] for r in outsider["refs"]] == [index]
    assert claim["verdict"]["confidence"] <= 0.5
    assert claim["compensation"]["paid"] is False and claim["status"] == "needs_review"
