"""The settled-case invariant tells a machine's silent change from a person's decision.

A settled claim's view is read before a grade or late record about its lot arrives; at the
week's end it must read the same, unless a person decided it since (their decision is theirs,
recorded in the ledger). Judged here on hand-made observations of a planned week's claim.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulator.invariants import _BANDS, Views, _band, check
from simulator.observed import Filed, Observed
from simulator.week import plan_week

NAME = "no grade or late record silently changes a settled case"

PAID = {
    "verdict": {"responsible_party": "warehouse", "party_id": "urn:x", "confidence": 0.95},
    "compensation": {"paid": True, "amount": "8.81"},
}
DECIDED = {
    "verdict": {"responsible_party": "warehouse", "party_id": "urn:x", "confidence": 1.0},
    "compensation": {"paid": True, "amount": "8.81"},
    "outcome": {"responsible_party": "warehouse"},
}


def _judged(after: dict[str, Any], *, read_at: float, person_at: float | None) -> tuple[str, ...]:
    week = plan_week(
        seed=3, now=datetime(2026, 12, 1, tzinfo=UTC), lots=1, claims=1, batches=0, customers=1
    )
    seen = Observed()
    seen.filed[week.claims[0].name] = Filed(week.claims[0], "C1", 0.0, 1.0, dict(PAID))
    seen.settled_before["C1"] = dict(PAID)
    seen.settled_read_at["C1"] = read_at
    if person_at is not None:
        seen.person_at["C1"] = person_at
    views = Views(customer={"C1": after})
    held = {h.name: h for h in check(week, seen, views)}[NAME]
    assert held.checked == 1
    return held.broken


def test_unchanged_holds() -> None:
    assert _judged(dict(PAID), read_at=5.0, person_at=None) == ()


def test_a_change_nobody_made_is_broken() -> None:
    broken = _judged(dict(DECIDED), read_at=5.0, person_at=None)
    assert len(broken) == 1
    assert "0.95" in broken[0] and "1.0" in broken[0]


def test_a_person_deciding_after_the_read_is_not_silent() -> None:
    assert _judged(dict(DECIDED), read_at=5.0, person_at=6.0) == ()


def test_a_person_who_decided_before_the_read_does_not_excuse_a_later_change() -> None:
    assert len(_judged(dict(DECIDED), read_at=5.0, person_at=4.0)) == 1


def test_verdicts_are_counted_by_the_confidence_they_state() -> None:
    assert [_band(c, 0.8) for c in (0.0, 0.49, 0.5, 0.79, 0.8, 0.95)] == [
        _BANDS[0],
        _BANDS[0],
        _BANDS[1],
        _BANDS[1],
        _BANDS[2],
        _BANDS[2],
    ]


FLAG = "a settled claim a late record flags waits in the queue for a person"


def _flag_judged(after: dict[str, Any], queued: bool) -> tuple[str, ...]:
    """A settled claim a late record flagged (entry 40), in the queue or not at the end."""
    week = plan_week(
        seed=3, now=datetime(2026, 12, 1, tzinfo=UTC), lots=1, claims=1, batches=0, customers=1
    )
    seen = Observed()
    seen.filed[week.claims[0].name] = Filed(week.claims[0], "C1", 0.0, 1.0, dict(PAID))
    views = Views(
        customer={"C1": after},
        webhooks={"C1": [{"type": "claim.flagged"}]},
        queue={"flagged": {"C1"} if queued else set()},
    )
    held = {h.name: h for h in check(week, seen, views)}[FLAG]
    assert held.checked == 1
    return held.broken


FLAGGED = {**DECIDED, "reassessments": [{"kind": "flagged", "ledger_index": 40}]}


def test_a_flagged_claim_in_the_queue_holds() -> None:
    assert _flag_judged(FLAGGED, queued=True) == ()


def test_a_flagged_claim_out_of_the_queue_with_nobody_after_the_flag_is_broken() -> None:
    before = {**FLAGGED, "outcome": {"responsible_party": "warehouse", "ledger_index": 30}}
    assert len(_flag_judged(before, queued=False)) == 1


def test_a_person_acting_after_the_flag_lets_the_claim_leave_the_queue() -> None:
    """A decision read before the flag and accepted after it (two adjudicators on one claim)
    clears the flag, as the server counts it: the claim rightly leaves the queue."""
    decided = {**FLAGGED, "outcome": {"responsible_party": "warehouse", "ledger_index": 41}}
    assert _flag_judged(decided, queued=False) == ()
    moved = {**FLAGGED, "ticket": {"history": [{"ledger_index": 42}]}}
    assert _flag_judged(moved, queued=False) == ()
