"""Who is responsible for a defect: rules over a custody timeline, each verdict with reasons.

In the spirit of carrier-liability law (goods tendered in good condition and delivered
damaged are the carrier's, unless inherent vice or the shipper's act): find the last time
the goods were seen clean and the first time the defect was evidenced, look at who held
them in between, and at what the cold chain did there. When the facts do not settle it
the verdict is ``undetermined`` and goes to a person; the engine never guesses silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from claims.coldchain import SegmentAbuse, analyse_segment
from claims.custody import LedgerRef, Observation, Segment, Timeline
from claims.profiles import TemperatureProfile

__all__ = ["PERISHABLE_DEFECTS", "RULES_VERSION", "ClaimFacts", "Reason", "Verdict", "decide"]

RULES_VERSION = "2026.11.1"
PERISHABLE_DEFECTS = frozenset({"spoilage", "mold", "swelling"})
UNDETERMINED = "undetermined"
# Observations this close together describe the same handover.
_SAME_MOMENT = timedelta(minutes=5)
# Handover records rarely line up to the second; a larger hole is a custody gap.
_GAP_TOLERANCE = timedelta(minutes=30)
# A proof-of-delivery photo may be taken shortly before the doorstep handover is logged.
_DELIVERY_SLACK = timedelta(minutes=30)


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
            "rules_version": self.rules_version,
        }


@dataclass(frozen=True)
class ClaimFacts:
    """What the claim itself says: defects found in its photos, when, and delivery time."""

    defects: frozenset[str]
    photo_time: datetime
    delivered_at: datetime
    evidence_confidence: float = 1.0
    photo_ref: LedgerRef | None = None


def _undetermined(*reasons: Reason) -> Verdict:
    return Verdict(UNDETERMINED, None, 0.0, reasons)


def _refs(segments: Sequence[Segment]) -> tuple[LedgerRef, ...]:
    return tuple(r for s in segments for r in s.refs)


def _who(s: Segment) -> str:
    return f"{s.custodian.name or s.custodian.id} ({s.custodian.role})"


def _conflict(observations: Sequence[Observation]) -> Reason | None:
    for a, b in itertools.pairwise(observations):
        if b.time - a.time <= _SAME_MOMENT and a.clean != b.clean and a.kind == b.kind:
            return Reason(
                "CONFLICTING_EVIDENCE",
                "Two records of the same handover disagree about the goods' "
                "condition; a person has to look at both.",
                tuple(r for r in (a.ref, b.ref) if r),
            )
    return None


def _gap(segments: Sequence[Segment], start: datetime | None, end: datetime) -> Reason | None:
    for a, b in itertools.pairwise(segments):
        if a.end is None or b.start - a.end <= _GAP_TOLERANCE:
            continue
        if (start is None or a.end >= start) and b.start <= end:
            return Reason(
                "CUSTODY_GAP",
                f"Nobody is recorded holding the goods between {a.end:%Y-%m-%d %H:%M}"
                f" and {b.start:%Y-%m-%d %H:%M} UTC.",
                _refs([a, b]),
                {"from": a.end.isoformat(), "to": b.start.isoformat()},
            )
    return None


@dataclass(frozen=True)
class _Window:
    last_clean: Observation | None
    first_defect: Observation
    segments: tuple[Segment, ...]
    delivered_clean: Observation | None


def _window(timeline: Timeline, claim: ClaimFacts) -> _Window:
    claim_obs = Observation(claim.photo_time, "claim_photo", claim.defects, claim.photo_ref)
    first = next(
        (
            o
            for o in timeline.observations
            if o.defects & claim.defects and o.time <= claim.photo_time
        ),
        claim_obs,
    )
    last_clean = next(
        (o for o in reversed(timeline.observations) if o.clean and o.time < first.time), None
    )
    start = last_clean.time if last_clean else min(s.start for s in timeline.segments)
    inside = tuple(s for s in timeline.segments if s.covers(start, first.time))
    delivered_clean = next(
        (
            o
            for o in timeline.observations
            if o.clean
            and o.time >= claim.delivered_at - _DELIVERY_SLACK
            and o.time <= claim.photo_time
        ),
        None,
    )
    return _Window(last_clean, first, inside, delivered_clean)


def _perishable(
    timeline: Timeline, claim: ClaimFacts, w: _Window, profile: TemperatureProfile
) -> Verdict:
    held = [s for s in timeline.segments if s.custodian.role != "customer"]
    analysed: list[tuple[Segment, SegmentAbuse]] = [
        (s, analyse_segment(s.readings, profile, in_transport=s.in_transport)) for s in held
    ]
    in_window = [(s, a) for s, a in analysed if s in w.segments]
    abused = sorted(
        ((s, a) for s, a in in_window if a.abused),
        key=lambda sa: sa[1].degree_minutes,
        reverse=True,
    )
    lo, hi = profile.band(in_transport=False)
    band = f"{lo if lo is not None else '-∞'}…{hi if hi is not None else '∞'} °C"
    if abused:
        s, a = abused[0]
        reason = Reason(
            "TEMPERATURE_ABUSE",
            f"While {_who(s)} held the goods they spent {a.minutes_outside:.0f} minutes outside "
            f"the {profile.name} band of {band} ({a.degree_minutes:.0f} °C·min; mean kinetic "
            f"temperature {a.mkt_celsius:.1f} °C, using the pharmaceutical ΔH/R = 10 000 K).",
            s.refs,
            {
                "degree_minutes": a.degree_minutes,
                "minutes_outside": a.minutes_outside,
                "t_max": a.t_max,
                "t_min": a.t_min,
                "mkt_celsius": a.mkt_celsius,
                "other_abused": [x.custodian.id for x, _ in abused[1:]],
            },
        )
        return Verdict(
            s.custodian.role, s.custodian.id, 0.9 if len(abused) == 1 else 0.7, (reason,)
        )
    elsewhere = [(s, a) for s, a in analysed if a.abused]
    if elsewhere:
        s, a = elsewhere[0]
        return _undetermined(
            Reason(
                "ABUSE_BEFORE_CLEAN_INSPECTION",
                f"{_who(s)} let the temperature leave the band ({a.degree_minutes:.0f} °C·min), but "
                "the goods were later inspected clean; whether that caused this defect needs a "
                "person's judgement.",
                s.refs,
            )
        )
    late = claim.photo_time - claim.delivered_at > timedelta(
        hours=profile.post_delivery_window_hours
    )
    missing = [s for s, a in in_window if not a.has_data]
    if w.delivered_clean and late and not missing:
        hours = (claim.photo_time - claim.delivered_at).total_seconds() / 3600
        return Verdict(
            "customer",
            None,
            0.8,
            (
                Reason(
                    "LATE_CLAIM_AFTER_CLEAN_DELIVERY",
                    f"The goods were recorded in good condition at delivery and the cold chain was "
                    f"kept, but the photo was taken {hours:.0f} hours after delivery, beyond the "
                    f"{profile.post_delivery_window_hours:.0f}-hour window for {profile.name} goods.",
                    tuple(r for r in (w.delivered_clean.ref, claim.photo_ref) if r),
                ),
            ),
        )
    if missing:
        return _undetermined(
            Reason(
                "MISSING_TEMPERATURE_DATA",
                "There are no temperature records for part of the journey ("
                + ", ".join(_who(s) for s in missing)
                + "), so abuse there cannot be ruled out.",
                _refs(missing),
            )
        )
    if timeline.shelf_life_end and claim.photo_time > timeline.shelf_life_end:
        return Verdict(
            "customer",
            None,
            0.7,
            (
                Reason(
                    "CLAIM_AFTER_SHELF_LIFE",
                    f"The photo was taken after the lot's shelf life ended "
                    f"({timeline.shelf_life_end:%Y-%m-%d}).",
                    (),
                ),
            ),
        )
    supplier = next((s for s in timeline.segments if s.custodian.role == "supplier"), None)
    swelling = "swelling" in claim.defects
    return Verdict(
        "supplier",
        supplier.custodian.id if supplier else None,
        0.7,
        (
            Reason(
                "SEAL_DEFECT" if swelling else "INHERENT_QUALITY",
                "The cold chain was kept throughout and the goods were within shelf life, so the "
                + (
                    "swelling points to a seal or process defect at the supplier."
                    if swelling
                    else "defect points to the product's own quality at the supplier."
                ),
                _refs(held),
            ),
        ),
    )


def _damage(claim: ClaimFacts, w: _Window) -> Verdict:
    if w.first_defect.kind != "claim_photo":
        holders = {s.custodian for s in w.segments if s.start < w.first_defect.time}
        refs = tuple(
            r for r in (w.last_clean.ref if w.last_clean else None, w.first_defect.ref) if r
        )
        if w.last_clean and len(holders) == 1:
            (party,) = holders
            return Verdict(
                party.role,
                party.id,
                0.9,
                (
                    Reason(
                        "DAMAGED_BETWEEN_HANDOVERS",
                        f"The package was inspected intact at {w.last_clean.time:%Y-%m-%d %H:%M} and "
                        f"found damaged at {w.first_defect.time:%Y-%m-%d %H:%M} UTC; only "
                        f"{party.name or party.id} ({party.role}) held it in between.",
                        refs,
                    ),
                ),
            )
        return _undetermined(
            Reason(
                "AMBIGUOUS_CUSTODY" if w.last_clean else "NO_CLEAN_OBSERVATION",
                "The damage was found at a handover, but it is not clear who held the package "
                "when it happened.",
                refs,
            )
        )
    if w.delivered_clean:
        return Verdict(
            "customer",
            None,
            0.75,
            (
                Reason(
                    "DAMAGED_AFTER_CLEAN_DELIVERY",
                    "The package was recorded intact at delivery, so the damage happened afterwards.",
                    tuple(r for r in (w.delivered_clean.ref, claim.photo_ref) if r),
                ),
            ),
        )
    before_delivery = [s for s in w.segments if s.custodian.role != "customer"]
    if w.last_clean and before_delivery:
        last = before_delivery[-1]
        if w.last_clean.time >= last.start - _SAME_MOMENT:
            return Verdict(
                last.custodian.role,
                last.custodian.id,
                0.85,
                (
                    Reason(
                        "DELIVERED_DAMAGED",
                        f"The package was handed to {_who(last)} intact and delivered damaged; the "
                        "last-mile carrier is responsible for what happened in its hands.",
                        tuple(r for r in (w.last_clean.ref, claim.photo_ref) if r) + last.refs,
                    ),
                ),
            )
        holders = {s.custodian for s in before_delivery}
        if len(holders) == 1:
            (party,) = holders
            return Verdict(
                party.role,
                party.id,
                0.8,
                (
                    Reason(
                        "DAMAGED_BETWEEN_HANDOVERS",
                        f"Only {party.name or party.id} ({party.role}) held the package between the "
                        "last intact inspection and delivery.",
                        _refs(before_delivery),
                    ),
                ),
            )
        return _undetermined(
            Reason(
                "AMBIGUOUS_CUSTODY",
                "Several parties held the package after it was last seen intact: "
                + ", ".join(_who(s) for s in before_delivery)
                + ".",
                _refs(before_delivery),
            )
        )
    return _undetermined(
        Reason(
            "NO_CLEAN_OBSERVATION",
            "No record shows the package intact at any handover, so the damage cannot be placed.",
            _refs(w.segments),
        )
    )


def decide(*, timeline: Timeline, claim: ClaimFacts, profile: TemperatureProfile) -> Verdict:
    """Name the responsible party for the claim's defects, with reasons and confidence."""
    if not claim.defects:
        return _undetermined(
            Reason("NO_DEFECT_FOUND", "No defect was found in the photos; a person will look.")
        )
    if not timeline.segments:
        return _undetermined(
            Reason(
                "NO_CUSTODY_DATA", f"The ledger holds no custody records for lot {timeline.lot}."
            )
        )
    if (conflict := _conflict(timeline.observations)) is not None:
        return _undetermined(conflict)
    w = _window(timeline, claim)
    start = w.last_clean.time if w.last_clean else None
    if (gap := _gap(timeline.segments, start, w.first_defect.time)) is not None:
        return _undetermined(gap)
    verdicts = []
    if claim.defects & PERISHABLE_DEFECTS:
        verdicts.append(_perishable(timeline, claim, w, profile))
    if "package_damage" in claim.defects:
        verdicts.append(_damage(claim, w))
    parties = {(v.responsible_party, v.party_id) for v in verdicts}
    reasons = tuple(r for v in verdicts for r in v.reasons)
    if len(parties) > 1:
        return _undetermined(
            Reason(
                "DEFECTS_POINT_TO_DIFFERENT_PARTIES",
                "The defects in the photos point to different parties; a person has to decide.",
                (),
            ),
            *reasons,
        )
    v = verdicts[0]
    confidence = min(x.confidence for x in verdicts) * claim.evidence_confidence
    return Verdict(v.responsible_party, v.party_id, round(confidence, 3), reasons)
