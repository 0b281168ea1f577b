"""Ticket moves: acknowledge, wait on the customer, resume, resolve, reopen.

Each move is a ledger entry naming its actor, written with its history row, the claim's
status and its webhook message in one ledger transaction (``record_move`` inside a writer
another action already holds; ``move_ticket`` on its own).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from claims.errors import DecisionRequiredError, UnknownClaimError
from claims.queue_index import refresh_queue
from claims.records import load_reviews
from claims.review import TicketEvent, next_state
from claims.state import resolve_refused
from claims.tables import (
    claims,
    ticket_events,
)
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue


def claim_row(conn: Connection, claim_id: str) -> Any:
    row = conn.execute(select(claims).where(claims.c.id == claim_id)).first()
    if row is None:
        raise UnknownClaimError(claim_id)
    return row


def record_move(
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
    # The deadline, the status and a flag's standing change with the move (and with a
    # decision recorded before it: ``cases.outcome`` ends with this move).
    refresh_queue(w.conn, [claim_id])
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
    """Acknowledge, wait on the customer, resume, resolve or reopen a claim's ticket.

    ``AwaitingApprovalError`` for ``resolve`` while a proposal waits for a second person:
    the approval resolves the ticket, or a rejection sends the claim back to review.
    Closing it first would hide the proposal from the approvers' view and leave an
    approval that can no longer resolve anything. ``DecisionRequiredError`` for ``resolve``
    on a claim nobody settled (``claims.state.resolve_refused``): its decision resolves it.
    """
    with ledger.writer() as w:
        row = claim_row(w.conn, claim_id)
        if action == "resolve":
            review = load_reviews(w.conn, [claim_id])[claim_id]
            review.refuse_while_pending(claim_id)
            why = resolve_refused(
                machine_verdict=json.loads(row.verdict),
                machine_compensation=json.loads(row.compensation),
                decision=review.decision,
                payment=review.payment,
            )
            if why is not None:
                raise DecisionRequiredError(claim_id, why)
        return record_move(
            w, claim_id=claim_id, action=action, actor=actor, note=note, now=now, webhooks=webhooks
        )
