"""The claim's assessment: evidence in, decision out. Pure: no database, no store, no clock.

``claims.service.file_claim`` gathers the evidence (the photos' inspections, the lot's
timeline from the ledger, near-copies of the photos, the lot's recent defect claims) and
records what ``assess`` decides; everything between is here, testable with plain objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from claims.compensation import CompensationPolicy, Proposal, propose
from claims.duplicates import DuplicateMatch
from claims.errors import InvalidPolicyError
from claims.labels import read_labels
from claims.models import ClaimInput
from claims.profiles import DEFAULT_PROFILES, TemperatureProfile
from claims.provenance import interested_late_records, weigh_late_records
from claims.responsibility import UNDETERMINED, ClaimFacts, Reason, Verdict, decide
from claims.segments import LedgerRef, Timeline
from claims.tickets import TicketPlan, TicketPolicy, plan_ticket
from claims.verdict import ResponsibilityPolicy
from vision.label_text import LabelReading
from vision.phash import HASH_BITS
from vision.predictor import Inspection

__all__ = ["MODEL_UNSURE", "Assessment", "ClaimEvidence", "ClaimsConfig", "assess"]

MODEL_UNSURE = "the model is unsure of this photo"


@dataclass(frozen=True)
class ClaimsConfig:
    """Policies that configuration may change."""

    profiles: dict[str, TemperatureProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    tickets: TicketPolicy = field(default_factory=TicketPolicy)
    compensation: CompensationPolicy = field(default_factory=CompensationPolicy)
    webhooks: tuple[str, ...] = ()
    lot_alert_claims: int = 3
    lot_alert_window: timedelta = timedelta(days=7)
    responsibility: ResponsibilityPolicy = field(default_factory=ResponsibilityPolicy)
    # Re-encoding, resizing or brightening moves a photo's pHash by a few bits; unrelated
    # photos sit near 32 bits apart.
    duplicate_max_distance: int = 6

    def __post_init__(self) -> None:
        d = self.duplicate_max_distance
        if isinstance(d, bool) or not 0 <= d < HASH_BITS // 2:
            raise InvalidPolicyError(
                "duplicate_max_distance", f"must be 0 to {HASH_BITS // 2 - 1} bits"
            )


@dataclass(frozen=True)
class ClaimEvidence:
    """Everything a claim is judged on, gathered before the decision.

    ``timeline`` is None when the ledger holds no record of the lot. ``duplicates`` has one
    entry per photo (its near-copies in other claims). ``recent_lot_claims`` are the ids of
    defect claims on the same lot within the lot-alert window.
    """

    claim: ClaimInput
    inspections: tuple[Inspection, ...]
    timeline: Timeline | None
    duplicates: tuple[tuple[DuplicateMatch, ...], ...] = ()
    recent_lot_claims: tuple[str, ...] = ()
    # The ledger entry of the model release whose findings these are (None: not known).
    model_release: LedgerRef | None = None
    # Per photo, what its printed label says (``claims.labels``); empty or None: not read
    # (label reading is off, or that photo was not read).
    labels: tuple[LabelReading | None, ...] = ()
    # The lots the claim's bare lot number names when it names several (two companies'
    # "L1"); then ``timeline`` is None.
    ambiguous_lots: tuple[str, ...] = ()

    @property
    def defects(self) -> frozenset[str]:
        """Every label any photo found."""
        return frozenset(f.label for i in self.inspections for f in i.findings)

    @property
    def uncertain(self) -> bool:
        """The photos found defects, but every finding is within the model's abstention
        margin: nothing the claim rests on is sure enough to act on without a person."""
        found = [f for i in self.inspections for f in i.findings]
        return bool(found) and all(f.uncertain for f in found)

    @property
    def unsure_photos(self) -> tuple[int, ...]:
        """The judged photos the model may not decide alone for the claim's families (their
        positions): below an operating point, or a release without one. Photos from an
        inspector that states no decisions (a test double) are not counted."""
        families = self.claim.families
        return tuple(
            n
            for n, i in enumerate(self.inspections)
            if i.quality.ok
            and i.decisions
            and not all(f in i.decisions and i.decisions[f].alone for f in families)
        )

    @property
    def copied_photo(self) -> bool:
        """A photo nearly duplicates another claim's."""
        return any(self.duplicates)


@dataclass(frozen=True)
class Assessment:
    """What the service decides about a claim, before anything is written."""

    verdict: Verdict
    ticket: TicketPlan
    compensation: Proposal
    status: str  # "open", or "needs_review" when a person must look
    lot_alert: tuple[str, ...] | None  # earlier claims that, with this one, raise a lot alert


def _for_a_person(code: str, message: str) -> Verdict:
    """An undetermined verdict with no confidence: the records cannot carry one."""
    return Verdict(UNDETERMINED, None, 0.0, (Reason(code, message),))


def _verdict(
    evidence: ClaimEvidence,
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy,
    now: datetime,
) -> Verdict:
    """The rules' verdict with what the labels and the lot's recorded use-by say applied,
    weighed for records captured late by the party they clear (GUIDE §4 rule 6): a use-by
    record counts as any other record does."""
    claim, timeline = evidence.claim, evidence.timeline

    def labelled(verdict: Verdict, timeline: Timeline | None) -> Verdict:
        return read_labels(verdict, claim=claim, labels=evidence.labels, timeline=timeline)

    if (unjudged := _unjudged(evidence)) is not None:
        return labelled(unjudged, timeline)
    assert timeline is not None  # _unjudged answers a lot with no records
    confidence = max((f.confidence for i in evidence.inspections for f in i.findings), default=0.0)
    facts = ClaimFacts(
        evidence.defects,
        now,
        claim.delivered_at,
        evidence_confidence=confidence,
        photo_ref=evidence.model_release,
    )

    def judged(timeline: Timeline) -> Verdict:
        verdict = decide(timeline=timeline, profile=profile, claim=facts, policy=policy)
        return labelled(verdict, timeline)

    verdict = judged(timeline)
    # Records captured after the claim by the party they clear weigh less (GUIDE §4 rule 6).
    interested = interested_late_records(timeline, filed_at=now, verdict=verdict)
    if not interested:
        return verdict
    return weigh_late_records(
        verdict,
        without=judged(timeline.without(interested)),
        interested=interested,
        timeline=timeline,
        confidence_cap=policy.late_record_confidence_cap,
    )


def _unjudged(evidence: ClaimEvidence) -> Verdict | None:
    """The verdict for a person when the records cannot be judged at all, else None."""
    claim, timeline = evidence.claim, evidence.timeline
    if evidence.ambiguous_lots:
        return _for_a_person(
            "AMBIGUOUS_LOT",
            f"Lot number {claim.lot!r} names {len(evidence.ambiguous_lots)} lots of different "
            "products on the ledger ("
            + ", ".join(evidence.ambiguous_lots)
            + "): which one the customer received is an adjudicator's call.",
        )
    if timeline is None:
        return _for_a_person(
            "NO_RECORDS",
            f"The ledger holds no records for lot {claim.lot!r}: no custody, temperatures or "
            "inspections to judge by. The claim is accepted and an adjudicator decides.",
        )
    unregistered = cast(list[str], timeline.meta.get("unregistered") or [])
    if unregistered:
        return _for_a_person(
            "UNREGISTERED_PARTY",
            "A party in the lot's custody chain has no registered role: "
            + ", ".join(unregistered)
            + ".",
        )
    return None


def assess(evidence: ClaimEvidence, *, config: ClaimsConfig, now: datetime) -> Assessment:
    """Verdict, ticket, compensation and status for the evidence, under the configuration."""
    claim = evidence.claim
    verdict = _verdict(evidence, config.profiles[claim.category], config.responsibility, now)
    if unsure := evidence.unsure_photos:
        # The verdict stands, but nothing it rests on the photos may be acted on alone.
        which = ", ".join(str(n + 1) for n in unsure)
        verdict = replace(verdict, holds=(*verdict.holds, f"{MODEL_UNSURE} (photo {which})"))
    # What the photos show, and what the ledger recorded that they missed.
    defects = evidence.defects | {e.defect for e in verdict.evidence}
    # This claim makes the lot's count reach the threshold: an alert naming all of them.
    alert = (
        None
        if not defects or len(evidence.recent_lot_claims) + 1 != config.lot_alert_claims
        else evidence.recent_lot_claims
    )
    ticket = plan_ticket(
        verdict=verdict,
        defects=defects,
        category=claim.category,
        line_value=claim.line_value,
        now=now,
        lot_alert=alert is not None,
        policy=config.tickets,
    )
    compensation = propose(
        verdict=verdict,
        defects=defects,
        line_value=claim.line_value,
        currency=claim.currency,
        policy=config.compensation,
        duplicate_evidence=evidence.copied_photo,
        uncertain_evidence=evidence.uncertain,
    )
    # A copied photo, findings the model is not sure of, or a verdict that must not pay out
    # on its own (an excursion of unknown length, a late interested record) leave the
    # verdict alone but put a person on the case.
    held = evidence.copied_photo or evidence.uncertain or bool(verdict.holds)
    status = "needs_review" if verdict.needs_review or held else "open"
    return Assessment(verdict, ticket, compensation, status, alert)
