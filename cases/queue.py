"""The review queue: open claims (and settled ones flagged since) in named views.

A view is a filter over claims as ``claims.views`` shows them; the queue lists them by the
soonest resolution deadline first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from claims.errors import (
    InvalidDecisionError,
)
from claims.records import AWAITING_APPROVAL
from claims.tables import (
    claim_reassessments,
    claims,
)
from claims.views import views_of

QUEUE_FILTERS = ("needs_review", "copied_photo", "awaiting_approval", "lot_alert", "flagged")


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


def review_queue(
    engine: Engine, *, view: str | None, now: datetime, limit: int = 100, scan: int = 1000
) -> list[dict[str, Any]]:
    """Open claims in a queue view, the soonest resolution deadline first.

    Reads the ``scan`` most recent open claims; the views are computed on them.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(claims).where(claims.c.id.in_(open_ids(conn, scan)))).all()
        found = views_of(conn, rows, now)
    # A resolved claim is back in the queue only while a late record's flag stands.
    chosen = [
        c
        for c in found
        if (c["status"] != "resolved" or c["flagged"] is not None) and queue_filter(view, c)
    ]
    chosen.sort(key=lambda c: c["ticket"]["due"]["resolution"])
    return chosen[:limit]
