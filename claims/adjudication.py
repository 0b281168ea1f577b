"""Adjudicators close cases: decisions, ticket moves and the review queue.

Every decision and every ticket move is a ledger entry naming its actor, written with its
table row, its payment (if any) and its webhook message in one ledger transaction. The
ledger's write lock serialises them, so of two decisions at once the second finds the
claim resolved (``ClaimClosedError``), and the payments table's key is the backstop that
pays a claim at most once (``AlreadyPaidError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from claims.compensation import CompensationPolicy, Proposal, get_payment, pay
from claims.errors import ClaimClosedError, InvalidDecisionError, OverLimitError, UnknownClaimError
from claims.jsonutil import jsonable
from claims.models import DecisionInput
from claims.outbox import enqueue
from claims.review import TicketEvent, TicketStatus, next_state, ticket_status
from claims.tables import claim_decisions, claims, ticket_events
from ledger.log import Ledger, LedgerWriter

__all__ = [
    "QUEUE_FILTERS",
    "Review",
    "decide",
    "load_reviews",
    "move_ticket",
    "open_ids",
    "queue_filter",
]

QUEUE_FILTERS = ("needs_review", "copied_photo", "awaiting_approval", "lot_alert")


@dataclass(frozen=True)
class Review:
    """A claim's ticket history and its latest decision (None: none yet)."""

    events: tuple[TicketEvent, ...]
    decision: dict[str, Any] | None

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
    return {i: Review(tuple(events[i]), decisions.get(i)) for i in claim_ids}


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
    if verdict["responsible_party"] == "undetermined":
        raise InvalidDecisionError(
            "party", "the verdict is undetermined: override it with the responsible party"
        )
    return verdict["responsible_party"], verdict.get("party_id")


def _settle(
    conn: Connection,
    row: Any,
    decision: DecisionInput,
    *,
    actor: str,
    policy: CompensationPolicy,
    now: datetime,
) -> dict[str, Any]:
    """Approve, change or deny the compensation; pays at most once."""
    proposal = json.loads(row.compensation)
    paid = get_payment(conn=conn, claim_id=row.id)
    if decision.compensation == "deny":
        if paid is not None:
            raise InvalidDecisionError("compensation", "the claim was already paid; cannot deny")
        return {"decision": "deny", "paid": False}
    if decision.compensation == "change":
        assert decision.amount is not None
        amount = decision.amount
        offer = Proposal("refund", amount, row.currency, False, decision.reason, refund=amount)
    else:
        amount = Decimal(proposal["amount"])
        if amount <= 0:
            raise InvalidDecisionError("compensation", "the proposal pays nothing to approve")
        offer = Proposal(
            proposal["kind"],
            amount,
            proposal["currency"],
            False,
            proposal["reason"],
            refund=Decimal(proposal["refund"]),
            voucher=Decimal(proposal["voucher"]),
        )
    if amount > policy.adjudicator_limit:
        raise OverLimitError(row.id, amount, policy.adjudicator_limit)
    payment = pay(conn=conn, claim_id=row.id, proposal=offer, decided_by=actor, now=now)
    return {
        "decision": decision.compensation,
        "paid": True,
        "payment": jsonable(asdict(payment)),
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
    """Record an adjudicator's decision and resolve the ticket; returns the outcome.

    ``ClaimClosedError`` when the ticket is already resolved (a second decision racing the
    first lands here); ``OverLimitError`` above the adjudicator's limit; nothing is written
    unless everything is.
    """
    with ledger.writer() as w:
        row = _claim_row(w.conn, claim_id)
        review = load_reviews(w.conn, [claim_id])[claim_id]
        if review.events and review.events[-1].to_state == "resolved":
            raise ClaimClosedError(claim_id)
        role, party_id = _outcome_party(row, decision)
        compensation = _settle(w.conn, row, decision, actor=actor, policy=policy, now=now)
        outcome = {
            "claim_id": claim_id,
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
                claim_id=claim_id,
                actor=actor,
                body=json.dumps(outcome),
                ledger_idx=entry.index,
                created_at=now,
            )
        )
        enqueue(
            conn=w.conn,
            event_type="claim.decided",
            endpoints=list(webhooks),
            now=now,
            order_key=claim_id,
            payload={**outcome, "ledger_index": entry.index},
        )
        _move(
            w,
            claim_id=claim_id,
            action="resolve",
            actor=actor,
            note=decision.reason,
            now=now,
            webhooks=webhooks,
            decision_index=entry.index,
        )
    return {**outcome, "ledger_index": entry.index}


def queue_filter(name: str | None, claim: dict[str, Any]) -> bool:
    """Whether a claim (as ``claims.service`` shows it) belongs to the named queue view."""
    if name is None:
        return True
    if name == "needs_review":
        return bool(claim["verdict"]["needs_review"])
    if name == "copied_photo":
        return any(p.get("duplicate_of") for p in claim["photos"])
    if name == "awaiting_approval":
        c = claim["compensation"]
        return not c.get("paid") and Decimal(c.get("amount", "0")) > 0 and not c.get("auto_pay")
    if name == "lot_alert":
        return any(r["rule"] == "lot_alert" for r in claim["ticket"].get("reasons", []))
    raise InvalidDecisionError("filter", f"one of {', '.join(QUEUE_FILTERS)}")


def open_ids(conn: Connection, limit: int) -> list[str]:
    """The most recent claims not resolved, at most ``limit``."""
    rows: Iterable[Any] = conn.execute(
        select(claims.c.id)
        .where(claims.c.status != "resolved")
        .order_by(claims.c.created_at.desc())
        .limit(limit)
    )
    return [r.id for r in rows]
