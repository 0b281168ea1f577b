"""Who is responsible for a defect: rules over a custody timeline, each verdict with reasons.

In the spirit of carrier-liability law (goods tendered in good condition and delivered
damaged are the carrier's, unless inherent vice or the shipper's act), GUIDE §4:

1. Evidence. A defect is evidenced by the claim's photos or by the ledger (a handover or
   delivery inspection with a defect disposition, up to the photo's time); the verdict
   lists each defect with its source, and says so when the ledger carried a defect the
   photos do not show.
2. Records that contradict each other (two inspections of one handover that disagree) or
   a lot with no custody records: undetermined.
   Returned items graded at a station (or checked one by one after delivery) are not
   records of a handover: they never contradict one; the same latent defect on returned
   items of the lot is listed as supporting evidence (source ``return``).
3. Latent defects (spoilage, mold, swelling): ``claims.latent``, from the whole
   temperature history and the shelf life each custodian used up.
4. Visible damage: ``claims.visible``, bounded by observations, receipt inspections read
   as the condition on arrival.
5. Defects pointing at different parties: undetermined, with both rules' reasons.

When the facts do not settle it the verdict is ``undetermined`` and goes to a person; the
engine never guesses silently. ``claims.verdict`` says how confidence is computed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from claims.latent import decide_latent
from claims.profiles import TemperatureProfile
from claims.segments import Observation, Timeline
from claims.verdict import (
    LATENT_DEFECTS,
    RULES_VERSION,
    UNDETERMINED,
    ClaimFacts,
    DefectEvidence,
    Reason,
    ResponsibilityPolicy,
    Verdict,
    undetermined,
)
from claims.visible import decide_visible, effective_time

__all__ = [
    "LATENT_DEFECTS",
    "PERISHABLE_DEFECTS",
    "RULES_VERSION",
    "UNDETERMINED",
    "ClaimFacts",
    "Reason",
    "ResponsibilityPolicy",
    "Verdict",
    "decide",
]

PERISHABLE_DEFECTS = LATENT_DEFECTS  # the name earlier releases used
# Two records this close together describe the same handover.
_SAME_MOMENT_SECONDS = 5 * 60


def _conflict(observations: Sequence[Observation]) -> Reason | None:
    for a, b in itertools.pairwise(observations):
        same = (b.time - a.time).total_seconds() <= _SAME_MOMENT_SECONDS
        if same and a.clean != b.clean:
            return Reason(
                "CONFLICTING_EVIDENCE",
                f"Two records of the same handover ({a.time:%Y-%m-%d %H:%M} UTC) disagree about "
                "the goods' condition; a person has to look at both.",
                tuple(r for r in (a.ref, b.ref) if r),
            )
    return None


def _evidence(
    timeline: Timeline, claim: ClaimFacts
) -> tuple[tuple[DefectEvidence, ...], Reason | None]:
    """Each defect with where it was seen; a reason when only the ledger shows one."""
    found = [
        DefectEvidence(d, "photo", claim.evidence_confidence, claim.photo_ref, claim.photo_time)
        for d in sorted(claim.defects)
    ]
    recorded = [
        DefectEvidence(d, "ledger", 1.0, o.ref, o.time)
        for o in timeline.observations
        if o.time <= claim.photo_time
        for d in sorted(o.defects)
    ]
    # Returned items of the lot graded with the same latent defect support the claim (the
    # lot went bad); they never add a defect of their own nor clear one (GUIDE §4 rule 4).
    claimed = claim.defects | {e.defect for e in recorded}
    supporting = [
        DefectEvidence(d, "return", o.confidence, o.ref, o.time)
        for o in timeline.returns
        if o.time <= claim.photo_time
        for d in sorted(o.defects & claimed & LATENT_DEFECTS)
    ]
    found += supporting
    only_ledger = [e for e in recorded if e.defect not in claim.defects]
    if not only_ledger:
        return tuple(found + recorded), None
    first = {e.defect: e for e in reversed(only_ledger)}
    reason = Reason(
        "DEFECT_ON_RECORD",
        "The photos do not show "
        + " or ".join(d.replace("_", " ") for d in sorted(first))
        + ", but the ledger does: "
        + "; ".join(
            f"{d.replace('_', ' ')} recorded at {e.time:%Y-%m-%d %H:%M} UTC (entry {e.ref.index})"  # type: ignore[union-attr]
            for d, e in sorted(first.items())
        )
        + ". The ledger's record is the evidence; the photos and the record disagree.",
        tuple(e.ref for e in first.values() if e.ref),
        {"defects": sorted(first)},
    )
    return tuple(found + recorded), reason


def _first(
    timeline: Timeline, claim: ClaimFacts, kinds: frozenset[str], policy: ResponsibilityPolicy
) -> Observation:
    """The earliest evidence of one of ``kinds``: a ledger record, else the claim photo."""
    recorded = [
        o for o in timeline.observations if o.defects & kinds and o.time <= claim.photo_time
    ]
    if recorded:
        return min(recorded, key=lambda o: effective_time(o, policy, claim.delivered_at))
    return Observation(claim.photo_time, "claim_photo", claim.defects & kinds, claim.photo_ref)


def _delivered_clean(
    timeline: Timeline, claim: ClaimFacts, policy: ResponsibilityPolicy
) -> Observation | None:
    return next(
        (
            o
            for o in timeline.observations
            if o.clean and claim.delivered_at - policy.delivery_slack <= o.time <= claim.photo_time
        ),
        None,
    )


def decide(
    *,
    timeline: Timeline,
    claim: ClaimFacts,
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy | None = None,
) -> Verdict:
    """Name the responsible party for the claim's defects, with reasons and confidence.

    The verdict lists the registered parties (and their roles) it read.
    """
    verdict = _decide(timeline, claim, profile, policy or ResponsibilityPolicy())
    held = (s.custodian for s in timeline.segments if s.recorded and s.custodian.role != "customer")
    return dataclasses.replace(verdict, relied_on=tuple(dict.fromkeys(held)))


def _decide(
    timeline: Timeline,
    claim: ClaimFacts,
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy,
) -> Verdict:
    evidence, on_record = _evidence(timeline, claim)
    defects = frozenset(e.defect for e in evidence)
    if not defects:
        return undetermined(
            Reason(
                "NO_DEFECT_FOUND",
                "No defect was found in the photos or on record; a person will look.",
            )
        )
    if not timeline.segments:
        return undetermined(
            Reason(
                "NO_CUSTODY_DATA", f"The ledger holds no custody records for lot {timeline.lot}."
            )
        )
    if (conflict := _conflict(timeline.observations)) is not None:
        return undetermined(conflict)
    verdicts = []
    if defects & LATENT_DEFECTS:
        kinds = defects & LATENT_DEFECTS
        latent_claim = ClaimFacts(
            kinds, claim.photo_time, claim.delivered_at, claim.evidence_confidence, claim.photo_ref
        )
        verdicts.append(
            decide_latent(
                timeline=timeline,
                claim=latent_claim,
                first=_first(timeline, claim, kinds, policy),
                delivered_clean=_delivered_clean(timeline, claim, policy),
                profile=profile,
                policy=policy,
            )
        )
    visible = defects - LATENT_DEFECTS
    if visible:
        verdicts.append(
            decide_visible(
                timeline=timeline,
                claim=claim,
                first=_first(timeline, claim, visible, policy),
                profile=profile,
                policy=policy,
            )
        )
    reasons = tuple(r for v in verdicts for r in v.reasons) + ((on_record,) if on_record else ())
    parties = {(v.responsible_party, v.party_id) for v in verdicts}
    if len(parties) > 1:
        decided = [v for v in verdicts if not v.needs_review]
        code = "DEFECTS_POINT_TO_DIFFERENT_PARTIES" if len(decided) > 1 else "PART_UNDETERMINED"
        return Verdict(
            UNDETERMINED,
            None,
            0.0,
            (
                Reason(
                    code,
                    "The defects point to different parties; a person has to decide."
                    if len(decided) > 1
                    else "One defect could be placed and another could not; a person has to decide.",
                ),
                *reasons,
            ),
            evidence=evidence,
        )
    v = verdicts[0]
    if v.needs_review:
        return Verdict(UNDETERMINED, None, 0.0, reasons, evidence=evidence)
    # The evidence's strength: a record in the ledger is a person's; a photo, the model's.
    # Returns are other items of the lot: they support a defect, they do not prove this one.
    strength = min(
        max(e.confidence for e in evidence if e.defect == d and e.source != "return")
        for d in defects
    )
    confidence = min(x.confidence for x in verdicts) * strength
    return Verdict(
        v.responsible_party,
        v.party_id,
        round(confidence, 3),
        reasons,
        evidence=evidence,
        holds=tuple(dict.fromkeys(h for x in verdicts for h in x.holds)),
    )
