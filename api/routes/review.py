"""Adjudication: the review queue, decisions on claims, four-eyes approvals, ticket moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth.access import principal
from api.auth.keys import Principal
from api.deps import get_services
from api.openapi import problem_responses
from api.services import Services
from cases.adjudication import decide
from cases.approval import answer_proposal
from cases.moves import move_ticket
from cases.queue import QUEUE_FILTERS, review_queue_page
from claims.models import DecisionInput, Description
from claims.review import ACTIONS
from claims.views import get_claim

router = APIRouter(prefix="/v1", tags=["adjudication"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]


class TicketMove(BaseModel):
    """A move of a claim's ticket, with a note for the history."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    action: Literal["acknowledge", "wait_on_customer", "resume", "resolve", "reopen"] = Field(
        description="new → acknowledged → waiting_on_customer (SLA paused) → resolved → reopened"
    )
    note: Description = ""


assert set(TicketMove.model_fields["action"].annotation.__args__) == set(ACTIONS)  # type: ignore[union-attr]


class ApprovalAnswer(BaseModel):
    """A second person's answer to a proposal above the adjudicator's limit."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    answer: Literal["approve", "reject"] = Field(
        description="approve: pay the proposal (not its proposer; the key's approval limit "
        "must cover it); reject: pay nothing, the claim goes back to review"
    )
    note: Description = ""


@router.get("/review", responses=problem_responses(422))
def queue(
    services: Svc,
    view: Annotated[
        Literal["needs_review", "copied_photo", "awaiting_approval", "lot_alert", "flagged"] | None,
        Query(description="Only claims in this view; none: every open claim."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(description="The previous page's next_cursor: the page after it.")
    ] = None,
) -> dict[str, Any]:
    """Open claims, the soonest SLA breach first, each with its ticket state and deadlines."""
    assert view is None or view in QUEUE_FILTERS
    items, next_cursor = review_queue_page(
        services.engine, view=view, now=datetime.now(UTC), limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/claims/{claim_id}/decision", responses=problem_responses(404, 409, 422))
async def decide_claim(
    claim_id: str, decision: DecisionInput, services: Svc, caller: Caller
) -> dict[str, Any]:
    """Confirm or override the party, settle the compensation, review the findings.

    The ticket is resolved with it; a resolved claim is reopened before deciding again.
    Compensation above the policy's adjudicator limit is not paid but proposed: the claim
    answers with ``status`` ``awaiting_approval`` and its ``approval``, and waits for a
    second adjudicator (POST .../approval). Only what the claim's ``actions`` list is taken.
    """
    now = datetime.now(UTC)
    await run_in_threadpool(
        lambda: decide(
            ledger=services.ledger,
            claim_id=claim_id,
            decision=decision,
            actor=caller.actor,
            now=now,
            policy=services.claims_config.compensation,
            webhooks=services.claims_config.webhooks,
        )
    )
    services.after_write()
    return get_claim(services.engine, claim_id, now=now)


@router.post("/claims/{claim_id}/ticket", responses=problem_responses(404, 409, 422))
def move(claim_id: str, body: TicketMove, services: Svc, caller: Caller) -> dict[str, Any]:
    """Move the claim's ticket (waiting on the customer pauses its SLA clock)."""
    now = datetime.now(UTC)
    move_ticket(
        ledger=services.ledger,
        claim_id=claim_id,
        action=body.action,
        actor=caller.actor,
        note=body.note,
        now=now,
        webhooks=services.claims_config.webhooks,
    )
    services.after_write()
    return get_claim(services.engine, claim_id, now=now)


@router.post("/claims/{claim_id}/approval", responses=problem_responses(403, 404, 409, 422))
async def approve_claim(
    claim_id: str, body: ApprovalAnswer, services: Svc, caller: Caller
) -> dict[str, Any]:
    """Approve or reject the proposal waiting on a claim (four eyes above the limit).

    Refused (403 ``four-eyes``) to the key that proposed it, and (403 ``over-limit``) to a
    key whose approval limit does not cover the amount; 409 ``no-pending-approval`` when
    nothing waits. Approving pays and resolves the claim; both are ledger entries.
    """
    now = datetime.now(UTC)
    await run_in_threadpool(
        lambda: answer_proposal(
            ledger=services.ledger,
            claim_id=claim_id,
            answer=body.answer,
            note=body.note,
            actor=caller.actor,
            approval_limit=caller.approval_limit,
            now=now,
            policy=services.claims_config.compensation,
            webhooks=services.claims_config.webhooks,
        )
    )
    services.after_write()
    return get_claim(services.engine, claim_id, now=now)
