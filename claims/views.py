"""Claims as read back: one claim, a page of claims, the count, as the API shows them.

A claim's view joins its row, its photos and its review records (``claims.records``) into
its one current state (``claims.state.current_state``): a person's decision, a payment or a
proposal waiting for approval over the machine's verdict, which stays as history.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from claims.errors import InvalidClaimError, UnknownClaimError
from claims.jsonutil import jsonable
from claims.records import Review, claim_state, load_reviews
from claims.state import allowed_actions, current_state
from claims.tables import claim_families, claim_photos, claims
from storage.db import read_snapshot

__all__ = [
    "claim_view",
    "count_claims",
    "get_claim",
    "list_claims",
    "photos_of",
    "views_of",
]


def claim_view(
    row: Any,
    photos: list[Any],
    now: datetime | None,
    review: Review | None = None,
    family: str | None = None,
) -> dict[str, Any]:
    """A claim as the API shows it: its one current state, with the machine's as history.

    ``verdict`` and ``compensation`` are the claim's state now (a person's decision, a
    payment, a proposal waiting for approval: ``claims.state.current_state``);
    ``machine_verdict`` and ``machine_compensation`` are what the machine said, as filed
    (or as re-assessed before anyone settled it). ``responsible_party`` and ``party_id``
    repeat the current verdict's. ``actions``: what a person may do now.
    """
    ticket = json.loads(row.ticket)
    review = review or Review((), None)
    machine_verdict = json.loads(row.verdict)
    machine_compensation = json.loads(row.compensation)
    verdict, compensation = current_state(
        machine_verdict=machine_verdict,
        machine_compensation=machine_compensation,
        decision=review.decision,
        payment=review.payment,
        proposal=review.pending,
    )
    out = {
        "id": row.id,
        "status": row.status,
        "order_id": row.order_id,
        "customer_id": row.customer_id,
        "lot": row.lot,
        "category": row.category,
        "family": family,
        "line_value": str(row.line_value),
        "currency": row.currency,
        "delivered_at": row.delivered_at.isoformat(),
        "description": row.description,
        "created_at": row.created_at.isoformat(),
        "photos": [
            # Claims filed before duplicate detection have no duplicate_of; they read as none.
            {
                "position": p.position,
                "sha256": p.sha256,
                "duplicate_of": [],
                **json.loads(p.inspection),
            }
            for p in photos
        ],
        "responsible_party": verdict["responsible_party"],
        "party_id": verdict.get("party_id"),
        "verdict": verdict,
        "ticket": ticket,
        "compensation": compensation,
        "machine_verdict": machine_verdict,
        "machine_compensation": machine_compensation,
        "approval": review.proposal,
        "ledger": {"evidence_index": row.evidence_idx, "verdict_index": row.verdict_idx},
    }
    out["outcome"] = review.decision
    out["actions"] = allowed_actions(claim_state(row, review)).as_dict()
    # Late records: each re-assessment, and a settled claim's flag while no one has acted.
    out["reassessments"] = list(review.reassessments)
    out["flagged"] = review.flag
    if now is not None:
        status = review.status(ticket, now)
        out["ticket"] |= {
            "state": status.state,
            # Deadlines moved by the time spent waiting on the customer.
            "due": {
                "first_response": status.first_response_due.isoformat(),
                "resolution": status.resolution_due.isoformat(),
                "paused_s": status.paused.total_seconds(),
            },
            "sla": jsonable(dataclasses.asdict(status.sla)),
            "history": [e.as_dict() for e in review.events],
        }
    return out


def get_claim(engine: Engine, claim_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """One claim with its findings, verdict, ticket (SLA state at ``now``) and ledger refs,
    as one committed state (``read_snapshot``)."""
    with read_snapshot(engine) as conn:
        row = conn.execute(select(claims).where(claims.c.id == claim_id)).first()
        if row is None:
            raise UnknownClaimError(claim_id)
        return views_of(conn, [row], now)[0]


def list_claims(
    engine: Engine,
    *,
    limit: int = 50,
    cursor: str | None = None,
    status: str | None = None,
    responsible_party: str | None = None,
    lot: str | None = None,
    now: datetime | None = None,
    customer_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, filtered; the cursor is the (created_at, id) of the last item shown."""
    query = select(claims).order_by(claims.c.created_at.desc(), claims.c.id.desc())
    if customer_id is not None:
        query = query.where(claims.c.customer_id == customer_id)
    if status:
        query = query.where(claims.c.status == status)
    if responsible_party:
        query = query.where(claims.c.responsible_party == responsible_party)
    if lot:
        query = query.where(claims.c.lot == lot)
    if cursor:
        try:
            at_text, last_id = cursor.split("~", 1)
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise InvalidClaimError("cursor", "is not a cursor this API returned") from exc
        query = query.where(
            or_(claims.c.created_at < at, and_(claims.c.created_at == at, claims.c.id < last_id))
        )
    with read_snapshot(engine) as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
        items = views_of(conn, rows[:limit], now)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return items, (f"{last.created_at.isoformat()}~{last.id}" if last is not None else None)


def views_of(conn: Connection, rows: Sequence[Any], now: datetime | None) -> list[dict[str, Any]]:
    """Claim rows as the API shows them, with their photos and reviews in two more queries."""
    ids = [r.id for r in rows]
    by_claim = photos_of(conn, ids)
    reviews = load_reviews(conn, ids)
    families = families_of_claims(conn, ids)
    return [
        claim_view(r, by_claim.get(r.id, []), now, reviews[r.id], families.get(r.id)) for r in rows
    ]


def families_of_claims(conn: Connection, claim_ids: Sequence[str]) -> dict[str, str]:
    """The family each claim named (a claim that named none is absent)."""
    if not claim_ids:
        return {}
    rows = conn.execute(select(claim_families).where(claim_families.c.claim_id.in_(claim_ids)))
    return {r.claim_id: r.family for r in rows}


def photos_of(conn: Connection, claim_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Each claim's photo rows in position order (a claim without photos is absent)."""
    by_claim: dict[str, list[Any]] = {}
    if not claim_ids:
        return by_claim
    for p in conn.execute(
        select(claim_photos)
        .where(claim_photos.c.claim_id.in_(claim_ids))
        .order_by(claim_photos.c.position)
    ):
        by_claim.setdefault(p.claim_id, []).append(p)
    return by_claim


def count_claims(engine: Engine) -> int:
    """Total claims filed (for health and tests)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(claims)).scalar_one())
