"""What the shop's users saw: every call, every filing, every decision, as the client saw it.

``users.Shop`` fills an ``Observed`` while the week plays; ``invariants`` judges it and gives
the figures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from simulator.week import ClaimPlan

__all__ = ["Call", "Filed", "Observed"]


@dataclass(frozen=True)
class Call:
    """One request as the client saw it."""

    who: str
    method: str
    path: str
    status: int
    seconds: float


@dataclass
class Filed:
    """A claim as filed: its plan, its id, when it was sent and answered, what it said."""

    plan: ClaimPlan
    claim_id: str | None
    sent: float
    answered: float
    body: dict[str, Any]
    after_records: bool = True
    error: str | None = None


@dataclass
class Observed:
    """Everything the users saw, for the invariants and the figures."""

    calls: list[Call] = field(default_factory=list)
    filed: dict[str, Filed] = field(default_factory=dict)
    decided_at: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, list[tuple[str, int, dict[str, Any]]]] = field(default_factory=dict)
    over_limit: set[str] = field(default_factory=set)
    proposed: dict[str, str] = field(default_factory=dict)
    approved: dict[str, str] = field(default_factory=dict)
    # A settled claim as read before a grade or late record about its lot, and when it was read.
    settled_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    settled_read_at: dict[str, float] = field(default_factory=dict)
    # When a person's decision, proposal or approval on a claim was last accepted.
    person_at: dict[str, float] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    graded_at: dict[str, float] = field(default_factory=dict)
    late_posted_at: dict[str, float] = field(default_factory=dict)
    # Postings the authorship rule did not let in, as planned (after a custodian that records
    # nothing): held for the sender's record (``Posting.held``), or refused.
    held_postings: int = 0
    refused_postings: int = 0
    queue_samples: list[dict[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_id(self) -> dict[str, Filed]:
        """Filed claims by their id (a snapshot: customers go on filing meanwhile)."""
        with self.lock:
            return {f.claim_id: f for f in self.filed.values() if f.claim_id}
