"""Four eyes (GUIDE §4 rule 7): a payment above the adjudicator's limit waits for a second person.

``propose`` records the proposal (``claim.proposal``; the claim's status becomes
``awaiting_approval``); ``answer_proposal`` is the second person's answer: approving pays it
and records the proposer's decision with ``approved_by``, rejecting puts the claim back in
review. The proposer never approves their own proposal, and an approver's key must carry an
approval limit covering the amount.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update

from cases.moves import claim_row, record_move
from cases.outcome import outcome_party, record_decision, row_state
from claims.compensation import (
    CompensationPolicy,
    Proposal,
    pay,
)
from claims.errors import (
    InvalidDecisionError,
    NoPendingApprovalError,
    OverLimitError,
    OwnProposalError,
)
from claims.jsonutil import jsonable
from claims.models import DecisionInput
from claims.queue_index import refresh_queue
from claims.records import AWAITING_APPROVAL, Review, load_reviews
from claims.review import ACTIONS
from claims.tables import (
    claim_proposals,
    claims,
)
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue


def propose(
    w: LedgerWriter,
    row: Any,
    review: Review,
    decision: DecisionInput,
    offer: Proposal,
    *,
    actor: str,
    now: datetime,
    webhooks: Sequence[str],
) -> dict[str, Any]:
    """Record a proposal above the limit: entry, row, claim status, ticket, webhook."""
    role, party_id = outcome_party(row, decision)
    body = {
        "claim_id": row.id,
        "actor": actor,
        "decision": decision.model_dump(mode="json"),
        "responsible_party": role,
        "party_id": party_id,
        "offer": jsonable(asdict(offer)),
        "reason": decision.reason,
        "verdict_index": row.verdict_idx,
        "proposed_at": now.isoformat(),
    }
    (entry,) = w.append_many([("claim.proposal", body)])
    w.conn.execute(
        insert(claim_proposals).values(
            claim_id=row.id,
            proposed_by=actor,
            body=json.dumps(body),
            amount=offer.amount,
            currency=offer.currency,
            ledger_idx=entry.index,
            created_at=now,
        )
    )
    w.conn.execute(update(claims).where(claims.c.id == row.id).values(status=AWAITING_APPROVAL))
    state = review.events[-1].to_state if review.events else "new"
    if state in ACTIONS["acknowledge"][0]:
        # Proposing is a first response: the SLA clock sees someone working the claim.
        record_move(
            w,
            claim_id=row.id,
            action="acknowledge",
            actor=actor,
            note=f"proposed {offer.amount} {offer.currency}; waits for a second person",
            now=now,
            webhooks=webhooks,
        )
    # Awaiting approval now, whether or not the ticket moved.
    refresh_queue(w.conn, [row.id])
    proposal = {**body, "ledger_index": entry.index}
    enqueue(
        conn=w.conn,
        event_type="claim.approval_requested",
        endpoints=list(webhooks),
        now=now,
        order_key=row.id,
        payload={
            **proposal,
            "state": row_state(row, review, AWAITING_APPROVAL, {**proposal, "proposed_by": actor}),
        },
    )
    return {"proposal": proposal}


def answer_proposal(
    *,
    ledger: Ledger,
    claim_id: str,
    answer: str,
    note: str,
    actor: str,
    approval_limit: Decimal | None,
    now: datetime,
    policy: CompensationPolicy,
    webhooks: Sequence[str] = (),
) -> dict[str, Any]:
    """Approve or reject the claim's waiting proposal as the second person of four eyes.

    Approving pays the proposal and records the proposer's decision with ``approved_by``;
    it needs another person than the proposer (``OwnProposalError``) whose key's
    ``approval_limit`` covers the amount (``OverLimitError``; a key without one approves
    nothing above the policy's adjudicator limit). Rejecting pays nothing and puts the claim
    back in review; anyone who may decide claims may reject, the proposer too (a withdrawal).
    ``NoPendingApprovalError`` when nothing waits.
    """
    if answer not in ("approve", "reject"):
        raise InvalidDecisionError("answer", "approve or reject")
    with ledger.writer() as w:
        row = claim_row(w.conn, claim_id)
        review = load_reviews(w.conn, [claim_id])[claim_id]
        pending = review.pending
        if pending is None:
            raise NoPendingApprovalError(claim_id)
        amount = Decimal(pending["offer"]["amount"])
        if answer == "approve":
            if pending["proposed_by"] == actor:
                raise OwnProposalError(claim_id, actor)
            limit = policy.adjudicator_limit if approval_limit is None else approval_limit
            if amount > limit:
                raise OverLimitError(claim_id, amount, limit)
        verdict = "approved" if answer == "approve" else "rejected"
        body = {
            "claim_id": claim_id,
            "actor": actor,
            "answer": verdict,
            "note": note,
            "proposal_index": pending["ledger_index"],
            "proposed_by": pending["proposed_by"],
            "amount": str(amount),
            "currency": pending["offer"]["currency"],
            "answered_at": now.isoformat(),
        }
        (entry,) = w.append_many([("claim.approval", body)])
        done = w.conn.execute(
            update(claim_proposals)
            .where(claim_proposals.c.id == pending["id"], claim_proposals.c.answer.is_(None))
            .values(
                answer=verdict,
                answered_by=actor,
                answer_note=note,
                answer_ledger_idx=entry.index,
                answered_at=now,
            )
        )
        if done.rowcount != 1:  # answered meanwhile; the ledger lock makes this a backstop
            raise NoPendingApprovalError(claim_id)
        answered = {**body, "ledger_index": entry.index}
        if answer == "reject":
            w.conn.execute(
                update(claims).where(claims.c.id == claim_id).values(status="needs_review")
            )
            refresh_queue(w.conn, [claim_id])
            enqueue(
                conn=w.conn,
                event_type="claim.approval_answered",
                endpoints=list(webhooks),
                now=now,
                order_key=claim_id,
                payload={**answered, "state": row_state(row, review, "needs_review", None)},
            )
            return {"approval": answered}
        decision = DecisionInput.model_validate(pending["decision"])
        offer = Proposal.offered(pending["offer"])
        # The second person releases the money: the payment names them.
        payment = pay(conn=w.conn, claim_id=claim_id, proposal=offer, decided_by=actor, now=now)
        compensation = {
            "decision": decision.compensation,
            "paid": True,
            "payment": jsonable(asdict(payment)),
            "proposed_by": pending["proposed_by"],
            "approved_by": actor,
            "approval_index": entry.index,
        }
        decided = record_decision(
            w,
            row,
            decision,
            compensation,
            actor=pending["proposed_by"],
            resolver=actor,
            now=now,
            webhooks=webhooks,
        )
        return {"approval": answered, "decision": decided}
