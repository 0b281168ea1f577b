"""A claim's review records as read back: ticket history, decision, payment, proposals.

``Review`` is what reading a claim joins to its row (``claims.views``) and what every
person's action checks first (``cases``): the ticket's moves, the latest decision, the one
payment, the latest proposal above the adjudicator's limit, and the late-record
re-assessments. ``claim_state`` turns a row and its records into what
``claims.state.allowed_actions`` judges.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from claims.compensation import (
    CENT,
    Payment,
    payments,
)
from claims.errors import AwaitingApprovalError
from claims.jsonutil import jsonable
from claims.review import TicketEvent, TicketStatus, ticket_status
from claims.state import ClaimState
from claims.tables import (
    claim_decisions,
    claim_proposals,
    claim_reassessments,
    ticket_events,
)

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

    def refuse_while_pending(self, claim_id: str) -> None:
        """Raise ``AwaitingApprovalError`` while a proposal waits for its second person: a
        decision or a resolution now would hide it from the approvers or strand its answer."""
        if (pending := self.pending) is not None:
            raise AwaitingApprovalError(claim_id, pending["offer"]["amount"])

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
