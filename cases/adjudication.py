"""Adjudicators close cases: a person's decision on a claim.

Every decision is a ledger entry naming its actor, written with its table row, its payment
(if any) and its webhook message in one ledger transaction. The ledger's write lock
serialises them, so of two decisions at once the second finds the claim resolved
(``ClaimClosedError``), and the payments table's key is the backstop that pays a claim at
most once (``AlreadyPaidError``). A decision paying more than the policy's adjudicator limit
is not paid but proposed (``cases.approval``), and an admin key decides nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from cases.approval import propose
from cases.moves import claim_row
from cases.outcome import record_decision
from claims.compensation import (
    CompensationPolicy,
    Proposal,
    get_payment,
    pay,
)
from claims.errors import (
    AlreadyPaidError,
    ClaimClosedError,
    InvalidDecisionError,
)
from claims.jsonutil import jsonable
from claims.models import DecisionInput
from claims.records import Review, claim_state, load_reviews
from claims.state import allowed_actions
from ledger.log import Ledger


def _check_allowed(row: Any, review: Review, decision: DecisionInput) -> None:
    """Refuse a decision the claim's state does not allow (``claims.state.allowed_actions``)."""
    state = claim_state(row, review)
    actions = allowed_actions(state)
    if state.ticket_state == "resolved":
        raise ClaimClosedError(row.id)
    review.refuse_while_pending(row.id)
    if (why := actions.party[decision.party]) is not None:
        raise InvalidDecisionError("party", why)
    if (why := actions.compensation[decision.compensation]) is not None:
        if state.paid:
            raise AlreadyPaidError(row.id)
        raise InvalidDecisionError("compensation", why)


def _offer(row: Any, decision: DecisionInput) -> Proposal | None:
    """What the decision pays (None: nothing, a denial)."""
    if decision.compensation == "deny":
        return None
    if decision.compensation == "change":
        assert decision.amount is not None
        amount = decision.amount
        return Proposal("refund", amount, row.currency, False, decision.reason, refund=amount)
    return Proposal.offered(json.loads(row.compensation))


def _settle(
    conn: Connection,
    row: Any,
    decision: DecisionInput,
    offer: Proposal | None,
    *,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Deny, keep a payment already made, or pay the offer; pays at most once."""
    if offer is None:
        return {"decision": "deny", "paid": False}
    paid = get_payment(conn=conn, claim_id=row.id)
    if paid is None:
        paid = pay(conn=conn, claim_id=row.id, proposal=offer, decided_by=actor, now=now)
    return {"decision": decision.compensation, "paid": True, "payment": jsonable(asdict(paid))}


def decide(
    *,
    ledger: Ledger,
    claim_id: str,
    decision: DecisionInput,
    actor: str,
    now: datetime,
    policy: CompensationPolicy,
    webhooks: Sequence[str] = (),
) -> dict[str, Any]:
    """Record a person's decision and resolve the ticket; returns the outcome.

    A payment above the policy's adjudicator limit is not made: it is proposed (four eyes,
    GUIDE §4 rule 7) and the claim waits for a second person's ``answer_proposal``; the
    result is then ``{"proposal": ...}``. Refused as ``allowed_actions`` says:
    ``ClaimClosedError`` when the ticket is resolved (a second decision racing the first
    lands here), ``AwaitingApprovalError`` while a proposal waits, ``AlreadyPaidError``
    denying or changing a paid claim. Nothing is written unless everything is.
    """
    with ledger.writer() as w:
        row = claim_row(w.conn, claim_id)
        review = load_reviews(w.conn, [claim_id])[claim_id]
        _check_allowed(row, review, decision)
        offer = _offer(row, decision)
        if offer is not None and review.payment is None and offer.amount > policy.adjudicator_limit:
            return propose(w, row, review, decision, offer, actor=actor, now=now, webhooks=webhooks)
        compensation = _settle(w.conn, row, decision, offer, actor=actor, now=now)
        return record_decision(
            w, row, decision, compensation, actor=actor, resolver=actor, now=now, webhooks=webhooks
        )
