"""Adjudicators close cases: decisions, four-eyes approvals, ticket moves, the review queue.

Every decision, proposal, approval and ticket move is a ledger entry naming its actor,
written with its table row, its payment (if any) and its webhook message in one ledger
transaction. The ledger's write lock serialises them, so of two decisions at once the
second finds the claim resolved (``ClaimClosedError``), and the payments table's key is the
backstop that pays a claim at most once (``AlreadyPaidError``).

Four eyes (GUIDE §4 rule 7): a decision paying more than the policy's adjudicator limit is
not paid but proposed (``claim.proposal``); the claim waits (status ``awaiting_approval``)
until a second person whose key's approval limit covers the amount approves it
(``claim.approval``, then the ``claim.decision``) or someone rejects it. The proposer never
approves their own proposal, and an admin key decides nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from claims.compensation import (
    CENT,
    CompensationPolicy,
    Payment,
    Proposal,
    get_payment,
    pay,
    payments,
)
from claims.errors import (
    AlreadyPaidError,
    AwaitingApprovalError,
    ClaimClosedError,
    InvalidDecisionError,
    NoPendingApprovalError,
    OverLimitError,
    OwnProposalError,
    UnknownClaimError,
)
from claims.jsonutil import jsonable
from claims.models import DecisionInput
from claims.review import ACTIONS, TicketEvent, TicketStatus, next_state, ticket_status
from claims.state import ClaimState, allowed_actions, current_state
from claims.tables import (
    claim_decisions,
    claim_proposals,
    claim_reassessments,
    claims,
    ticket_events,
)
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue

__all__ = [
    "AWAITING_APPROVAL",
    "QUEUE_FILTERS",
    "Review",
    "answer_proposal",
    "claim_state",
    "decide",
    "load_reviews",
    "move_ticket",
    "open_ids",
    "queue_filter",
]

QUEUE_FILTERS = ("needs_review", "copied_photo", "awaiting_approval", "lot_alert", "flagged")
AWAITING_APPROVAL = "awaiting_approval"
"""The claim status while a proposal above the adjudicator's limit waits for a second person."""


@dataclass(frozen=True)
class Review:
    """A claim's ticket history, latest decision, payment and proposals (None: none).

    ``payment``: the payment row as JSON (the one truth of "paid"). ``proposal``: the
    latest proposal above the limit as JSON, answered or not; ``pending`` is it while it
    waits.
    """

    events: tuple[TicketEvent, ...]
    decision: dict[str, Any] | None
    payment: dict[str, Any] | None = None
    proposal: dict[str, Any] | None = None
    # Late records the machine re-assessed this claim on, oldest first (``claims.reassess``).
    reassessments: tuple[dict[str, Any], ...] = ()

    @property
    def flag(self) -> dict[str, Any] | None:
        """The latest ``flagged`` re-assessment no person has acted on since, or None.

        The machine never changes a settled claim; it flags it, and the flag stands until a
        person decides or moves the ticket after it.
        """
        flags = [r for r in self.reassessments if r["kind"] == "flagged"]
        if not flags:
            return None
        latest = flags[-1]
        acted = [e.ledger_index for e in self.events if e.ledger_index is not None]
        if self.decision is not None:
            acted.append(self.decision["ledger_index"])
        if any(i > latest["ledger_index"] for i in acted):
            return None
        return latest

    @property
    def pending(self) -> dict[str, Any] | None:
        """The proposal waiting for a second person, or None."""
        if self.proposal is None or self.proposal["answer"] is not None:
            return None
        return self.proposal

    def status(self, ticket: dict[str, Any], now: datetime) -> TicketStatus:
        """The ticket's state and SLA from its plan (the claim's ``ticket``) and history."""
        return ticket_status(
            first_response_due=datetime.fromisoformat(ticket["first_response_due"]),
            resolution_due=datetime.fromisoformat(ticket["resolution_due"]),
            events=self.events,
            now=now,
        )


def _event(row: Any) -> TicketEvent:
    return TicketEvent(
        row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
        row.action,
        row.from_state,
        row.to_state,
        row.actor,
        row.note,
        row.ledger_idx,
    )


def load_reviews(conn: Connection, claim_ids: Sequence[str]) -> dict[str, Review]:
    """Each claim's ticket history and latest decision."""
    if not claim_ids:
        return {}
    events: dict[str, list[TicketEvent]] = {i: [] for i in claim_ids}
    for row in conn.execute(
        select(ticket_events)
        .where(ticket_events.c.claim_id.in_(claim_ids))
        .order_by(ticket_events.c.id)
    ):
        events[row.claim_id].append(_event(row))
    decisions: dict[str, dict[str, Any]] = {}
    for row in conn.execute(
        select(claim_decisions)
        .where(claim_decisions.c.claim_id.in_(claim_ids))
        .order_by(claim_decisions.c.id)
    ):
        decisions[row.claim_id] = {**json.loads(row.body), "ledger_index": row.ledger_idx}
    paid = {
        row.claim_id: _payment_json(row)
        for row in conn.execute(select(payments).where(payments.c.claim_id.in_(claim_ids)))
    }
    proposals: dict[str, dict[str, Any]] = {}
    for row in conn.execute(
        select(claim_proposals)
        .where(claim_proposals.c.claim_id.in_(claim_ids))
        .order_by(claim_proposals.c.id)
    ):
        proposals[row.claim_id] = _proposal_json(row)
    later: dict[str, list[dict[str, Any]]] = {i: [] for i in claim_ids}
    for row in conn.execute(
        select(claim_reassessments)
        .where(claim_reassessments.c.claim_id.in_(claim_ids))
        .order_by(claim_reassessments.c.id)
    ):
        body = json.loads(row.body)
        later[row.claim_id].append(
            {
                "kind": row.kind,
                "ledger_index": row.ledger_idx,
                "at": _aware(row.created_at).isoformat(),
                "records": [r["index"] for r in body.get("records", ())],
                "previous": body.get("previous", {}).get("responsible_party"),
                "machine_now": body.get("verdict", {}).get("responsible_party"),
                "settled": body.get("settled"),
            }
        )
    return {
        i: Review(
            tuple(events[i]),
            decisions.get(i),
            paid.get(i),
            proposals.get(i),
            tuple(later[i]),
        )
        for i in claim_ids
    }


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _payment_json(row: Any) -> dict[str, Any]:
    paid_at = row.paid_at if row.paid_at.tzinfo else row.paid_at.replace(tzinfo=UTC)
    payment = Payment(
        claim_id=row.claim_id,
        kind=row.kind,
        amount=Decimal(row.amount).quantize(CENT),
        voucher=Decimal(row.voucher).quantize(CENT),
        currency=row.currency,
        decided_by=row.decided_by,
        paid_at=paid_at,
    )
    out: dict[str, Any] = jsonable(asdict(payment))
    return out


def _proposal_json(row: Any) -> dict[str, Any]:
    body = json.loads(row.body)
    answered_at = row.answered_at
    if answered_at is not None and answered_at.tzinfo is None:
        answered_at = answered_at.replace(tzinfo=UTC)
    return {
        "id": row.id,
        "proposed_by": row.proposed_by,
        "proposed_at": body["proposed_at"],
        "responsible_party": body["responsible_party"],
        "party_id": body["party_id"],
        "offer": body["offer"],
        "reason": body["reason"],
        "decision": body["decision"],
        "ledger_index": row.ledger_idx,
        "answer": row.answer,
        "answered_by": row.answered_by,
        "answer_note": row.answer_note,
        "answer_ledger_index": row.answer_ledger_idx,
        "answered_at": answered_at.isoformat() if answered_at is not None else None,
    }


def _claim_row(conn: Connection, claim_id: str) -> Any:
    row = conn.execute(select(claims).where(claims.c.id == claim_id)).first()
    if row is None:
        raise UnknownClaimError(claim_id)
    return row


def _move(
    w: LedgerWriter,
    *,
    claim_id: str,
    action: str,
    actor: str,
    note: str,
    now: datetime,
    webhooks: Sequence[str],
    decision_index: int | None = None,
) -> TicketEvent:
    """Record one ticket move (entry, history row, claim status, webhook) in ``w``."""
    review = load_reviews(w.conn, [claim_id])[claim_id]
    current = review.events[-1].to_state if review.events else "new"
    target = next_state(current, action)
    body = {
        "claim_id": claim_id,
        "action": action,
        "from": current,
        "to": target,
        "actor": actor,
        "note": note,
        "decision_index": decision_index,
    }
    (entry,) = w.append_many([("ticket.moved", body)])
    event = TicketEvent(now, action, current, target, actor, note, entry.index)
    w.conn.execute(
        insert(ticket_events).values(
            claim_id=claim_id,
            at=now,
            action=action,
            from_state=current,
            to_state=target,
            actor=actor,
            note=note,
            ledger_idx=entry.index,
        )
    )
    status = {"resolved": "resolved", "reopened": "needs_review"}.get(target)
    if status is not None:
        w.conn.execute(update(claims).where(claims.c.id == claim_id).values(status=status))
    enqueue(
        conn=w.conn,
        event_type="ticket.updated",
        endpoints=list(webhooks),
        now=now,
        order_key=claim_id,
        payload={**body, "ledger_index": entry.index, "at": now.isoformat()},
    )
    return event


def move_ticket(
    *,
    ledger: Ledger,
    claim_id: str,
    action: str,
    actor: str,
    note: str,
    now: datetime,
    webhooks: Sequence[str] = (),
) -> TicketEvent:
    """Acknowledge, wait on the customer, resume, resolve or reopen a claim's ticket."""
    with ledger.writer() as w:
        _claim_row(w.conn, claim_id)
        return _move(
            w, claim_id=claim_id, action=action, actor=actor, note=note, now=now, webhooks=webhooks
        )


def _outcome_party(row: Any, decision: DecisionInput) -> tuple[str, str | None]:
    verdict = json.loads(row.verdict)
    if decision.party == "override":
        assert decision.responsible_party is not None  # the model's rule
        return decision.responsible_party, decision.party_id
    return verdict["responsible_party"], verdict.get("party_id")


def claim_state(row: Any, review: Review) -> ClaimState:
    """The state ``allowed_actions`` judges, from the claim's row and its review records."""
    verdict, proposal = json.loads(row.verdict), json.loads(row.compensation)
    return ClaimState(
        ticket_state=review.events[-1].to_state if review.events else "new",
        undetermined=verdict["responsible_party"] == "undetermined",
        proposed_amount=Decimal(str(proposal.get("amount", "0"))),
        paid=review.payment is not None,
        awaiting_approval=review.pending is not None,
    )


def _check_allowed(row: Any, review: Review, decision: DecisionInput) -> None:
    """Refuse a decision the claim's state does not allow (``claims.state.allowed_actions``)."""
    state = claim_state(row, review)
    actions = allowed_actions(state)
    if state.ticket_state == "resolved":
        raise ClaimClosedError(row.id)
    if review.pending is not None:
        raise AwaitingApprovalError(row.id, review.pending["offer"]["amount"])
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
    proposal = json.loads(row.compensation)
    return Proposal(
        proposal["kind"],
        Decimal(proposal["amount"]),
        proposal["currency"],
        False,
        proposal["reason"],
        refund=Decimal(proposal["refund"]),
        voucher=Decimal(proposal["voucher"]),
    )


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


def _record_decision(
    w: LedgerWriter,
    row: Any,
    decision: DecisionInput,
    compensation: dict[str, Any],
    *,
    actor: str,
    resolver: str,
    now: datetime,
    webhooks: Sequence[str],
) -> dict[str, Any]:
    """The decision's entry, row and webhook, and the ticket resolved by ``resolver``."""
    role, party_id = _outcome_party(row, decision)
    outcome = {
        "claim_id": row.id,
        "actor": actor,
        "party": decision.party,
        "responsible_party": role,
        "party_id": party_id,
        "reason": decision.reason,
        "compensation": compensation,
        "findings": [f.model_dump(mode="json") for f in decision.findings],
        "verdict_index": row.verdict_idx,
        "decided_at": now.isoformat(),
    }
    (entry,) = w.append_many([("claim.decision", outcome)])
    w.conn.execute(
        insert(claim_decisions).values(
            claim_id=row.id,
            actor=actor,
            body=json.dumps(outcome),
            ledger_idx=entry.index,
            created_at=now,
        )
    )
    decided = {**outcome, "ledger_index": entry.index}
    verdict, paid = current_state(
        machine_verdict=json.loads(row.verdict),
        machine_compensation=json.loads(row.compensation),
        decision=decided,
        payment=compensation.get("payment"),
        proposal=None,
    )
    enqueue(
        conn=w.conn,
        event_type="claim.decided",
        endpoints=list(webhooks),
        now=now,
        order_key=row.id,
        # The claim's state after the decision, as GET /v1/claims/{id} shows it.
        payload={**decided, "state": _state_summary("resolved", verdict, paid)},
    )
    _move(
        w,
        claim_id=row.id,
        action="resolve",
        actor=resolver,
        note=decision.reason,
        now=now,
        webhooks=webhooks,
        decision_index=entry.index,
    )
    return decided


def _state_summary(status: str, verdict: dict[str, Any], paid: dict[str, Any]) -> dict[str, Any]:
    """What a webhook says of a claim's current state (the claim resource's top level)."""
    return {
        "status": status,
        "responsible_party": verdict["responsible_party"],
        "party_id": verdict.get("party_id"),
        "verdict": verdict,
        "compensation": paid,
    }


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
        row = _claim_row(w.conn, claim_id)
        review = load_reviews(w.conn, [claim_id])[claim_id]
        _check_allowed(row, review, decision)
        offer = _offer(row, decision)
        if offer is not None and review.payment is None and offer.amount > policy.adjudicator_limit:
            return _propose(
                w, row, review, decision, offer, actor=actor, now=now, webhooks=webhooks
            )
        compensation = _settle(w.conn, row, decision, offer, actor=actor, now=now)
        return _record_decision(
            w, row, decision, compensation, actor=actor, resolver=actor, now=now, webhooks=webhooks
        )


def _propose(
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
    role, party_id = _outcome_party(row, decision)
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
        _move(
            w,
            claim_id=row.id,
            action="acknowledge",
            actor=actor,
            note=f"proposed {offer.amount} {offer.currency}; waits for a second person",
            now=now,
            webhooks=webhooks,
        )
    proposal = {**body, "ledger_index": entry.index}
    enqueue(
        conn=w.conn,
        event_type="claim.approval_requested",
        endpoints=list(webhooks),
        now=now,
        order_key=row.id,
        payload={
            **proposal,
            "state": _row_state(row, review, AWAITING_APPROVAL, {**proposal, "proposed_by": actor}),
        },
    )
    return {"proposal": proposal}


def _row_state(
    row: Any, review: Review, status: str, proposal: dict[str, Any] | None
) -> dict[str, Any]:
    """The claim's current state for a webhook, as GET /v1/claims/{id} will show it."""
    verdict, compensation = current_state(
        machine_verdict=json.loads(row.verdict),
        machine_compensation=json.loads(row.compensation),
        decision=review.decision,
        payment=review.payment,
        proposal=proposal,
    )
    return _state_summary(status, verdict, compensation)


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
        row = _claim_row(w.conn, claim_id)
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
            enqueue(
                conn=w.conn,
                event_type="claim.approval_answered",
                endpoints=list(webhooks),
                now=now,
                order_key=claim_id,
                payload={**answered, "state": _row_state(row, review, "needs_review", None)},
            )
            return {"approval": answered}
        decision = DecisionInput.model_validate(pending["decision"])
        offer = Proposal(
            pending["offer"]["kind"],
            amount,
            pending["offer"]["currency"],
            False,
            pending["offer"]["reason"],
            refund=Decimal(pending["offer"]["refund"]),
            voucher=Decimal(pending["offer"]["voucher"]),
        )
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
        decided = _record_decision(
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


def queue_filter(name: str | None, claim: dict[str, Any]) -> bool:
    """Whether a claim (as ``claims.service`` shows it) belongs to the named queue view."""
    if name is None:
        return True
    if name == "needs_review":
        return bool(claim["machine_verdict"]["needs_review"])
    if name == "copied_photo":
        return any(p.get("duplicate_of") for p in claim["photos"])
    if name == "awaiting_approval":
        # A proposal above the adjudicator's limit waits for a second person.
        return bool(claim["status"] == AWAITING_APPROVAL)
    if name == "lot_alert":
        return any(r["rule"] == "lot_alert" for r in claim["ticket"].get("reasons", []))
    if name == "flagged":
        # Settled, but late records make the machine say otherwise now: a person looks again.
        return claim.get("flagged") is not None
    raise InvalidDecisionError("filter", f"one of {', '.join(QUEUE_FILTERS)}")


def open_ids(conn: Connection, limit: int) -> list[str]:
    """The most recent claims not resolved (or flagged since: see ``Review.flag``), at most
    ``limit``."""
    flagged = select(claim_reassessments.c.claim_id).where(claim_reassessments.c.kind == "flagged")
    rows: Iterable[Any] = conn.execute(
        select(claims.c.id)
        .where(or_(claims.c.status != "resolved", claims.c.id.in_(flagged)))
        .order_by(claims.c.created_at.desc())
        .limit(limit)
    )
    return [r.id for r in rows]
