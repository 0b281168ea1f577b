"""The shapes the responsibility rules share: the claim's facts, the policy, reasons, verdicts.

How a verdict's confidence is computed: each rule that can decide has a base confidence
(``BASE_CONFIDENCE``), which says how often that rule's kind of evidence names the right
party when the records are complete, set from the supply-chain simulator
(``bench/responsibility.py``). The verdict's confidence is that base times the strength of
the defect's evidence: the model's confidence in the finding when only a photo shows it,
1.0 when a person recorded it in the ledger. Two rules that agree keep the lower figure.
Undetermined verdicts have confidence 0. Compensation is paid without a person only at or
above the policy's ``auto_pay_min_confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from claims.errors import InvalidPolicyError
from claims.segments import LedgerRef, Party

__all__ = [
    "BASE_CONFIDENCE",
    "LATENT_DEFECTS",
    "RULES_VERSION",
    "UNDETERMINED",
    "ClaimFacts",
    "DefectEvidence",
    "Reason",
    "ResponsibilityPolicy",
    "Verdict",
    "undetermined",
]

RULES_VERSION = "2026.12.7"
"""The rules' version every verdict records; moves with their code (docs/rules-versions.md)."""
UNDETERMINED = "undetermined"
# Driven by time and temperature, visible only later; the other labels show at once.
LATENT_DEFECTS = frozenset({"spoilage", "mold", "swelling"})

BASE_CONFIDENCE: dict[str, float] = {
    # Latent defects.
    "TEMPERATURE_ABUSE": 0.95,  # one custodian's excess dominates
    "COMPARABLE_ABUSERS": 0.7,  # the worse of two close ones
    "SHOCK_BROKE_SEAL": 0.9,
    "SHOCKS_IN_SEVERAL_SEGMENTS": 0.6,
    "SEAL_DEFECT": 0.85,
    "INHERENT_QUALITY": 0.85,
    "LATE_CLAIM_AFTER_CLEAN_DELIVERY": 0.85,
    "CLAIM_AFTER_SHELF_LIFE": 0.8,
    # A logger's maximum (or minimum) outside the band, length unknown (GUIDE §4 rule 5):
    # below what pays out, and the verdict holds payment for a person whatever the policy.
    "AGGREGATE_EXCURSION": 0.6,
    # Visible damage.
    "DAMAGED_ON_ARRIVAL": 0.95,
    "DAMAGED_BETWEEN_OBSERVATIONS": 0.95,
    "DELIVERED_DAMAGED": 0.9,
    "DAMAGED_AFTER_CLEAN_DELIVERY": 0.85,
    # The pack's label (claims.labels): its use-by date past at delivery names the seller.
    # Times the read's own confidence; the date is on the pack, the delivery on the claim.
    "USE_BY_PASSED_AT_DELIVERY": 0.95,
}


@dataclass(frozen=True)
class ResponsibilityPolicy:
    """The rules' thresholds; the policy file's ``responsibility`` section sets them."""

    # An inspection this soon after the holder's receipt records the condition on arrival.
    receipt_window: timedelta = timedelta(minutes=60)
    # A peak acceleration above this in one custodian's segment is rough handling (≈10 g).
    shock_threshold_mps2: float = 100.0
    # Readings further apart than this (or this far from a segment's ends) leave a hole.
    max_reading_gap: timedelta = timedelta(minutes=60)
    # The worse abuser is "clearly" worse when its excess is at least this times the next.
    comparable_abusers_ratio: float = 2.0
    # A proof-of-delivery record may be stamped shortly before the doorstep handover.
    delivery_slack: timedelta = timedelta(minutes=30)
    # A verdict that only records captured late by the party they clear make (GUIDE §4
    # rule 6) keeps at most this confidence, below what pays out, and waits for a person.
    late_record_confidence_cap: float = 0.5

    def __post_init__(self) -> None:
        for name in ("receipt_window", "max_reading_gap", "delivery_slack"):
            if getattr(self, name) <= timedelta(0):
                raise InvalidPolicyError(f"responsibility.{name}", "must be positive")
        if not self.shock_threshold_mps2 > 0:
            raise InvalidPolicyError("responsibility.shock_threshold_mps2", "must be above 0")
        if not 0 <= self.late_record_confidence_cap < 1:
            raise InvalidPolicyError("responsibility.late_record_confidence_cap", "must be 0 to 1")
        if not self.comparable_abusers_ratio >= 1:
            raise InvalidPolicyError("responsibility.comparable_abusers_ratio", "must be >= 1")


@dataclass(frozen=True)
class ClaimFacts:
    """What the claim itself says: defects found in its photos, when, and delivery time."""

    defects: frozenset[str]
    photo_time: datetime
    delivered_at: datetime
    evidence_confidence: float = 1.0
    # What the photo evidence rests on: the model release entry whose findings these are
    # (the claim's own entry is written after the verdict), cited wherever a reason uses it.
    photo_ref: LedgerRef | None = None


@dataclass(frozen=True)
class DefectEvidence:
    """Where a defect was seen: ``photo`` (the model, at ``confidence``), ``ledger`` (a
    handover record) or ``return`` (a returned item of the lot, supporting only)."""

    defect: str
    source: str
    confidence: float
    ref: LedgerRef | None = None
    time: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "defect": self.defect,
            "source": self.source,
            "confidence": round(self.confidence, 3),
            "ref": self.ref.as_dict() if self.ref else None,
            "time": self.time.isoformat() if self.time else None,
        }


@dataclass(frozen=True)
class Reason:
    """One rule that fired: a stable code, a sentence for people, the entries it used."""

    code: str
    message: str
    refs: tuple[LedgerRef, ...] = ()
    facts: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Segments share boundary events; cite each entry once, in first-cited order.
        object.__setattr__(self, "refs", tuple(dict.fromkeys(self.refs)))

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "code": self.code,
            "message": self.message,
            "refs": [r.as_dict() for r in self.refs],
            "facts": self.facts,
        }


@dataclass(frozen=True)
class Verdict:
    """The responsible party (a role, or ``undetermined``) with confidence and reasons."""

    responsible_party: str
    party_id: str | None
    confidence: float
    reasons: tuple[Reason, ...]
    rules_version: str = RULES_VERSION
    evidence: tuple[DefectEvidence, ...] = ()
    # The registered roles the verdict read, each with the entry that registered it: a later
    # change of role is a new entry and never rewrites this verdict.
    relied_on: tuple[Party, ...] = ()
    # Why this verdict, however confident, must not pay out without a person (GUIDE §4
    # rules 5 and 6: an excursion of unknown length, a record its own beneficiary captured late).
    holds: tuple[str, ...] = ()

    @property
    def needs_review(self) -> bool:
        """Undetermined verdicts always go to an adjudicator."""
        return self.responsible_party == UNDETERMINED

    def as_dict(self) -> dict[str, object]:
        """JSON form, as appended to the ledger."""
        return {
            "responsible_party": self.responsible_party,
            "party_id": self.party_id,
            "confidence": self.confidence,
            "needs_review": self.needs_review,
            "reasons": [r.as_dict() for r in self.reasons],
            "evidence": [e.as_dict() for e in self.evidence],
            "relied_on": [
                {"id": p.id, "role": p.role, "ledger_idx": p.ledger_idx} for p in self.relied_on
            ],
            "rules_version": self.rules_version,
            **({"holds": list(self.holds)} if self.holds else {}),
        }


def undetermined(*reasons: Reason) -> Verdict:
    """For a person: the records cannot carry a confident answer."""
    return Verdict(UNDETERMINED, None, 0.0, reasons)
