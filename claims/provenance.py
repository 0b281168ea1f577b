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

Who recorded it (issue 22): verdicts weigh an observation by its author's relation to it.
A record counts fully when its capturer speaks for the holder of the goods at the moment it
speaks for (the custodian's own records, the receiver's inspection at receipt), for either
side of a handover within ``HANDOVER_SLACK`` of it, or for the party the verdict names (a
record against its capturer's interest), or when its capturer speaks for no party (an
independent capture: the operator's logger import, a station's grade). Any other record is
an *outsider's* (a party observing at its own read point in a stretch nobody confirmed, or an
entry captured before capture was bounded, ``supplychain.authorship``): steps 2 and 3 apply to it
as to a late interested record, with its own reason and hold.

Pure: the timeline (with its captures) and two verdicts in, a verdict out.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime

from claims.segments import Capture, Segment, Timeline
from claims.verdict import Reason, Verdict
from supplychain.authorship import HANDOVER_SLACK

__all__ = [
    "LATE_RECORD_HOLD",
    "OUTSIDER_RECORD_HOLD",
    "interested_late_records",
    "outsider_records",
    "weigh_late_records",
]

LATE_RECORD_HOLD = (
    "LATE_RECORD_BY_BENEFICIARY: records captured after the claim by the party they clear "
    "decide this verdict"
)


OUTSIDER_RECORD_HOLD = (
    "RECORD_BY_OUTSIDER: records captured by a party that neither held the goods then nor "
    "took part in their handover decide this verdict"
)


def _holder(segments: tuple[Segment, ...], at: datetime) -> str | None:
    for s in segments:
        if s.start <= at and (s.end is None or at < s.end):
            return s.custodian.id
    return None


def _answerable(segments: tuple[Segment, ...], at: datetime) -> set[str]:
    """The parties a record of the moment ``at`` is theirs to make: the holder then, and both
    sides of a handover within the clocks' slack of it."""
    out = {h} if (h := _holder(segments, at)) is not None else set()
    for before, after in itertools.pairwise(segments):
        if abs(after.start - at) <= HANDOVER_SLACK:
            out |= {before.custodian.id, after.custodian.id}
    return out


def _outsider(capture: Capture, segments: tuple[Segment, ...], verdict: Verdict) -> bool:
    """Captured for parties, none of them answerable for the moment, nor the one named."""
    if not capture.parties:
        return False  # an independent capture: the operator's import, a station
    answerable = _answerable(segments, capture.time) | {verdict.party_id}
    return not answerable & set(capture.parties)


def outsider_records(timeline: Timeline, *, verdict: Verdict) -> frozenset[int]:
    """Ledger indices of records captured by a party outside the moment they describe."""
    return frozenset(
        i for i, c in timeline.captures.items() if _outsider(c, timeline.segments, verdict)
    )


def interested_late_records(
    timeline: Timeline, *, filed_at: datetime, verdict: Verdict
) -> frozenset[int]:
    """Ledger indices of the records that may not decide ``verdict`` on their own.

    Those captured after ``filed_at`` by a party they clear (step 1), and outsiders' records
    (``outsider_records``): ``weigh_late_records`` tells the two apart in its reasons.
    """
    out = set(outsider_records(timeline, verdict=verdict))
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
    outsiders = sorted(i for i in interested if _outsider(captures[i], timeline.segments, verdict))
    late = sorted(set(interested) - set(outsiders))

    def listed(indices: list[int]) -> str:
        return ", ".join(
            f"entry {i} (captured {captures[i].at:%Y-%m-%d %H:%M} UTC for "
            f"{', '.join(captures[i].parties)})"
            for i in indices
        )

    reasons: list[Reason] = []
    if late:
        reasons.append(
            Reason(
                "LATE_RECORD_BY_BENEFICIARY",
                f"This verdict rests on records captured after the claim by the party they "
                f"clear: {listed(late)}. Without them it would be {_summary(without)}. A "
                "record its own beneficiary captured late cannot make a verdict confident on "
                "its own; a person decides.",
                tuple(captures[i].ref for i in late),
                {"records": late, "without": _summary(without)},
            )
        )
    if outsiders:
        reasons.append(
            Reason(
                "RECORD_BY_OUTSIDER",
                f"This verdict rests on records captured by a party that did not hold the "
                f"goods at the time they describe, nor took part in their handover: "
                f"{listed(outsiders)}. Without them it would be {_summary(without)}. An "
                "outsider's record cannot make a verdict confident on its own; a person "
                "decides.",
                tuple(captures[i].ref for i in outsiders),
                {"records": outsiders, "without": _summary(without)},
            )
        )
    holds = ((LATE_RECORD_HOLD,) if late else ()) + ((OUTSIDER_RECORD_HOLD,) if outsiders else ())
    return dataclasses.replace(
        verdict,
        confidence=round(min(verdict.confidence, confidence_cap), 3),
        reasons=(*verdict.reasons, *reasons),
        holds=(*verdict.holds, *holds),
    )
