"""Adjudicators close cases through the API, on SQLite and PostgreSQL.

A claim on a lot without records is undetermined, waits in the queue with its compensation
held; the adjudicator decides it, the ticket resolves, the customer sees the outcome, and
the ledger names who did each thing. Bad decisions are problems that write nothing, and two
decisions at once pay once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.settings import Settings
from claims.compensation import payments
from tests.api.access import grant
from tests.conftest import jpeg_bytes, postgres_schema, scene, schema_url

PROBLEM = "application/problem+json"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = schema_url(stack.enter_context(postgres_schema("adjudication_test")))
        app = create_app(
            Settings(
                data_dir=tmp_path_factory.mktemp("adjudication") / "var",
                database_url=url,
                anchor_backend="none",
                anchor_every_entries=1_000_000,
            )
        )
        with TestClient(app, raise_server_exceptions=False):
            yield app


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def judge(app: Any) -> dict[str, str]:
    return grant(app, "adjudicator")


def _file(client: TestClient, customer: dict[str, str], value: str = "12.50") -> dict[str, Any]:
    claim = {
        "order_id": "O-ADJ",
        "lot": f"NO-RECORDS-{threading.get_ident()}-{datetime.now(UTC).timestamp()}",
        "category": "chilled",
        "line_value": value,
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    resp = client.post(
        "/v1/claims",
        headers=customer,
        files=[("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    assert body["verdict"]["responsible_party"] == "undetermined"
    return body


def _state(app: Any) -> tuple[int, int]:
    services = app.state.services
    with services.engine.connect() as conn:
        paid = conn.execute(select(func.count()).select_from(payments)).scalar_one()
    return services.ledger.size(), int(paid)


DECIDE = {
    "party": "override",
    "responsible_party": "carrier",
    "party_id": "urn:epc:id:pgln:4000003.00000",
    "reason": "Driver's photo at the door shows the crushed box.",
    "compensation": "approve",
    "findings": [
        {
            "photo": 0,
            "index": None,
            "correct": False,
            "label": "package_damage",
            "box": [10, 10, 90, 90],
        }
    ],
}


def test_an_open_claim_waits_in_the_queue_and_is_decided(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    customer = grant(app, "customer_app", customer_id="C-ADJ")
    claim = _file(client, customer)
    # Nobody proposed anything above the limit: it waits for a decision, not an approval.
    queue = client.get("/v1/review", params={"view": "awaiting_approval"}, headers=judge)
    assert queue.status_code == 200
    assert claim["id"] not in [c["id"] for c in queue.json()["items"]]
    needs = client.get("/v1/review", params={"view": "needs_review"}, headers=judge).json()
    assert claim["id"] in [c["id"] for c in needs["items"]]
    ack = client.post(
        f"/v1/claims/{claim['id']}/ticket", headers=judge, json={"action": "acknowledge"}
    )
    assert ack.status_code == 200 and ack.json()["ticket"]["state"] == "acknowledged"
    decided = client.post(f"/v1/claims/{claim['id']}/decision", headers=judge, json=DECIDE)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "resolved" and body["ticket"]["state"] == "resolved"
    outcome = body["outcome"]
    assert (outcome["responsible_party"], outcome["party_id"]) == ("carrier", DECIDE["party_id"])
    assert outcome["compensation"]["paid"] is True
    assert outcome["compensation"]["payment"]["amount"] == "12.50"
    assert outcome["actor"].endswith("(adjudicator)")
    # Every step is on the ledger, naming who did it.
    ledger = app.state.services.ledger
    entry = ledger.entry(outcome["ledger_index"])
    assert entry.kind == "claim.decision" and entry.body["findings"][0]["label"] == "package_damage"
    kinds = [ledger.entry(h["ledger_index"]).kind for h in body["ticket"]["history"]]
    assert kinds == ["ticket.moved", "ticket.moved"]
    # The customer sees the status and the outcome; the queue no longer holds the claim.
    seen = client.get(f"/v1/claims/{claim['id']}", headers=customer).json()
    assert seen["status"] == "resolved" and seen["outcome"]["compensation"]["paid"] is True
    still = client.get("/v1/review", headers=judge).json()["items"]
    assert claim["id"] not in [c["id"] for c in still]


def test_bad_decisions_are_problems_that_write_nothing(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    customer = grant(app, "customer_app", customer_id="C-BAD")
    claim = _file(client, customer, value="900.00")
    url = f"/v1/claims/{claim['id']}/decision"
    cases = [
        # Confirming an undetermined verdict names nobody.
        ({**DECIDE, "party": "confirm", "responsible_party": None, "party_id": None}, 422),
        # Malformed: change without an amount, an unknown field.
        ({**DECIDE, "compensation": "change"}, 422),
        ({**DECIDE, "colour": "red"}, 422),
    ]
    for body, status in cases:
        before = _state(app)
        resp = client.post(url, headers=judge, json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert _state(app) == before
    # Not an adjudicator: a customer app and an auditor may not decide.
    for role, bindings in (("customer_app", {"customer_id": "C-BAD"}), ("auditor", {})):
        headers = grant(app, role, **bindings)
        before = _state(app)
        assert client.post(url, headers=headers, json=DECIDE).status_code == 403
        assert _state(app) == before
    # Within the limit it goes through; afterwards the claim is closed to decisions.
    ok = client.post(
        url, headers=judge, json={**DECIDE, "compensation": "change", "amount": "450.00"}
    )
    assert (
        ok.status_code == 200
        and ok.json()["outcome"]["compensation"]["payment"]["amount"] == "450.00"
    )
    before = _state(app)
    again = client.post(url, headers=judge, json={**DECIDE, "compensation": "deny"})
    assert again.status_code == 409 and again.json()["type"].endswith("/claim-closed")
    assert _state(app) == before
    # Reopened, it can be decided again, but never paid twice.
    reopen = client.post(
        f"/v1/claims/{claim['id']}/ticket", headers=judge, json={"action": "reopen"}
    )
    assert reopen.status_code == 200 and reopen.json()["ticket"]["state"] == "reopened"
    before = _state(app)
    twice = client.post(
        url, headers=judge, json={**DECIDE, "compensation": "change", "amount": "10.00"}
    )
    assert twice.status_code == 409 and twice.json()["type"].endswith("/already-paid")
    assert _state(app) == before
    wrong_move = client.post(
        f"/v1/claims/{claim['id']}/ticket", headers=judge, json={"action": "resume"}
    )
    assert wrong_move.status_code == 409 and wrong_move.json()["type"].endswith(
        "/invalid-transition"
    )


def test_resolving_an_undetermined_claim_nobody_decided_is_refused(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    # Found by probing: a "resolve" move closed an undetermined claim with no decision, and
    # the customer read "resolved", nobody responsible, compensation awaiting a decision.
    customer = grant(app, "customer_app", customer_id="C-UNDECIDED")
    claim = _file(client, customer)
    url = f"/v1/claims/{claim['id']}/ticket"
    before = _state(app)
    refused = client.post(url, headers=judge, json={"action": "resolve", "note": "closing"})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/decision-required")
    assert "undetermined" in refused.json()["detail"]
    assert _state(app) == before
    seen = client.get(f"/v1/claims/{claim['id']}", headers=judge).json()
    assert (seen["status"], seen["ticket"]["state"]) == ("needs_review", "new")
    # Decided, it is settled: reopened, a resolve closes it again under that decision.
    decided = client.post(f"/v1/claims/{claim['id']}/decision", headers=judge, json=DECIDE)
    assert decided.status_code == 200 and decided.json()["ticket"]["state"] == "resolved"
    assert client.post(url, headers=judge, json={"action": "reopen"}).status_code == 200
    again = client.post(url, headers=judge, json={"action": "resolve"})
    assert again.status_code == 200 and again.json()["ticket"]["state"] == "resolved"


def test_two_decisions_at_once_pay_once(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    customer = grant(app, "customer_app", customer_id="C-RACE")
    claim = _file(client, customer)
    other = grant(app, "adjudicator")
    _, paid_before = _state(app)
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def go(headers: dict[str, str]) -> None:
        barrier.wait()
        resp = TestClient(app, raise_server_exceptions=False).post(
            f"/v1/claims/{claim['id']}/decision", headers=headers, json=DECIDE
        )
        codes.append(resp.status_code)

    threads = [threading.Thread(target=go, args=(h,)) for h in (judge, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    assert _state(app)[1] == paid_before + 1
    seen = client.get(f"/v1/claims/{claim['id']}", headers=judge).json()
    assert len([h for h in seen["ticket"]["history"] if h["action"] == "resolve"]) == 1


def test_waiting_on_the_customer_pauses_the_clock(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    claim = _file(client, grant(app, "customer_app", customer_id="C-WAIT"))
    url = f"/v1/claims/{claim['id']}/ticket"
    waiting = client.post(
        url,
        headers=judge,
        json={"action": "wait_on_customer", "note": "asked for a photo of the label"},
    )
    assert waiting.status_code == 200 and waiting.json()["ticket"]["state"] == "waiting_on_customer"
    resumed = client.post(url, headers=judge, json={"action": "resume"}).json()["ticket"]
    assert resumed["state"] == "acknowledged" and resumed["due"]["paused_s"] > 0
    assert resumed["due"]["resolution"] > claim["ticket"]["resolution_due"]


def test_the_dossier_of_a_decided_claim_verifies_offline_and_names_a_tampered_part(
    app: Any, client: TestClient, judge: dict[str, str]
) -> None:
    from dossier.verify import verify_dossier

    claim = _file(client, grant(app, "customer_app", customer_id="C-DOSSIER"))
    assert client.post(f"/v1/claims/{claim['id']}/decision", headers=judge, json=DECIDE).is_success
    resp = client.get(f"/v1/claims/{claim['id']}/dossier", headers=judge)
    assert resp.status_code == 200 and "attachment" in resp.headers["content-disposition"]
    dossier = resp.json()
    key = client.get("/v1/ledger/key").text
    report = verify_dossier(dossier, key)
    assert report.ok, report.lines()
    assert dossier["ledger"]["decision_indices"], "the decision travels with the dossier"
    dossier["verdict"]["responsible_party"] = "supplier"
    broken = verify_dossier(dossier, key)
    assert not broken.ok and any("verdict" in line for line in broken.lines())
    # Other parties' records: not for a customer app.
    customer = grant(app, "customer_app", customer_id="C-DOSSIER")
    assert client.get(f"/v1/claims/{claim['id']}/dossier", headers=customer).status_code == 403
