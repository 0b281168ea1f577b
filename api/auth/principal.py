"""Who an authenticated request acts as: the roles a key can hold and the principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["KEY_PREFIX", "ROLES", "Principal", "a_role"]

ROLES = (
    "customer_app",
    "supply_chain",
    "station",
    "adjudicator",
    "ml_engineer",
    "auditor",
    "admin",
)
"""Every role a key can hold."""


def a_role(role: str) -> str:
    """The role with its article, as people read it: "an admin", "a station"."""
    # "ml" is said "em-el": a vowel sound.
    return f"{'an' if role[:1] in 'aeiou' or role.startswith('ml') else 'a'} {role}"


KEY_PREFIX = "fpk_"
"""What every token starts with, so a leaked one is recognisable (secret scanners)."""


@dataclass(frozen=True)
class Principal:
    """Who an authenticated request acts as: the key's role and what it is bound to."""

    key_id: str
    role: str
    name: str
    customer_id: str | None = None
    parties: tuple[str, ...] = ()
    station_id: str | None = None
    read_point: str | None = None
    expires_at: datetime | None = None
    approval_limit: Decimal | None = None

    @property
    def actor(self) -> str:
        """How ledger entries and audit name this caller, e.g. ``key:fpk_3f9a2c1d (admin)``."""
        return f"key:{KEY_PREFIX}{self.key_id} ({self.role})"
