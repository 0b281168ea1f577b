"""The default clock of everything that takes a clock (the ledger, anchors, keys, sessions,
the outbox). Imports nothing but the standard library: the offline dossier verifier reaches
it through the ledger and must not pull in SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
