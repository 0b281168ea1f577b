"""The review queue: open claims (and settled ones flagged since) in named views.

A view is a filter over claims as ``claims.views`` shows them (``queue_filter``); the queue
lists them by the soonest effective resolution deadline first, then by id. What it filters
and orders on is kept per claim by ``claims.queue_index``, so a page is read by index and
only its claims' views are built.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select

from claims.errors import InvalidClaimError, InvalidDecisionError
from claims.queue_index import ALL, QUEUE_FILTERS, from_us, queue_filter, to_us
from claims.tables import claims
from claims.tables import review_queue as queue_rows
from claims.views import views_of
from storage.db import read_snapshot

__all__ = ["QUEUE_FILTERS", "queue_filter", "review_queue", "review_queue_page"]

_CURSOR_ERROR = "is not a cursor this API returned"


def _cursor(cursor: str | None) -> tuple[int, str, int] | None:
    """The (deadline, id) of the last claim a page showed and the time its order was read at,
    deadline and time in microseconds."""
    if not cursor:
        return None
    try:
        due_text, last_id, at_text = cursor.split("~")
        due, at = datetime.fromisoformat(due_text), datetime.fromisoformat(at_text)
        if due.tzinfo is None or at.tzinfo is None:
            raise ValueError(cursor)
    except ValueError as exc:
        raise InvalidClaimError("cursor", _CURSOR_ERROR) from exc
    return to_us(due), last_id, to_us(at)


def _stream(
    conn: Connection,
    view: str,
    *,
    paused: bool,
    shift: int,
    after: tuple[int, str] | None,
    n: int,
) -> list[tuple[int, str]]:
    """Up to ``n`` (deadline, id) of one view's paused or running claims, in queue order.

    A paused claim's deadline is its ``due_us`` shifted by the time now (``shift``); one
    index range per stream, as the shift keeps each stream's order.
    """
    q = queue_rows.c
    query = select(q.due_us, q.claim_id).where(q.view == view, q.paused == int(paused))
    if after is not None:
        due = after[0] - shift
        query = query.where(or_(q.due_us > due, and_(q.due_us == due, q.claim_id > after[1])))
    rows = conn.execute(query.order_by(q.due_us, q.claim_id).limit(n)).all()
    return [(r.due_us + shift, r.claim_id) for r in rows]


def review_queue_page(
    engine: Engine,
    *,
    view: str | None,
    now: datetime,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Claims in a queue view, the soonest deadline first, and the cursor to the next page.

    The cursor is the effective deadline and id of the last claim shown and the time the
    first page was ordered at: a paused claim's deadline moves with the clock, so the pages
    after the first keep its order (no claim twice, none skipped), while each claim's view
    shows it at ``now``.
    """
    if view is not None and view not in QUEUE_FILTERS:
        raise InvalidDecisionError("filter", f"one of {', '.join(QUEUE_FILTERS)}")
    after = _cursor(cursor)
    ordered_at = to_us(now) if after is None else after[2]
    start = None if after is None else after[:2]
    name = view or ALL
    with read_snapshot(engine) as conn:
        running = _stream(conn, name, paused=False, shift=0, after=start, n=limit + 1)
        waiting = _stream(conn, name, paused=True, shift=ordered_at, after=start, n=limit + 1)
        keys = list(heapq.merge(running, waiting))[: limit + 1]
        page = keys[:limit]
        rows = {
            r.id: r
            for r in conn.execute(select(claims).where(claims.c.id.in_([i for _, i in page])))
        }
        items = views_of(conn, [rows[i] for _, i in page], now)
    if len(keys) <= limit:
        return items, None
    due, last_id = page[-1]
    return items, f"{from_us(due).isoformat()}~{last_id}~{from_us(ordered_at).isoformat()}"


def review_queue(
    engine: Engine, *, view: str | None, now: datetime, limit: int = 100
) -> list[dict[str, Any]]:
    """The first page of ``review_queue_page``."""
    return review_queue_page(engine, view=view, now=now, limit=limit)[0]
