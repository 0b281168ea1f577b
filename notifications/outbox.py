"""The transactional outbox: webhook events written in the caller's transaction.

Events are written to ``outbox`` in the caller's transaction, so a ticket event exists
exactly when its verdict does. The relay (``notifications.relay``) then delivers each row,
signed (``notifications.signatures``), at least once; ``notifications.deliveries`` puts
dead-lettered rows back. One row per (event, endpoint).

Events that share an ``order_key`` (a claim's id) reach an endpoint in the order they were
queued: the relay does not send a row while an earlier row with its key and endpoint is
still pending, so after an outage a claim's ``ticket.updated`` never overtakes its
``ticket.created``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
)

from notifications.errors import InvalidEventError
from notifications.times import as_utc
from storage.schema import metadata

__all__ = ["OutboxStatus", "canonical_json", "enqueue", "outbox"]

OutboxStatus = Literal["pending", "delivered", "dead"]

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(32), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("endpoint", String(2000), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    # Rows with the same key go to an endpoint in id order (migration 0002).
    Column("order_key", String(200)),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_order_key", "order_key"),
)
"""One row per (event, endpoint); ``delivery_id`` is what receivers deduplicate on."""


def canonical_json(payload: dict[str, Any], *, event_type: str = "?") -> str:
    """The payload as sent: sorted keys, no spaces, ASCII, no NaN."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(event_type, str(exc)) from exc


def enqueue(
    *,
    conn: Connection,
    event_type: str,
    payload: dict[str, Any],
    endpoints: Sequence[str],
    now: datetime,
    order_key: str | None = None,
) -> list[str]:
    """Queue one delivery per endpoint in the caller's transaction; returns the delivery ids.

    ``order_key`` (a claim's id): deliveries sharing it reach each endpoint in this order.
    """
    body = canonical_json(payload, event_type=event_type)
    at = as_utc(now, "now")
    rows: list[dict[str, Any]] = [
        {
            "delivery_id": uuid.uuid4().hex,
            "event_type": event_type,
            "payload": body,
            "endpoint": url,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "order_key": order_key,
        }
        for url in dict.fromkeys(endpoints)  # the same endpoint twice is one delivery
    ]
    if rows:
        conn.execute(insert(outbox), rows)
    return [r["delivery_id"] for r in rows]
