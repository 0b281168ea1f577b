"""A decision recorded: its entry, row and webhook, and the ticket resolved.

Shared by a decision within the adjudicator's limit (``cases.adjudication``) and one a second
person approved (``cases.approval``); ``row_state`` is the claim's state as a webhook tells it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from cases.moves import record_move
from claims.models import DecisionInput
from claims.records import Review
from claims.state import current_state
from claims.tables import (
    claim_decisions,
)
from ledger.log import LedgerWriter
from notifications.outbox import enqueue


def outcome_party(row: Any, decision: DecisionInput) -> tuple[str, str | None]:
    verdict = json.loads(row.verdict)
    if decision.party == "override":
        assert decision.responsible_party is not None  # the model's rule
        return decision.responsible_party, decision.party_id
    return verdict["responsible_party"], verdict.get("party_id")


def record_decision(
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
    role, party_id = outcome_party(row, decision)
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
        payload={**decided, "state": state_summary("resolved", verdict, paid)},
    )
    record_move(
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


def state_summary(status: str, verdict: dict[str, Any], paid: dict[str, Any]) -> dict[str, Any]:
    """What a webhook says of a claim's current state (the claim resource's top level)."""
    return {
        "status": status,
        "responsible_party": verdict["responsible_party"],
        "party_id": verdict.get("party_id"),
        "verdict": verdict,
        "compensation": paid,
    }


def row_state(
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
    return state_summary(status, verdict, compensation)
