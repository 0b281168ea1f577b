"""Releasing held captures after a capture: the retries, the key check, the reassessment.

A document held for its senders' records (``supplychain.held``) is retried once records about
its lots naming a sender it awaits arrive; what the supply chain cannot know lives here: a
document whose key was revoked since is never released (the key's word no longer counts),
and a released document's lots' claims are reassessed as the capture route reassesses its
own (``claims.reassess.reassess_after_capture``).
"""

from __future__ import annotations

from collections.abc import Iterable

from api.auth.errors import UnknownKeyError
from api.services import Services
from claims.reassess import reassess_after_capture
from supplychain.epcis import CaptureEvent
from supplychain.held import HeldCapture, arrivals, held_about, retry_held

__all__ = ["MAX_RELEASE_ROUNDS", "release_held_captures"]

MAX_RELEASE_ROUNDS = 8
"""Rounds of releases one capture sets off at most: a released document may release others
(its own records arrive), and so on; a chain longer than this waits for the next capture."""


def release_held_captures(
    services: Services, *, captured: Iterable[CaptureEvent]
) -> tuple[HeldCapture, ...]:
    """Retry the held documents the ``captured`` events may release, oldest first, each in its
    own transaction, then those the released ones may release, until nothing moves (at most
    ``MAX_RELEASE_ROUNDS``); reassess each released document's claims. Returns the released."""
    released: list[HeldCapture] = []
    arrived = arrivals(captured)
    for _ in range(MAX_RELEASE_ROUNDS):
        now = services.clock()
        due = held_about(services.engine, arrived=arrived)
        moved: list[CaptureEvent] = []
        for held in (h for h in due if _still_stands(services, h)):
            done = retry_held(ledger=services.ledger, held_id=held.id, now=now)
            if done is None:
                continue  # still refused (or expired, or released by another process)
            if indices := done.result.indices:
                reassess_after_capture(
                    ledger=services.ledger,
                    appended=indices,
                    config=services.claims_config,
                    now=now,
                    actor=held.capturer.actor,
                )
            released.append(done.held)
            moved += done.events
        if not moved:
            break
        arrived = arrivals(moved)
    return tuple(released)


def _still_stands(services: Services, held: HeldCapture) -> bool:
    """The key that sent the document is not revoked (nor gone): its word still counts."""
    try:
        return services.keys.get(held.capturer.key_id).revoked_at is None
    except UnknownKeyError:
        return False
