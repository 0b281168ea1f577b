"""Operator actions on deliveries: a dead letter put back in the queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from notifications.errors import DeliveryNotDeadError, UnknownDeliveryError
from notifications.outbox import outbox
from notifications.times import as_utc, utc_now

__all__ = ["redeliver"]


def redeliver(*, engine: Engine, delivery_id: str, now: datetime | None = None) -> None:
    """Put a dead delivery back in the queue with fresh attempts (after the receiver is fixed)."""
    at = as_utc(now, "now") if now is not None else utc_now()
    with engine.begin() as conn:
        status = conn.execute(
            select(outbox.c.status).where(outbox.c.delivery_id == delivery_id)
        ).scalar_one_or_none()
        if status is None:
            raise UnknownDeliveryError(delivery_id)
        changed = conn.execute(
            update(outbox)
            .where(outbox.c.delivery_id == delivery_id, outbox.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=at)
        ).rowcount
        if changed != 1:
            raise DeliveryNotDeadError(delivery_id, status)
