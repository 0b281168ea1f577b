"""The review queue's index: the views each claim is in and its resolution deadline.

Kept as ``review_queue`` rows and rewritten by ``refresh_queue`` in the transaction of every
write that changes what the queue filters or orders on: filing (``claims.service``), ticket
moves (``cases.moves``, which decisions end with), proposals and their answers
(``cases.approval``) and late-record re-assessments (``claims.reassess``). ``cases.queue``
then reads one page by index instead of building every open claim's view.

A claim in the queue (not resolved, or resolved with a late record's flag standing) has one
row under ``ALL`` and one per view it is in; a claim out of it has none. ``due_us`` is the
effective resolution deadline (``claims.review.ticket_status``: the plan moved by the time
spent waiting on the customer) in microseconds since the epoch. While the ticket waits, the
deadline moves with the clock: the row has ``paused`` = 1 and ``due_us`` is the deadline
less the time it was computed at, so the deadline at ``now`` is ``due_us`` + ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from claims.errors import InvalidDecisionError
from claims.records import AWAITING_APPROVAL, Review, load_reviews
from claims.tables import claims, review_queue
from claims.views import claim_view, photos_of
from storage.backfills import register_backfill

__all__ = [
    "ALL",
    "QUEUE_FILTERS",
    "QueueEntry",
    "from_us",
    "queue_entry",
    "queue_filter",
    "refresh_queue",
    "to_us",
]

QUEUE_FILTERS = ("needs_review", "copied_photo", "awaiting_approval", "lot_alert", "flagged")
ALL = "all"
"""The index's name for the whole queue (no view)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(at: datetime) -> int:
    """An aware time as whole microseconds since the epoch (exact, so ties stay ties)."""
    return (at - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The inverse of ``to_us``, in UTC."""
    return _EPOCH + us * _US


def queue_filter(name: str | None, claim: dict[str, Any]) -> bool:
    """Whether a claim (as ``claims.views`` shows it) belongs to the named queue view."""
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


@dataclass(frozen=True)
class QueueEntry:
    """A claim's place in the queue: its views (``ALL`` first) and its deadline key."""

    claim_id: str
    views: tuple[str, ...]
    paused: bool
    due_us: int


def queue_entry(row: Any, photos: Sequence[Any], review: Review) -> QueueEntry | None:
    """Where a claim stands in the queue, or None when it is out of it."""
    claim = claim_view(row, list(photos), None, review)
    # A resolved claim is back in the queue only while a late record's flag stands.
    if claim["status"] == "resolved" and claim["flagged"] is None:
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    at = review.events[-1].at if review.events else created
    status = review.status(json.loads(row.ticket), at)
    paused = status.state == "waiting_on_customer"
    return QueueEntry(
        claim_id=row.id,
        views=(ALL, *(name for name in QUEUE_FILTERS if queue_filter(name, claim))),
        paused=paused,
        due_us=to_us(status.resolution_due) - (to_us(at) if paused else 0),
    )


def refresh_queue(conn: Connection, claim_ids: Sequence[str]) -> None:
    """Rewrite the claims' index rows from their rows and records, in ``conn``'s transaction."""
    ids = list(dict.fromkeys(claim_ids))
    if not ids:
        return
    rows = conn.execute(select(claims).where(claims.c.id.in_(ids))).all()
    photos = photos_of(conn, ids)
    reviews = load_reviews(conn, ids)
    conn.execute(delete(review_queue).where(review_queue.c.claim_id.in_(ids)))
    values = [
        {"claim_id": e.claim_id, "view": view, "paused": int(e.paused), "due_us": e.due_us}
        for row in rows
        if (e := queue_entry(row, photos.get(row.id, []), reviews[row.id])) is not None
        for view in e.views
    ]
    if values:
        conn.execute(insert(review_queue), values)


# Migration v0009 indexes the claims already filed with this same function.
register_backfill("review_queue", refresh_queue)
