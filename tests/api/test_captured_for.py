"""For whom an event is captured: the capturing key's parties that took part in it.

A key may speak for several parties (the farm's and its DC's ERP). Each event it writes is
captured for those of them the authorship rule finds took part (``supplychain.authorship``),
not for all of them: ``captured_for`` lets a party read the lot (``supplychain.query.scope``),
so the farm's packing of its own lot does not open the lot to a DC that never touched it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.epcis_events import document, lot_event

LOT = "urn:epc:class:lgtin:4012345.012345.FOR1"
FARM, DC = "urn:epc:id:pgln:4011111.00000", "urn:epc:id:pgln:4033333.00000"
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient, dict[str, dict[str, str]]]]:
    app = create_app(Settings(data_dir=tmp_path / "var", anchor_backend="none"))
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = {
            "erp": grant(app, "supply_chain", parties=[FARM, DC]),
            "farm": grant(app, "supply_chain", parties=[FARM]),
            "dc": grant(app, "supply_chain", parties=[DC]),
        }
        yield app, client, keys


def _capture(client: TestClient, headers: dict[str, str], *events: dict[str, Any]) -> list[int]:
    resp = client.post("/v1/events", json=document(*events), headers=headers)
    assert resp.status_code == 201, resp.text
    return [a["ledger_index"] for a in resp.json()["appended"]]


def _captured_for(app: FastAPI, indices: list[int]) -> list[list[str]]:
    return [app.state.services.ledger.entry(i).body["captured_for"] for i in indices]


def _query(client: TestClient, headers: dict[str, str]) -> list[Any]:
    resp = client.get("/v1/events", params={"MATCH_epcClass": LOT}, headers=headers)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def test_a_key_for_the_farm_and_its_dc_captures_the_farms_packing_for_the_farm_alone(
    chain: Any,
) -> None:
    app, client, keys = chain
    # A new lot: the farm packs it (naming itself), then a reading naming nobody while the
    # farm holds it. Neither is the DC's: the DC did not take part.
    packed = _capture(
        client,
        keys["erp"],
        lot_event(LOT, h(0), "packing", src=FARM),
        lot_event(LOT, h(1), "storing", temps=(3, 3)),
    )
    assert _captured_for(app, packed) == [[FARM], [FARM]]
    refused = client.get(f"/v1/lots/{LOT}/trace", headers=keys["dc"])
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-lot")
    assert _query(client, keys["dc"]) == []
    fsma = client.get(f"/v1/lots/{LOT}/fsma", headers=keys["dc"])
    assert fsma.status_code == 403 and fsma.json()["type"].endswith("/not-your-lot")
    # The farm's own key reads what was captured for it.
    trace = client.get(f"/v1/lots/{LOT}/trace", headers=keys["farm"])
    assert trace.status_code == 200
    assert [e["ledger_index"] for e in trace.json()["events"]] == packed
    assert len(_query(client, keys["farm"])) == 2


def test_a_handover_between_the_keys_parties_is_captured_for_both(chain: Any) -> None:
    app, client, keys = chain
    _capture(client, keys["erp"], lot_event(LOT, h(0), "packing", src=FARM))
    assert client.get(f"/v1/lots/{LOT}/trace", headers=keys["dc"]).status_code == 403
    # The farm ships to its DC, a reading within the clocks' slack of the handover (both
    # sides took part then, by the rule: neither is named), and the DC's receipt.
    handed = _capture(
        client,
        keys["erp"],
        lot_event(LOT, h(2), "shipping", src=FARM, dst=DC),
        lot_event(LOT, h(2.02), "inspecting"),
        lot_event(LOT, h(2.05), "receiving", src=FARM, dst=DC),
    )
    assert _captured_for(app, handed) == [[FARM, DC]] * 3
    # The DC took part now: it reads the lot, its packing included.
    trace = client.get(f"/v1/lots/{LOT}/trace", headers=keys["dc"])
    assert trace.status_code == 200 and len(trace.json()["events"]) == 4
    assert len(_query(client, keys["dc"])) == 4
    # The DC's stretch afterwards is the DC's alone.
    (stored,) = _capture(client, keys["erp"], lot_event(LOT, h(5), "storing", temps=(4,)))
    assert _captured_for(app, [stored]) == [[DC]]


def test_a_resent_document_keeps_the_entries_it_has(chain: Any) -> None:
    app, client, keys = chain
    doc = document(lot_event(LOT, h(0), "packing", src=FARM))
    (packed,) = [
        a["ledger_index"]
        for a in client.post("/v1/events", json=doc, headers=keys["farm"]).json()["appended"]
    ]
    again = client.post("/v1/events", json=doc, headers=keys["erp"])
    assert again.status_code == 201 and again.json()["appended"] == []
    assert len(again.json()["duplicates"]) == 1
    assert _captured_for(app, [packed]) == [[FARM]]
