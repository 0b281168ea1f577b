"""Supply-chain capture over HTTP: parties, EPCIS documents, dedupe, traces, anchors."""

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.epcis_events import document, lot_event

DATA = Path(__file__).resolve().parents[1] / "supplychain" / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
PROBLEM = "application/problem+json"
PARTIES = [f"urn:epc:id:pgln:{p}.00000" for p in ("4000001", "4012345", "4023333")]
SUPPLY: dict[str, str] = {}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "var", anchor_every_entries=4))
    with TestClient(app, raise_server_exceptions=False) as c:
        # An admin by default (parties, traces, entries, anchors); events come from the
        # supply-chain system of the documents' parties.
        c.headers.update(grant(app, "admin"))
        SUPPLY.clear()
        SUPPLY.update(grant(app, "supply_chain", parties=PARTIES))
        yield c


def _doc(name: str = "object_shipping_inspection.json") -> dict:
    return json.loads((DATA / name).read_text())


def _size(client: TestClient) -> int:
    return int(client.get("/v1/ledger/checkpoint").text.split("\n")[1])


def test_parties_register_once_and_update(client: TestClient) -> None:
    body = {"id": "urn:epc:id:pgln:4012345.00000", "role": "supplier", "name": "Berry Farm"}
    first = client.post("/v1/parties", json=body)
    assert first.status_code == 201 and first.json()["appended"] is True
    again = client.post("/v1/parties", json=body).json()
    assert again["appended"] is False and again["ledger_index"] == first.json()["ledger_index"]
    renamed = client.post("/v1/parties", json={**body, "name": "Berry Farm Ltd"}).json()
    assert renamed["appended"] is True and renamed["ledger_index"] > again["ledger_index"]


@pytest.mark.parametrize(("field", "value"), [("id", "farm-42"), ("role", "pirate"), ("name", " ")])
def test_bad_party_is_a_422_problem(client: TestClient, field: str, value: str) -> None:
    body = {"id": "urn:epc:id:pgln:4012345.00000", "role": "supplier", "name": "x", field: value}
    resp = client.post("/v1/parties", json=body)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    problem = resp.json()
    # Shape and text are refused by the request schema, the registry's rules by the registry;
    # either way the problem names the field.
    assert problem["type"].rsplit("/", 1)[1] in ("invalid-party", "validation")
    assert problem["field"].split(".")[-1] == field


def test_capture_dedupes_and_traces_the_lot(client: TestClient) -> None:
    client.post(
        "/v1/parties",
        json={"id": "urn:epc:id:pgln:4023333.00000", "role": "carrier", "name": "FastVan"},
    )
    first = client.post("/v1/events", json=_doc(), headers=SUPPLY)
    assert first.status_code == 201, first.text
    assert len(first.json()["appended"]) == 2 and first.json()["duplicates"] == []
    size = _size(client)
    again = client.post("/v1/events", json=_doc(), headers=SUPPLY).json()
    assert again["appended"] == [] and len(again["duplicates"]) == 2
    # Re-posting appends nothing, except that anchoring (in the background, by entry count)
    # may have recorded a receipt meanwhile.
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    since = [ledger.entry(i).kind for i in range(size, ledger.size())]
    assert all(kind == "ledger.anchor" for kind in since), since

    trace = client.get(f"/v1/lots/{LOT}/trace").json()
    assert [e["biz_step"] for e in trace["events"]] == ["shipping", "inspecting"]
    assert trace["events"][1]["inspection"] is True
    assert trace["events"][0]["custody"]["to"] == {
        "id": "urn:epc:id:pgln:4023333.00000",
        "role": "carrier",
        "name": "FastVan",
    }
    temps = trace["events"][1]["temperatures"]
    assert {round(t["celsius"], 2) for t in temps} >= {4.5, 5.0}  # 41 °F and 278.15 K
    bare = client.get("/v1/lots/STRAW-0502/trace").json()
    assert [e["ledger_index"] for e in bare["events"]] == [
        e["ledger_index"] for e in trace["events"]
    ]
    # A supply-chain key reads the trace of a lot its parties took part in, no other.
    assert client.get(f"/v1/lots/{LOT}/trace", headers=SUPPLY).status_code == 200
    app = client.app  # type: ignore[attr-defined]
    rival = grant(app, "supply_chain", parties=["urn:epc:id:pgln:4099999.00000"])
    refused = client.get(f"/v1/lots/{LOT}/trace", headers=rival)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-lot")
    # every trace line verifies as a proof bundle
    idx = trace["events"][0]["ledger_index"]
    bundle = client.get(f"/v1/ledger/entries/{idx}").json()
    assert bundle["leaf_hash"] == trace["events"][0]["leaf_hash"]


def test_malformed_document_names_event_and_field_and_appends_nothing(client: TestClient) -> None:
    before = _size(client)
    doc = _doc()
    bad = copy.deepcopy(doc)
    del bad["epcisBody"]["eventList"][1]["eventTime"]
    bad["epcisBody"]["eventList"][0]["action"] = "SHRED"
    resp = client.post("/v1/events", json=bad, headers=SUPPLY)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    errors = resp.json()["errors"]
    assert {(e["event_index"], e["field"].split(".")[-1]) for e in errors} >= {
        (0, "action"),
        (1, "eventTime"),
    }
    assert _size(client) == before
    assert client.get(f"/v1/lots/{LOT}/trace").status_code == 404


def test_an_lgtin_without_its_lot_is_refused_naming_event_and_field(client: TestClient) -> None:
    # Stored, it would be a "lot" no claim can name, holding every lot of the product.
    before = _size(client)
    bad = _doc()
    bad["epcisBody"]["eventList"][1]["quantityList"][0]["epcClass"] = LOT.rsplit(".", 1)[0]
    resp = client.post("/v1/events", json=bad, headers=SUPPLY)
    assert resp.status_code == 422 and resp.json()["type"].endswith("/invalid-epcis")
    [error] = resp.json()["errors"]
    assert (error["event_index"], error["field"]) == (1, "eventList[1].quantityList[0].epcClass")
    assert "urn:epc:idpat:sgtin:4012345.012345.*" in error["reason"]
    assert _size(client) == before


def test_not_json_and_unknown_lot_are_problems(client: TestClient) -> None:
    resp = client.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json", **SUPPLY}
    )
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    lost = client.get("/v1/lots/NO-SUCH-LOT/trace")
    assert lost.status_code == 404 and lost.json()["type"].endswith("/unknown-lot")


def test_anchors_are_recorded_and_verify(client: TestClient) -> None:
    client.post("/v1/events", json=_doc(), headers=SUPPLY)
    client.post("/v1/events", json=_doc("aggregation_packing.json"), headers=SUPPLY)
    made = client.post("/v1/ledger/anchors")
    assert made.status_code == 201, made.text
    anchors = client.get("/v1/ledger/anchors").json()
    assert anchors, "no anchor recorded"
    receipt = anchors[-1]["receipt"]
    assert receipt["chain_id"] > 0 and receipt["tx_hash"].startswith("0x")
    assert receipt["block_number"] >= 1 and receipt["contract_address"].startswith("0x")
    from ledger.anchoring import verify_anchors

    services = client.app.state.services  # type: ignore[attr-defined]
    assert verify_anchors(ledger=services.ledger, anchor=services.anchor()) == len(anchors)


def test_a_lot_is_one_lot_in_any_form_and_two_companies_l1_are_two(client: TestClient) -> None:
    """Authorship reads a lot's history under every form it was recorded in (its LGTIN URN
    beside its Digital Link), and never by the bare lot number two companies may share."""
    client.post("/v1/parties", json={"id": PARTIES[1], "role": "supplier", "name": "Berry Farm"})
    assert client.post("/v1/events", json=_doc(), headers=SUPPLY).status_code == 201
    app = client.app  # type: ignore[attr-defined]
    rival_id = "urn:epc:id:pgln:4099999.00000"
    rival = grant(app, "supply_chain", parties=[rival_id])
    assert client.post(
        "/v1/parties", json={"id": rival_id, "role": "warehouse", "name": "Rival"}
    ).is_success
    at = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)  # the farm's lot is with FastVan then
    link = "https://id.gs1.org/01/04012345123456/10/STRAW-0502"  # the farm's lot, as a link
    forged = client.post(
        "/v1/events",
        json=document(lot_event(link, at, "receiving", dst=rival_id)),
        headers=rival,
    )
    assert forged.status_code == 403, forged.text
    assert forged.json()["needs"] == []  # an outsider is told no names (who held it when)
    assert "4023333" not in forged.text
    # The rival's own lot STRAW-0502 (its GTIN): its lot, whatever the farm's is called.
    own = "urn:epc:class:lgtin:4099999.000001.STRAW-0502"
    mine = client.post(
        "/v1/events", json=document(lot_event(own, at, "packing", src=rival_id)), headers=rival
    )
    assert mine.status_code == 201, mine.text


def test_a_bare_lot_number_two_companies_share_is_not_one_trace(client: TestClient) -> None:
    """The farm's STRAW-0502 and a rival's: by bare number, staff are asked to choose (409
    naming both); each company's key reads its own; by URI, each lot is itself."""
    client.post("/v1/parties", json={"id": PARTIES[1], "role": "supplier", "name": "Berry Farm"})
    assert client.post("/v1/events", json=_doc(), headers=SUPPLY).status_code == 201
    assert client.get("/v1/lots/STRAW-0502/trace").status_code == 200  # one lot: as before
    app = client.app  # type: ignore[attr-defined]
    rival_id = "urn:epc:id:pgln:4099999.00000"
    rival = grant(app, "supply_chain", parties=[rival_id])
    client.post("/v1/parties", json={"id": rival_id, "role": "supplier", "name": "Rival"})
    own = "urn:epc:class:lgtin:4099999.000001.STRAW-0502"
    at = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    doc = document(lot_event(own, at, "packing", src=rival_id))
    assert client.post("/v1/events", json=doc, headers=rival).status_code == 201

    both = client.get("/v1/lots/STRAW-0502/trace")
    assert both.status_code == 409 and both.json()["type"].endswith("/ambiguous-lot")
    assert both.json()["lots"] == [
        "https://id.gs1.org/01/04012345123456/10/STRAW-0502",
        "https://id.gs1.org/01/04099999000012/10/STRAW-0502",
    ]
    theirs = client.get("/v1/lots/STRAW-0502/trace", headers=rival).json()
    assert [e["biz_step"] for e in theirs["events"]] == ["packing"]
    farm = client.get("/v1/lots/STRAW-0502/trace", headers=SUPPLY).json()
    assert [e["biz_step"] for e in farm["events"]] == ["shipping", "inspecting"]
    assert len(client.get(f"/v1/lots/{LOT}/trace").json()["events"]) == 2
    # The farm's lot by the Digital Link on its pack: the records filed by its URN, not the
    # rival's lot of the same number.
    link = quote("https://id.gs1.org/01/04012345123456/10/STRAW-0502", safe="")
    by_link = client.get(f"/v1/lots/{link}/trace")
    assert by_link.status_code == 200, by_link.text
    assert [e["biz_step"] for e in by_link.json()["events"]] == ["shipping", "inspecting"]
