"""Times in the outbox: every stored time is aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.clock import utc_now
from notifications.errors import NaiveDatetimeError

__all__ = ["as_utc", "utc_now"]


def as_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a time without an offset is refused, naming it ``name``."""
    # SQLite stores datetimes without their offset; keeping every stored time in UTC is what
    # makes ``next_attempt_at <= now`` compare correctly there.
    if value.tzinfo is None:
        raise NaiveDatetimeError(name)
    return value.astimezone(UTC)
