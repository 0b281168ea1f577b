"""One rule for what a claim allows, and one current state for every view of it (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claims.state import (
    ClaimState,
    allowed_actions,
    current_state,
    for_customer,
    resolve_refused,
)

MACHINE = {
    "responsible_party": "undetermined",
    "party_id": None,
    "confidence": 0.0,
    "needs_review": True,
    "reasons": [{"code": "NO_RECORDS"}],
}
PROPOSAL = {
    "kind": "refund",
    "amount": "12.50",
    "currency": "EUR",
    "auto_pay": False,
    "reason": "a person approves",
    "refund": "12.50",
    "voucher": "0.00",
    "paid": False,
}
PAYMENT = {
    "claim_id": "c",
    "kind": "refund",
    "amount": "12.50",
    "voucher": "0.00",
    "currency": "EUR",
    "decided_by": "key:fpk_0000000a (adjudicator)",
    "paid_at": "2026-12-05T09:00:00+00:00",
}


def _state(**kw: object) -> ClaimState:
    base = {
        "ticket_state": "new",
        "undetermined": False,
        "proposed_amount": Decimal("12.50"),
        "paid": False,
        "awaiting_approval": False,
    }
    return ClaimState(**(base | kw))  # type: ignore[arg-type]


def test_a_paid_claim_allows_keeping_the_payment_only() -> None:
    actions = allowed_actions(_state(paid=True))
    assert actions.decide is None
    assert actions.offered(actions.compensation) == ("approve",)
    assert "already paid" in (actions.compensation["deny"] or "")


def test_the_rule_follows_the_state() -> None:
    assert allowed_actions(_state(undetermined=True)).offered(
        allowed_actions(_state(undetermined=True)).party
    ) == ("override",)
    nothing = allowed_actions(_state(proposed_amount=Decimal("0")))
    assert nothing.offered(nothing.compensation) == ("deny", "change")
    resolved = allowed_actions(_state(ticket_state="resolved"))
    assert resolved.decide is not None and resolved.moves == ("reopen",)
    waiting = allowed_actions(_state(awaiting_approval=True, ticket_state="acknowledged"))
    assert waiting.decide is not None and waiting.approval is None
    assert allowed_actions(_state()).approval is not None
    assert allowed_actions(_state()).as_dict()["moves"] == ["acknowledge", "wait_on_customer"]


CONFIDENT = {**MACHINE, "responsible_party": "customer", "confidence": 0.9, "needs_review": False}
DECIDED = {"responsible_party": "carrier", "actor": "key:fpk_0000000a (adjudicator)"}


@pytest.mark.parametrize(
    ("verdict", "compensation", "decision", "payment", "refused"),
    [
        (MACHINE, PROPOSAL, None, None, "undetermined"),
        (MACHINE, {**PROPOSAL, "amount": "0.00"}, None, None, "undetermined"),
        (CONFIDENT, PROPOSAL, None, None, "12.50 EUR waits for a person"),
        (CONFIDENT, {**PROPOSAL, "amount": "0.00"}, None, None, None),  # the machine settled
        (CONFIDENT, PROPOSAL, None, PAYMENT, None),  # paid by the machine
        (MACHINE, PROPOSAL, DECIDED, None, None),  # a person decided
    ],
)
def test_resolve_without_a_decision_needs_a_settled_claim(
    verdict: dict[str, object],
    compensation: dict[str, object],
    decision: dict[str, object] | None,
    payment: dict[str, object] | None,
    refused: str | None,
) -> None:
    why = resolve_refused(
        machine_verdict=verdict,
        machine_compensation=compensation,
        decision=decision,
        payment=payment,
    )
    assert why is None if refused is None else refused in (why or "")


def test_before_a_decision_the_state_is_the_machines() -> None:
    verdict, paid = current_state(
        machine_verdict=MACHINE,
        machine_compensation=PROPOSAL,
        decision=None,
        payment=None,
        proposal=None,
    )
    assert verdict == {**MACHINE, "source": "machine"}
    assert paid["paid"] is False and paid["status"] == "awaiting_decision"


def test_after_a_decision_the_state_is_the_persons_and_the_payments() -> None:
    decision = {
        "actor": "key:fpk_0000000a (adjudicator)",
        "responsible_party": "carrier",
        "party_id": "urn:epc:id:pgln:4000003.00000",
        "reason": "seen at the door",
        "decided_at": "2026-12-05T09:00:00+00:00",
        "compensation": {"decision": "approve", "paid": True, "payment": PAYMENT},
    }
    verdict, paid = current_state(
        machine_verdict=MACHINE,
        machine_compensation=PROPOSAL,
        decision=decision,
        payment=PAYMENT,
        proposal=None,
    )
    assert (verdict["responsible_party"], verdict["source"]) == ("carrier", "person")
    assert verdict["needs_review"] is False and verdict["reasons"] == MACHINE["reasons"]
    assert paid["paid"] is True and paid["status"] == "paid"
    assert paid["reason"] == "seen at the door"
    denied = {**decision, "compensation": {"decision": "deny", "paid": False}}
    _, none = current_state(
        machine_verdict=MACHINE,
        machine_compensation=PROPOSAL,
        decision=denied,
        payment=None,
        proposal=None,
    )
    assert (none["status"], none["amount"], none["paid"]) == ("denied", "0.00", False)


def test_the_customer_reads_a_role_not_a_key() -> None:
    claim = {
        "outcome": {"actor": "key:fpk_0000000a (adjudicator)"},
        "compensation": {"decided_by": "auto", "payment": {"decided_by": "auto"}},
        "ticket": {"history": [{"actor": "key:fpk_0000000b (adjudicator)"}]},
        "actions": {"decide": True},
        "approval": {"answer": "rejected", "answer_note": "too much, ask Bea", "offer": {}},
    }
    seen = for_customer(claim)
    assert seen["outcome"]["actor"] == "an adjudicator"
    assert seen["ticket"]["history"][0]["actor"] == "an adjudicator"
    assert seen["compensation"]["decided_by"] == "auto"  # the machine stays the machine
    assert "actions" not in seen
    assert seen["approval"] == {"answer": "rejected", "proposed_at": None, "answered_at": None}
