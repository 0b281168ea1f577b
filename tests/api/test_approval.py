"""Four eyes above the adjudicator's limit, and one current state of a claim (issue 21 items
3, 4, 5 and the customer's view of item 8).

A claim worth more than the adjudicator's limit (500.00) is proposed by one adjudicator and
paid only when a second one, whose key's approval limit covers it, approves; the proposer
never approves their own proposal, an admin never decides, and an admin key cannot mint an
approver through the API. After a person decides, every view of the claim says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from api.app import create_app
from api.settings import Settings
from cases.approval import answer_proposal
from claims.compensation import payments
from notifications.outbox import outbox
from tests.api.access import grant
from tests.conftest import jpeg_bytes, postgres_schema, scene, schema_url

PROBLEM = "application/problem+json"

DECIDE = {
    "party": "override",
    "responsible_party": "carrier",
    "party_id": "urn:epc:id:pgln:4000003.00000",
    "reason": "The driver's photo at the door shows the crushed crate.",
    "compensation": "approve",
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = schema_url(stack.enter_context(postgres_schema("approval_test")))
        app = create_app(
            Settings(
                data_dir=tmp_path_factory.mktemp("approval") / "var",
                database_url=url,
                anchor_backend="none",
                anchor_every_entries=1_000_000,
                rate_limit_per_minute=0,
                # Nothing listens: the messages stay in the outbox for the tests to read.
                webhook_urls="http://127.0.0.1:9/hook",
            )
        )
        with TestClient(app, raise_server_exceptions=False):
            yield app


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _senior(app: Any, limit: str = "5000.00") -> tuple[dict[str, str], str]:
    """An adjudicator key with an approval limit, as `freshproof keys create` makes one."""
    token, record = app.state.services.keys.create(
        role="adjudicator", name="senior", created_by="cli:tests", approval_limit=limit
    )
    return {"Authorization": f"Bearer {token}"}, f"key:fpk_{record.key_id} (adjudicator)"


def _file(client: TestClient, customer: dict[str, str], value: str) -> dict[str, Any]:
    claim = {
        "order_id": "O-CATERING",
        "lot": f"NO-RECORDS-{datetime.now(UTC).timestamp()}",
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
    return body


def _state(app: Any) -> tuple[int, int]:
    services = app.state.services
    with services.engine.connect() as conn:
        paid = conn.execute(select(func.count()).select_from(payments)).scalar_one()
    return services.ledger.size(), int(paid)


def _actor(app: Any, headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    actor: str = app.state.services.keys.authenticate(token).actor
    return actor


def _queue(client: TestClient, headers: dict[str, str], view: str) -> list[str]:
    resp = client.get("/v1/review", params={"view": view}, headers=headers)
    assert resp.status_code == 200
    return [c["id"] for c in resp.json()["items"]]


def test_above_the_limit_one_proposes_and_a_second_approves(app: Any, client: TestClient) -> None:
    customer = grant(app, "customer_app", customer_id="C-CATERING")
    claim = _file(client, customer, "900.00")
    url = f"/v1/claims/{claim['id']}"
    proposer = grant(app, "adjudicator")
    before = _state(app)

    # The first adjudicator's decision above 500.00 is a proposal: nothing is paid.
    proposed = client.post(f"{url}/decision", headers=proposer, json=DECIDE)
    assert proposed.status_code == 200, proposed.text
    body = proposed.json()
    assert body["status"] == "awaiting_approval"
    assert body["compensation"]["status"] == "awaiting_approval"
    assert body["compensation"]["paid"] is False and body["compensation"]["amount"] == "900.00"
    assert body["approval"]["proposed_by"] == _actor(app, proposer)
    assert body["approval"]["answer"] is None
    assert body["ticket"]["state"] == "acknowledged"  # proposing is a first response
    assert _state(app)[1] == before[1]
    ledger = app.state.services.ledger
    entry = ledger.entry(body["approval"]["ledger_index"])
    assert entry.kind == "claim.proposal" and entry.body["actor"] == _actor(app, proposer)
    assert entry.body["offer"]["amount"] == "900.00"
    assert claim["id"] in _queue(client, proposer, "awaiting_approval")

    # While it waits, nobody decides again; the proposer cannot approve; neither can a
    # plain adjudicator (no approval limit), an admin or an auditor. None writes anything.
    refused = [
        (proposer, f"{url}/decision", DECIDE, 409, "awaiting-approval"),
        (proposer, f"{url}/approval", {"answer": "approve"}, 403, "four-eyes"),
        (grant(app, "adjudicator"), f"{url}/approval", {"answer": "approve"}, 403, "over-limit"),
        (grant(app, "admin"), f"{url}/approval", {"answer": "approve"}, 403, "forbidden"),
        (grant(app, "admin"), f"{url}/decision", DECIDE, 403, "forbidden"),
        (grant(app, "auditor"), f"{url}/approval", {"answer": "approve"}, 403, "forbidden"),
        (_senior(app, "800.00")[0], f"{url}/approval", {"answer": "approve"}, 403, "over-limit"),
    ]
    for headers, target, payload, status, slug in refused:
        state = _state(app)
        resp = client.post(target, headers=headers, json=payload)
        assert resp.status_code == status, (target, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert resp.json()["type"].endswith(f"/{slug}"), resp.text
        assert _state(app) == state

    # A second adjudicator whose limit covers it approves: paid once, resolved.
    senior, senior_actor = _senior(app)
    approved = client.post(
        f"{url}/approval", headers=senior, json={"answer": "approve", "note": "checked the log"}
    )
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert done["status"] == "resolved" and done["ticket"]["state"] == "resolved"
    assert _state(app)[1] == before[1] + 1
    comp = done["compensation"]
    assert comp["paid"] is True and comp["status"] == "paid" and comp["amount"] == "900.00"
    assert comp["decided_by"] == senior_actor and comp["approved_by"] == senior_actor
    assert comp["proposed_by"] == _actor(app, proposer)
    assert done["approval"]["answer"] == "approved"
    assert done["approval"]["answered_by"] == senior_actor
    kinds = [ledger.entry(i).kind for i in range(before[0], ledger.size())]
    assert kinds.count("claim.proposal") == 1 and kinds.count("claim.approval") == 1
    assert kinds.count("claim.decision") == 1
    approval = ledger.entry(done["approval"]["answer_ledger_index"])
    assert approval.body["actor"] == senior_actor and approval.body["answer"] == "approved"
    decision = ledger.entry(done["outcome"]["ledger_index"])
    assert decision.body["actor"] == _actor(app, proposer)
    assert decision.body["compensation"]["approved_by"] == senior_actor
    assert claim["id"] not in _queue(client, senior, "awaiting_approval")
    # Approving again: nothing waits any more.
    again = client.post(f"{url}/approval", headers=senior, json={"answer": "approve"})
    assert again.status_code == 409 and again.json()["type"].endswith("/no-pending-approval")


def test_a_rejected_proposal_goes_back_to_review_and_pays_nothing(
    app: Any, client: TestClient
) -> None:
    customer = grant(app, "customer_app", customer_id="C-REJECT")
    claim = _file(client, customer, "700.00")
    url = f"/v1/claims/{claim['id']}"
    proposer = grant(app, "adjudicator")
    change = {**DECIDE, "compensation": "change", "amount": "650.00"}
    assert client.post(f"{url}/decision", headers=proposer, json=change).status_code == 200
    senior, senior_actor = _senior(app)
    before = _state(app)
    rejected = client.post(
        f"{url}/approval", headers=senior, json={"answer": "reject", "note": "too much"}
    )
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert body["status"] == "needs_review" and body["compensation"]["paid"] is False
    assert body["approval"]["answer"] == "rejected"
    assert body["compensation"]["status"] == "awaiting_decision"
    entry = app.state.services.ledger.entry(body["approval"]["answer_ledger_index"])
    assert (entry.kind, entry.body["actor"]) == ("claim.approval", senior_actor)
    assert _state(app) == (before[0] + 1, before[1])
    # The webhook messages tell the same state as the claim at each step.
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.order_key == claim["id"], outbox.c.event_type.like("claim.approval%"))
            .order_by(outbox.c.id)
        ).all()
    states = {r.event_type: json.loads(r.payload)["state"] for r in rows}
    asked = states["claim.approval_requested"]
    assert (asked["status"], asked["compensation"]["status"]) == (
        "awaiting_approval",
        "awaiting_approval",
    )
    assert asked["compensation"]["amount"] == "650.00" and asked["compensation"]["paid"] is False
    answered = states["claim.approval_answered"]
    assert answered["status"] == "needs_review"
    assert answered["compensation"] == body["compensation"]
    # Back in review: within the limit, one adjudicator decides alone.
    within = {**DECIDE, "compensation": "change", "amount": "480.00"}
    decided = client.post(f"{url}/decision", headers=proposer, json=within)
    assert decided.status_code == 200, decided.text
    assert decided.json()["compensation"]["amount"] == "480.00"
    assert decided.json()["compensation"]["paid"] is True


def test_the_proposer_may_withdraw_but_a_senior_proposing_needs_another_senior(
    app: Any, client: TestClient
) -> None:
    claim = _file(client, grant(app, "customer_app", customer_id="C-SENIOR"), "1200.00")
    url = f"/v1/claims/{claim['id']}"
    senior, _ = _senior(app)
    # A senior's own decision above the limit is a proposal too: four eyes for everyone.
    proposed = client.post(f"{url}/decision", headers=senior, json=DECIDE)
    assert proposed.json()["status"] == "awaiting_approval"
    own = client.post(f"{url}/approval", headers=senior, json={"answer": "approve"})
    assert own.status_code == 403 and own.json()["type"].endswith("/four-eyes")
    withdrawn = client.post(f"{url}/approval", headers=senior, json={"answer": "reject"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "needs_review"


def test_a_waiting_proposal_keeps_its_ticket_open(app: Any, client: TestClient) -> None:
    # Found by probing a served instance: a ticket move "resolve" while a proposal waited
    # closed the claim with the proposal still open. It left the awaiting_approval view,
    # the customer read "resolved" beside a payment awaiting approval, and the approval its
    # actions still offered failed with "a resolved ticket cannot resolve".
    claim = _file(client, grant(app, "customer_app", customer_id="C-RESOLVE"), "900.00")
    url = f"/v1/claims/{claim['id']}"
    proposer = grant(app, "adjudicator")
    assert client.post(f"{url}/decision", headers=proposer, json=DECIDE).status_code == 200
    for who in (proposer, grant(app, "adjudicator")):
        before = _state(app)
        resp = client.post(f"{url}/ticket", headers=who, json={"action": "resolve"})
        assert resp.status_code == 409, resp.text
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert resp.json()["type"].endswith("/awaiting-approval")
        assert "900.00" in resp.json()["detail"]
        assert _state(app) == before
    # Other moves are the ticket's own business: waiting on the customer pauses the clock.
    moved = client.post(f"{url}/ticket", headers=proposer, json={"action": "wait_on_customer"})
    assert moved.status_code == 200 and moved.json()["status"] == "awaiting_approval"
    assert claim["id"] in _queue(client, proposer, "awaiting_approval")
    senior, _ = _senior(app)
    approved = client.post(f"{url}/approval", headers=senior, json={"answer": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "resolved" and approved.json()["compensation"]["paid"]


def test_a_claim_read_while_it_is_approved_shows_one_state(app: Any, client: TestClient) -> None:
    """A claim's answer is put together from several reads (its row, its payment, its
    proposal); an approval that commits between them must not show a payment without the
    decision it pays. The shop-week simulation read one so: paid, status and outcome from
    before the approval."""
    customer = grant(app, "customer_app", customer_id="C-CATERING")
    claim = _file(client, customer, "900.00")
    url = f"/v1/claims/{claim['id']}"
    proposer = grant(app, "adjudicator")
    assert client.post(f"{url}/decision", headers=proposer, json=DECIDE).status_code == 200
    services = app.state.services
    _, senior = _senior(app)
    armed = True

    def approve_between(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        # Right after the GET has read the claim's own row, a second person approves.
        nonlocal armed
        if armed and statement.lstrip().startswith("SELECT claims."):
            armed = False
            answer_proposal(
                ledger=services.ledger,
                claim_id=claim["id"],
                answer="approve",
                note="approved while the claim was being read",
                actor=senior,
                approval_limit=Decimal("5000.00"),  # the senior key's limit
                now=datetime.now(UTC),
                policy=services.claims_config.compensation,
            )

    event.listen(services.engine, "after_cursor_execute", approve_between)
    try:
        during = client.get(url, headers=customer)
    finally:
        event.remove(services.engine, "after_cursor_execute", approve_between)
    assert not armed, "the approval ran between the reads"
    assert during.status_code == 200, during.text
    seen = during.json()
    # One state: all of it before the approval...
    assert seen["status"] == "awaiting_approval"
    assert seen["compensation"]["paid"] is False
    assert seen["compensation"]["status"] == "awaiting_approval"
    assert seen["approval"]["answer"] is None
    # ...and the next read all of it after.
    after = client.get(url, headers=customer).json()
    assert after["status"] == "resolved" and after["compensation"]["paid"] is True
    assert after["approval"]["answer"] == "approved"


def test_approval_limits_come_from_the_shell_never_from_the_api(
    app: Any, client: TestClient
) -> None:
    admin = grant(app, "admin")
    keys = len(app.state.services.keys.list())
    spec = {"role": "adjudicator", "name": "self-made approver", "approval_limit": "99999.00"}
    resp = client.post("/v1/keys", headers=admin, json=spec)
    assert resp.status_code == 403 and "server's shell" in resp.json()["detail"]
    assert len(app.state.services.keys.list()) == keys
    plain = client.post("/v1/keys", headers=admin, json={"role": "adjudicator", "name": "plain"})
    # An adjudicator key needs a second admin (separation of duties); it has no limit either.
    assert plain.status_code == 202, plain.text
    url = f"/v1/key-requests/{plain.json()['request_id']}/approval"
    issued = client.post(url, headers=grant(app, "admin"), json={"answer": "approve"})
    assert issued.status_code == 201 and issued.json()["approval_limit"] is None
    # Only adjudicator keys take a limit, and only an exact amount.
    store = app.state.services.keys
    from api.auth.keys import InvalidKeySpecError

    for role, limit in (("admin", "10.00"), ("adjudicator", "1.234"), ("adjudicator", "-1")):
        with pytest.raises(InvalidKeySpecError):
            store.create(role=role, name="x", created_by="tests", approval_limit=limit)
    _, record = store.create(role="adjudicator", name="y", created_by="tests", approval_limit="750")
    assert record.as_dict()["approval_limit"] == "750.00"
    assert store.get(record.key_id).approval_limit == record.approval_limit


def test_after_a_decision_every_view_tells_the_final_state(app: Any, client: TestClient) -> None:
    customer = grant(app, "customer_app", customer_id="C-FINAL")
    claim = _file(client, customer, "12.50")
    judge = grant(app, "adjudicator")
    assert claim["verdict"]["responsible_party"] == "undetermined"
    assert claim["compensation"]["paid"] is False
    decided = client.post(f"/v1/claims/{claim['id']}/decision", headers=judge, json=DECIDE)
    assert decided.status_code == 200, decided.text
    staff = decided.json()
    listed = client.get("/v1/claims", headers=judge, params={"limit": 200}).json()["items"]
    mine = client.get(f"/v1/claims/{claim['id']}", headers=customer).json()
    theirs = client.get("/v1/claims", headers=customer).json()["items"]
    (in_list,) = [c for c in listed if c["id"] == claim["id"]]
    (in_theirs,) = [c for c in theirs if c["id"] == claim["id"]]
    for view in (staff, in_list, mine, in_theirs):
        # The final party and payment at the top level, never the machine's contradiction.
        assert view["responsible_party"] == "carrier"
        assert view["verdict"]["responsible_party"] == "carrier"
        assert view["verdict"]["source"] == "person"
        assert view["verdict"]["needs_review"] is False
        assert view["compensation"]["paid"] is True
        assert view["compensation"]["status"] == "paid"
        assert view["compensation"]["amount"] == "12.50"
        # The machine's verdict is history, kept as it was.
        assert view["machine_verdict"]["responsible_party"] == "undetermined"
        assert view["machine_compensation"]["paid"] is False
    # The webhook message of the decision carries the same state.
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.payload).where(
                outbox.c.event_type == "claim.decided", outbox.c.order_key == claim["id"]
            )
        ).all()
    (row,) = rows
    state = json.loads(row.payload)["state"]
    assert state["responsible_party"] == "carrier" and state["compensation"]["paid"] is True
    assert state["compensation"] == {
        k: v for k, v in staff["compensation"].items() if k in state["compensation"]
    }
    # The customer reads "an adjudicator", never a key id.
    text = json.dumps(mine) + json.dumps(in_theirs)
    assert "fpk_" not in text
    assert mine["outcome"]["actor"] == "an adjudicator"
    assert mine["compensation"]["decided_by"] == "an adjudicator"
    assert all(h["actor"] == "an adjudicator" for h in mine["ticket"]["history"])
    assert "fpk_" in json.dumps(staff)  # staff still see who did it


def test_a_paid_claim_offers_and_takes_only_what_its_state_allows(
    app: Any, client: TestClient
) -> None:
    customer = grant(app, "customer_app", customer_id="C-PAID")
    claim = _file(client, customer, "20.00")
    judge = grant(app, "adjudicator")
    url = f"/v1/claims/{claim['id']}"
    assert claim.get("actions") is None  # not the customer's business
    fresh = client.get(url, headers=judge).json()["actions"]
    assert fresh["decide"] is True and fresh["party"] == ["override"]  # undetermined
    assert fresh["compensation"] == ["approve", "deny", "change"]
    paid = client.post(f"{url}/decision", headers=judge, json=DECIDE).json()
    assert paid["actions"]["decide"] is False
    reopened = client.post(f"{url}/ticket", headers=judge, json={"action": "reopen"}).json()
    # Paid: the payment stands. Approving keeps it; deny and change are not offered...
    assert reopened["actions"]["decide"] is True
    assert reopened["actions"]["compensation"] == ["approve"]
    # ...and not taken: deny is a conflict with the payment, as the actions said.
    before = _state(app)
    deny = client.post(f"{url}/decision", headers=judge, json={**DECIDE, "compensation": "deny"})
    assert deny.status_code == 409 and deny.json()["type"].endswith("/already-paid")
    assert _state(app) == before
    keep = client.post(
        f"{url}/decision",
        headers=judge,
        json={**DECIDE, "party": "override", "responsible_party": "warehouse", "party_id": None},
    )
    assert keep.status_code == 200, keep.text
    body = keep.json()
    assert body["responsible_party"] == "warehouse" and body["compensation"]["paid"] is True
    assert _state(app)[1] == before[1]  # kept, not paid again


def test_the_dossier_carries_the_proposal_the_approval_and_the_final_state(
    app: Any, client: TestClient
) -> None:
    from dossier.verify import verify_dossier

    claim = _file(client, grant(app, "customer_app", customer_id="C-DOSSIER4"), "800.00")
    url = f"/v1/claims/{claim['id']}"
    proposer = grant(app, "adjudicator")
    senior, senior_actor = _senior(app)
    assert client.post(f"{url}/decision", headers=proposer, json=DECIDE).status_code == 200
    assert client.post(f"{url}/approval", headers=senior, json={"answer": "approve"}).is_success
    dossier = client.get(f"{url}/dossier", headers=senior).json()
    kinds = [
        next(e["kind"] for e in dossier["entries"] if e["index"] == i)
        for i in dossier["ledger"]["decision_indices"]
    ]
    assert kinds == ["claim.proposal", "claim.approval", "claim.decision"]
    report = verify_dossier(dossier, client.get("/v1/ledger/key").text)
    assert report.ok, report.lines()
    text = "\n".join(report.lines())
    assert f"{_actor(app, proposer)} proposed 800.00 EUR" in text
    assert f"{senior_actor} approved the proposal" in text
    assert "decided carrier (urn:epc:id:pgln:4000003.00000) responsible, paid 800.00 EUR" in text
    assert "None" not in text
