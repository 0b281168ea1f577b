"""Who recorded it, and when: records captured late by the party they clear (GUIDE §4 rule 6).

Records arrive late, and a late record is welcome: a leg's missing readings, a delayed
inspection. But a record captured after the claim by the very party it clears (the
carrier's own clean readings for its own leg, uploaded once it is blamed) is weaker than
one captured as things happened. The ledger says when each record was captured (its
record's ``ts``) and for which parties the capturing key speaks, so the rule is:

1. A record is *interested* when it was captured after the claim was filed, by a key that
   speaks for a party the record concerns (a party it names, or the holder of the goods at
   the moment it speaks for), and the verdict does not name that party: it clears them.
   A record against the interest of the party that captured it (the verdict names them)
   counts fully.
2. The verdict is decided again as if the interested records had never been captured.
   When that gives the same party, they changed nothing and the verdict stands.
3. Otherwise they made the verdict on their own: it keeps the party they point to, but
   its confidence is capped below what pays out and a hold sends it to a person, with a
   reason citing each interested record.

Pure: the timeline (with its captures) and two verdicts in, a verdict out.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from claims.custody import Segment, Timeline
from claims.verdict import Reason, Verdict

__all__ = ["LATE_RECORD_HOLD", "interested_late_records", "weigh_late_records"]

LATE_RECORD_HOLD = (
    "LATE_RECORD_BY_BENEFICIARY: records captured after the claim by the party they clear "
    "decide this verdict"
)


def _holder(segments: tuple[Segment, ...], at: datetime) -> str | None:
    for s in segments:
        if s.start <= at and (s.end is None or at < s.end):
            return s.custodian.id
    return None


def interested_late_records(
    timeline: Timeline, *, filed_at: datetime, verdict: Verdict
) -> frozenset[int]:
    """Ledger indices of records captured after ``filed_at`` by a party they clear (step 1)."""
    out = set()
    for index, capture in timeline.captures.items():
        if capture.at <= filed_at or not capture.parties:
            continue
        concerned = set(capture.named)
        if (holder := _holder(timeline.segments, capture.time)) is not None:
            concerned.add(holder)
        cleared = concerned & set(capture.parties)
        cleared.discard(verdict.party_id)  # type: ignore[arg-type]
        if cleared:
            out.add(index)
    return frozenset(out)


def _summary(v: Verdict) -> str:
    if v.needs_review:
        return "undetermined"
    return f"{v.responsible_party} ({v.party_id})" if v.party_id else v.responsible_party


def weigh_late_records(
    verdict: Verdict,
    *,
    without: Verdict,
    interested: frozenset[int],
    timeline: Timeline,
    confidence_cap: float,
) -> Verdict:
    """Steps 2 and 3: the verdict, weakened when only the interested records decide it.

    ``without`` is the verdict decided on ``timeline.without(interested)``.
    """
    if not interested or verdict.needs_review:
        return verdict
    same = (without.responsible_party, without.party_id) == (
        verdict.responsible_party,
        verdict.party_id,
    )
    if same:
        return verdict
    captures = timeline.captures
    refs = tuple(captures[i].ref for i in sorted(interested))
    listed = ", ".join(
        f"entry {i} (captured {captures[i].at:%Y-%m-%d %H:%M} UTC for "
        f"{', '.join(captures[i].parties)})"
        for i in sorted(interested)
    )
    reason = Reason(
        "LATE_RECORD_BY_BENEFICIARY",
        f"This verdict rests on records captured after the claim by the party they clear: "
        f"{listed}. Without them it would be {_summary(without)}. A record its own "
        "beneficiary captured late cannot make a verdict confident on its own; a person "
        "decides.",
        refs,
        {"records": sorted(interested), "without": _summary(without)},
    )
    return dataclasses.replace(
        verdict,
        confidence=round(min(verdict.confidence, confidence_cap), 3),
        reasons=(*verdict.reasons, reason),
        holds=(*verdict.holds, LATE_RECORD_HOLD),
    )
