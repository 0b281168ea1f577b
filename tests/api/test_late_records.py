"""Verdicts keep up with the evidence (GUIDE §4 rule 6), through the public API.

A lot's records arrive after a claim on it; the claim is assessed again. A changed verdict
is a ``claim.reassessed`` ledger entry citing the new records, and a webhook event; a claim
that was paid is never changed by the machine, only flagged; and a record captured late by
the party it clears never makes a verdict confident on its own.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from dossier.verify import verify_dossier
from notifications.outbox import outbox
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from supplychain.epcis.build import ObjectEvent, Quantity, SourceDestination
from tests.api.access import grant
from tests.conftest import jpeg_bytes, textured
from tests.epcis_events import document, lot_event
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

LOT = "urn:epc:class:lgtin:4012345.012345.LATE1"
FARM, TRUCK, DC = (f"urn:epc:id:pgln:40{n}.00000" for n in (11111, 22222, 33333))
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
DELIVERED = T0 + timedelta(hours=12)
PHOTO = jpeg_bytes(textured(seed=3))


class Mouldy:
    """The model seam: every photo shows mould, surely."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        found = (Finding("mold", 0.97, (0.0, 0.0, 9.0, 9.0)),)
        return Inspection(
            image, "0" * 64, 320, 240, QualityReport(True), found, {"version": "t"}, 7
        )


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _event(at: datetime, step: str, **kw: Any) -> dict[str, Any]:
    return lot_event(LOT, at, step, **kw)


_doc = document


# The truck's leg (2 h to 5 h) in readings every 30 minutes, and the DC's (5 h to 10 h).
TRUCK_CLEAN = _event(h(2.1), "transporting", src=TRUCK, temps=(4,) * 6)
DC_ABUSED = _event(h(5.5), "storing", src=DC, temps=(4, 14, 15, 15, 14, 15, 15, 4, 4, 4))
DC_CLEAN = _event(h(5.5), "storing", src=DC, temps=(4,) * 10)


def _handovers(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """The lot's handovers, each side recorded by its own party's key (the farm's and the
    DC's ERP speaks for both; the truck for itself): a receipt names a sender whose own
    shipment is on record (supplychain/authorship.py, step 4)."""
    for key, events in (
        (
            "chain",
            (
                _event(h(0), "packing", src=FARM, temps=(3,) * 5),
                _event(h(2), "shipping", src=FARM, dst=TRUCK),
            ),
        ),
        (
            "truck",
            (
                _event(h(2.05), "receiving", src=FARM, dst=TRUCK),
                _event(h(5), "shipping", src=TRUCK, dst=DC),
            ),
        ),
        (
            "chain",
            (
                _event(h(5.05), "receiving", src=TRUCK, dst=DC),
                _event(h(10), "shipping", src=DC, dst="urn:epc:id:pgln:4044444.00000"),
            ),
        ),
    ):
        _capture(client, keys[key], _doc(*events))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Any, TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(
        data_dir=tmp_path / "var",
        anchor_backend="none",
        webhook_urls="http://127.0.0.1:9/hook",
    )
    app = create_app(settings)
    app.dependency_overrides[get_predictor] = Mouldy
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = {
            "admin": grant(app, "admin"),
            "chain": grant(app, "supply_chain", parties=[FARM, DC]),
            "truck": grant(app, "supply_chain", parties=[TRUCK]),
            "shop": grant(app, "customer_app", customer_id="C-1"),
            "adjudicator": grant(app, "adjudicator"),
        }
        parties = (
            (FARM, "supplier"),
            (TRUCK, "carrier"),
            (DC, "warehouse"),
            ("urn:epc:id:pgln:4044444.00000", "customer"),
        )
        for pid, role in parties:
            body = {"id": pid, "role": role, "name": role}
            assert client.post("/v1/parties", json=body, headers=keys["admin"]).is_success
        yield app, client, keys


def _capture(client: TestClient, headers: dict[str, str], doc: dict[str, Any]) -> list[int]:
    resp = client.post("/v1/events", json=doc, headers=headers)
    assert resp.status_code == 201, resp.text
    return [a["ledger_index"] for a in resp.json()["appended"]]


def _file(
    client: TestClient, headers: dict[str, str], value: str = "12.50", lot: str = LOT
) -> dict[str, Any]:
    claim = {
        "order_id": "o-1",
        "lot": lot,
        "category": "chilled_produce",
        "line_value": value,
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


def _get(client: TestClient, headers: dict[str, str], claim_id: str) -> dict[str, Any]:
    resp = client.get(f"/v1/claims/{claim_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _codes(claim: dict[str, Any]) -> list[str]:
    return [r["code"] for r in claim["verdict"]["reasons"]]


def _webhooks(app: Any, event_type: str) -> list[dict[str, Any]]:
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type))
        return [json.loads(p) for (p,) in rows]


def test_the_missing_readings_arrive_and_the_open_claim_is_decided(shop: Any) -> None:
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    # The DC's leg has no readings yet: nobody can be named.
    assert filed["verdict"]["responsible_party"] == "undetermined"
    late = _capture(client, keys["chain"], _doc(DC_ABUSED))
    claim = _get(client, keys["shop"], filed["id"])
    assert (claim["verdict"]["responsible_party"], claim["verdict"]["party_id"]) == (
        "warehouse",
        DC,
    )
    assert "TEMPERATURE_ABUSE" in _codes(claim)
    # The change is a ledger entry citing the new record, and the verdict now points to it.
    ledger = app.state.services.ledger
    entry = ledger.entry(claim["ledger"]["verdict_index"])
    assert entry.kind == "claim.reassessed"
    assert [r["index"] for r in entry.body["records"]] == late
    assert entry.body["previous"]["responsible_party"] == "undetermined"
    # The DC captured records against its own interest: they count fully.
    assert claim["verdict"]["confidence"] >= 0.9 and claim["compensation"]["paid"] is True
    hooks = _webhooks(app, "claim.reassessed")
    assert [h["claim_id"] for h in hooks] == [filed["id"]]


def test_a_claim_filed_by_the_packs_digital_link_follows_records_under_the_urn(
    shop: Any,
) -> None:
    """The customer scanned the pack's QR code (the lot's GS1 Digital Link); the parties
    record the lot by its LGTIN URN. The claim is judged on those records
    (``supplychain.lot_names``), and their late records are about the claim's lot all the
    same (``claims.lot_keys``), so the claim is assessed again."""
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    qr = "https://id.gs1.org/01/04012345123456/10/LATE1"
    filed = _file(client, keys["shop"], lot=qr)
    # The lot's custody is read under its URN: only the DC's leg lacks readings.
    assert filed["verdict"]["responsible_party"] == "undetermined"
    assert "NO_RECORDS" not in _codes(filed)
    late = _capture(client, keys["chain"], _doc(DC_ABUSED))
    claim = _get(client, keys["shop"], filed["id"])
    assert claim["verdict"]["responsible_party"] == "warehouse"
    entry = app.state.services.ledger.entry(claim["ledger"]["verdict_index"])
    assert entry.kind == "claim.reassessed"
    assert [r["index"] for r in entry.body["records"]] == late


def test_a_retry_finishes_a_reassessment_the_capture_never_ran(shop: Any) -> None:
    """The events were stored, then the process died (or the reassessment failed) before the
    claims were assessed again: the client, with no answer, sends the document again."""
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    assert filed["verdict"]["responsible_party"] == "undetermined"
    # Stored the way the route stores it, with nothing after the commit.
    stored = capture_events(
        ledger=app.state.services.ledger,
        events_in=parse_document(json.dumps(_doc(DC_ABUSED)).encode()),
        speaks_for=[FARM, DC],
    )
    assert _get(client, keys["shop"], filed["id"])["verdict"]["responsible_party"] == (
        "undetermined"
    )
    resp = client.post("/v1/events", json=_doc(DC_ABUSED), headers=keys["chain"])
    assert resp.status_code == 201 and resp.json()["appended"] == []
    assert resp.json()["duplicates"] == [h for h, _ in stored.appended]
    claim = _get(client, keys["shop"], filed["id"])
    assert (claim["verdict"]["responsible_party"], claim["verdict"]["party_id"]) == (
        "warehouse",
        DC,
    )
    entry = app.state.services.ledger.entry(claim["ledger"]["verdict_index"])
    assert entry.kind == "claim.reassessed"
    assert [r["index"] for r in entry.body["records"]] == stored.indices
    # A third sending finds nothing to change and writes nothing.
    size = app.state.services.ledger.size()
    assert client.post("/v1/events", json=_doc(DC_ABUSED), headers=keys["chain"]).is_success
    assert app.state.services.ledger.size() == size


def test_a_late_record_by_the_party_it_clears_never_makes_the_verdict_confident(
    shop: Any,
) -> None:
    _, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["chain"], _doc(DC_ABUSED))
    filed = _file(client, keys["shop"])
    # The truck's leg has a hole: the DC is the leading abuser, but nobody is named.
    assert filed["verdict"]["responsible_party"] == "undetermined"
    late = _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    claim = _get(client, keys["shop"], filed["id"])
    verdict = claim["verdict"]
    assert (verdict["responsible_party"], verdict["party_id"]) == ("warehouse", DC)
    assert "LATE_RECORD_BY_BENEFICIARY" in _codes(claim)
    late_reason = next(r for r in verdict["reasons"] if r["code"] == "LATE_RECORD_BY_BENEFICIARY")
    assert [r["index"] for r in late_reason["refs"]] == late
    assert verdict["confidence"] <= 0.5
    assert claim["compensation"]["paid"] is False and claim["status"] == "needs_review"


def test_a_use_by_its_maker_records_after_the_claim_never_pays_on_its_own(shop: Any) -> None:
    """The lot's maker states a use-by already past at delivery only once the claim is filed:
    the date moves the verdict from nobody to the seller and so clears the maker, whose lot
    the claim was on. Rule 6 weighs it as any late record by the party it clears: the seller
    is named, capped below what pays out, and a person decides (before, the late date named
    the seller at 0.95 and the claim was paid)."""
    _, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    # The DC's leg has no readings: nobody can be named.
    assert filed["verdict"]["responsible_party"] == "undetermined"
    use_by = (DELIVERED - timedelta(days=2)).date().isoformat()
    packed = ObjectEvent(
        event_time=h(0.5),
        biz_step="commissioning",
        action="ADD",
        quantities=(Quantity(LOT, 40, "KGM"),),
        sources=(SourceDestination(FARM),),
        ilmd={"cbvmda:itemExpirationDate": use_by},
    )
    late = _capture(client, keys["chain"], _doc(packed))
    claim = _get(client, keys["shop"], filed["id"])
    verdict = claim["verdict"]
    assert verdict["responsible_party"] == "retailer"
    assert _codes(claim)[0] == "USE_BY_PASSED_AT_DELIVERY"
    late_reason = next(r for r in verdict["reasons"] if r["code"] == "LATE_RECORD_BY_BENEFICIARY")
    assert [r["index"] for r in late_reason["refs"]] == late
    assert late_reason["facts"]["without"] == "undetermined"
    assert verdict["confidence"] <= 0.5
    assert claim["compensation"]["paid"] is False and claim["status"] == "needs_review"


def test_a_paid_claim_is_flagged_never_changed(shop: Any) -> None:
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    _capture(client, keys["chain"], _doc(DC_CLEAN))
    filed = _file(client, keys["shop"])
    assert filed["verdict"]["responsible_party"] == "supplier"
    assert filed["compensation"]["paid"] is True
    # A second logger of the DC reports abuse a day later: the supplier was not at fault.
    late_doc = _doc(
        _event(h(5.6), "storing", src=DC, temps=(4, 16, 16, 16, 16, 16, 16, 4, 4)),
    )
    late = _capture(client, keys["chain"], late_doc)
    claim = _get(client, keys["shop"], filed["id"])
    assert claim["verdict"] == filed["verdict"] and claim["compensation"] == filed["compensation"]
    hooks = _webhooks(app, "claim.flagged")
    assert len(hooks) == 1 and hooks[0]["settled"] == "paid"
    assert hooks[0]["verdict"]["responsible_party"] == "warehouse"
    entry = app.state.services.ledger.entry(hooks[0]["ledger"]["entry"])
    assert entry.kind == "claim.flagged" and [r["index"] for r in entry.body["records"]] == late
    # The flag stands, and the claim waits in the queue's flagged view, until a person acts.
    flag = _get(client, keys["shop"], filed["id"])["flagged"]
    assert flag["records"] == late and flag["machine_now"].startswith("warehouse")
    queue = client.get("/v1/review?view=flagged", headers=keys["adjudicator"]).json()["items"]
    assert [c["id"] for c in queue] == [filed["id"]]
    moved = client.post(
        f"/v1/claims/{filed['id']}/ticket",
        json={"action": "acknowledge", "note": "looked at the late logger"},
        headers=keys["adjudicator"],
    )
    assert moved.status_code == 200, moved.text
    assert _get(client, keys["shop"], filed["id"])["flagged"] is None
    assert client.get("/v1/review?view=flagged", headers=keys["adjudicator"]).json()["items"] == []


def test_records_that_change_nothing_leave_the_claim_alone(shop: Any) -> None:
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    _capture(client, keys["chain"], _doc(DC_ABUSED))
    filed = _file(client, keys["shop"])
    size = app.state.services.ledger.size()
    # The DC's own record while it held the goods (after shipping at 10 h it is not its part).
    _capture(client, keys["chain"], _doc(_event(h(9), "inspecting", src=DC)))
    claim = _get(client, keys["shop"], filed["id"])
    assert claim["verdict"] == filed["verdict"]
    assert app.state.services.ledger.size() == size + 1  # the record itself, nothing more


def _dossier(
    client: TestClient, keys: dict[str, dict[str, str]], claim_id: str
) -> tuple[dict[str, Any], str]:
    resp = client.get(f"/v1/claims/{claim_id}/dossier", headers=keys["adjudicator"])
    assert resp.status_code == 200, resp.text
    return resp.json(), client.get("/v1/ledger/key").text


def test_the_dossier_of_a_reassessed_claim_verifies_and_names_what_changed_it(
    shop: Any,
) -> None:
    _, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    late = _capture(client, keys["chain"], _doc(DC_ABUSED))
    claim = _get(client, keys["shop"], filed["id"])
    doc, key = _dossier(client, keys, filed["id"])
    report = verify_dossier(doc, key)
    assert report.ok, report.lines()
    # The file states the current verdict, chained back to the first one through the entry
    # that replaced it, and carries the late records that caused the change.
    assert doc["verdict"] == {k: v for k, v in claim["verdict"].items() if k != "source"}
    chain = doc["ledger"]["verdict_chain"]
    assert chain == [filed["ledger"]["verdict_index"], claim["ledger"]["verdict_index"]]
    parts = [c.part for c in report.checks]
    assert f"re-assessment {chain[1]}" in parts
    assert all(f"late record → {i}" in parts for i in late)


def test_a_dossier_whose_verdict_chain_skips_the_reassessment_fails(shop: Any) -> None:
    _, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    _capture(client, keys["chain"], _doc(DC_ABUSED))
    doc, key = _dossier(client, keys, filed["id"])
    # Claim the first verdict still stands: its entry is no claim.reassessed of it.
    forged = copy.deepcopy(doc)
    forged["ledger"]["verdict_index"] = forged["ledger"]["verdict_chain"][0]
    forged["ledger"]["verdict_chain"] = forged["ledger"]["verdict_chain"][:1]
    failures = verify_dossier(forged, key).failures
    assert failures and all(f.step == 4 for f in failures), [f.message for f in failures]
    # Present the new verdict as if the machine had reached it first.
    forged = copy.deepcopy(doc)
    forged["ledger"]["verdict_chain"] = forged["ledger"]["verdict_chain"][1:]
    failures = verify_dossier(forged, key).failures
    assert [f.step for f in failures] == [3]
    assert "is not a claim.verdict entry" in failures[0].message


def test_the_dossier_of_a_flagged_claim_verifies_and_says_it_was_only_flagged(
    shop: Any,
) -> None:
    _, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    _capture(client, keys["chain"], _doc(DC_CLEAN))
    filed = _file(client, keys["shop"])
    late_doc = _doc(_event(h(5.6), "storing", src=DC, temps=(4, 16, 16, 16, 16, 16, 16, 4, 4)))
    _capture(client, keys["chain"], late_doc)
    doc, key = _dossier(client, keys, filed["id"])
    report = verify_dossier(doc, key)
    assert report.ok, report.lines()
    assert doc["verdict"]["responsible_party"] == "supplier"
    (flag,) = [c for c in report.checks if c.step == 7]
    assert "claim.flagged" in flag.message and "only flagged it for a person" in flag.message
    assert "None" not in flag.message


@pytest.mark.parametrize("celsius", [1e308, 20_000.0])
def test_an_absurd_reading_is_refused_whole_and_the_open_claim_stays_assessable(
    shop: Any, celsius: float
) -> None:
    # Found by probing a served instance: a logger's 1e308 °C on a lot with an open claim
    # made the claim's reassessment fail after the event was on the ledger (the Q10 power
    # overflowed; at 1e308 the degree-minutes are infinite, which no ledger entry holds):
    # 500 with the event appended, the claim never reassessed, and every later claim on
    # the lot refused. A reading no food logger makes is refused at capture now.
    app, client, keys = shop
    _handovers(client, keys)
    _capture(client, keys["truck"], _doc(TRUCK_CLEAN))
    filed = _file(client, keys["shop"])
    size = app.state.services.ledger.size()
    faulty = _event(h(5.5), "storing", src=DC, temps=(4, celsius, 4, 4))
    resp = client.post("/v1/events", json=_doc(faulty), headers=keys["chain"])
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    [error] = resp.json()["errors"]
    assert error["field"].endswith("sensorReport[1].value") and "1000 °C" in error["reason"]
    assert app.state.services.ledger.size() == size
    # The lot's claims are still assessed: the DC's real readings name it.
    _capture(client, keys["chain"], _doc(DC_ABUSED))
    assert _get(client, keys["shop"], filed["id"])["verdict"]["party_id"] == DC
    assert _file(client, keys["shop"])["verdict"]["party_id"] == DC
