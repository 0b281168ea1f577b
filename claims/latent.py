"""Latent defects (spoilage, mold, swelling): attributed from the whole temperature history.

They are driven by time and temperature and show hours or days later, so a clean visual
check after a cold-chain break does not clear the custodian who broke it. Every custodian
who held the goods before the defect was first evidenced is weighed by the shelf life
their segment used up beyond the band (``claims.shelflife``); a segment counts as abuse
only above the profile's degree-minute threshold (GUIDE §4). Then, in order:

1. a custody stretch nobody is on record for, or temperature records with holes, leaves
   the question open: undetermined, saying what is missing;
2. one clear abuser → theirs; two comparable → the worse, naming both, less confident;
   an aggregate excursion elsewhere (below) is named beside them and never outweighs them
   by itself. Its length is unknown but bounded by its report's period: at its peak for all
   of it, the most shelf life it can have used. When the measured abuse outweighs even that
   (by the comparable-abusers ratio) the verdict stands; otherwise the excursion may have
   been the worse, so the verdict is no surer than rule 4's and waits for a person;
3. no abuse, a swollen pack and a shock above the threshold in one custodian's segment →
   that custodian broke the seal;
4. no measured abuse, but a logger's aggregate report (min/max/mean over a period) with its
   maximum or minimum outside the band in one custodian's segment → that custodian, with
   less confidence and a hold: an excursion of unknown length never pays out by itself
   (GUIDE §4 rule 5); in several custodians' segments → undetermined;
5. no abuse, delivery recorded clean, photo beyond the category's post-delivery window →
   the customer; likewise a photo taken after the shelf life ran out;
6. otherwise the supplier: inherent quality, or a seal defect for swelling.

An aggregate report is never a sample (its mean integrates nothing). One that bounds both
sides of the band (gives a maximum and a minimum) counts as watching its period, so its
period is no hole: the logger saw every temperature there, in band or not. One that
shows an excursion is rule 4's evidence; a mean alone bounds nothing and covers nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from claims.coldchain import AggregateCheck, SegmentAbuse, analyse_segment, check_aggregate
from claims.profiles import TemperatureProfile
from claims.segments import LedgerRef, Observation, Segment, Timeline
from claims.shelflife import Consumption, consumption, excess_rate
from claims.verdict import (
    BASE_CONFIDENCE,
    ClaimFacts,
    Reason,
    ResponsibilityPolicy,
    Verdict,
    undetermined,
)

__all__ = ["SegmentHistory", "decide_latent", "most_excess", "reading_holes"]


@dataclass(frozen=True)
class SegmentHistory:
    """One custodian's segment, weighed: abuse metrics and shelf life used up."""

    segment: Segment
    abuse: SegmentAbuse
    used: Consumption
    holes: tuple[tuple[datetime, datetime], ...]
    # The segment's aggregate reports against the band, each with the entry that carried it.
    aggregates: tuple[tuple[AggregateCheck, LedgerRef], ...] = ()

    @property
    def abused(self) -> bool:
        """Above the profile's degree-minute threshold and beyond the band's ageing."""
        return self.abuse.abused and self.used.excess > 0

    @property
    def excursions(self) -> tuple[tuple[AggregateCheck, LedgerRef], ...]:
        """Aggregate reports whose maximum (or minimum) lies outside the band."""
        return tuple(ar for ar in self.aggregates if ar[0].excursion)


def who(s: Segment) -> str:
    """A custodian as people read it."""
    return f"{s.custodian.name or s.custodian.id} ({s.custodian.role})"


def _band(profile: TemperatureProfile, segment: Segment) -> str:
    lo, hi = profile.band(in_transport=segment.in_transport)
    return f"{lo if lo is not None else '-∞'}…{hi if hi is not None else '∞'} °C"


def reading_holes(
    segment: Segment,
    end: datetime,
    max_gap: timedelta,
    watched: Sequence[tuple[datetime, datetime]] = (),
) -> tuple[tuple[datetime, datetime], ...]:
    """Stretches of the segment (up to ``end``) longer than ``max_gap`` with no reading.

    ``watched`` periods (of aggregate reports that bound the band) are no holes.
    """
    times = [segment.start, *sorted(r.time for r in segment.readings), end]
    holes = []
    for a, b in itertools.pairwise(times):
        for x, y in _unwatched(a, b, watched):
            if y - x > max_gap:
                holes.append((x, y))
    return tuple(holes)


def _unwatched(
    a: datetime, b: datetime, watched: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``a``..``b`` outside every watched period."""
    parts = [(a, b)]
    for s, e in watched:
        parts = [
            piece
            for x, y in parts
            for piece in ((x, min(y, s)), (max(x, e), y))
            if piece[1] > piece[0]
        ]
    return parts


def _out_of_band_refs(h: SegmentHistory, profile: TemperatureProfile) -> tuple[LedgerRef, ...]:
    """The handover entry and the entries that carried out-of-band readings."""
    lo, hi = profile.band(in_transport=h.segment.in_transport)
    hot = [
        ref
        for r, ref in zip(h.segment.readings, h.segment.reading_refs, strict=False)
        if (hi is not None and r.celsius > hi) or (lo is not None and r.celsius < lo)
    ]
    return (*h.segment.refs[:1], *hot)


def _weigh(
    segments: Sequence[Segment], until: datetime, profile: TemperatureProfile, gap: timedelta
) -> list[SegmentHistory]:
    out = []
    for s in segments:
        end = min(s.end or until, until)
        rs = [r for r in s.readings if r.time <= end]
        checks = tuple(
            (check_aggregate(a, profile, in_transport=s.in_transport), ref)
            for a, ref in zip(s.aggregates, s.aggregate_refs, strict=False)
            if a.start <= end
        )
        watched = [(c.aggregate.start, c.aggregate.end) for c, _ in checks if c.covers]
        out.append(
            SegmentHistory(
                s,
                analyse_segment(rs, profile, in_transport=s.in_transport),
                consumption(rs, profile, in_transport=s.in_transport),
                reading_holes(s, end, gap, watched),
                checks,
            )
        )
    return out


def _excursion_text(h: SegmentHistory, profile: TemperatureProfile) -> str:
    """The aggregate excursions of one segment, as people read them."""
    parts = []
    for c, _ in h.excursions:
        a = c.aggregate
        numbers = ", ".join(
            f"{name} {v:g} °C"
            for name, v in (("min", a.t_min), ("max", a.t_max), ("mean", a.t_mean))
            if v is not None
        )
        parts.append(
            f"a logger reported {numbers} over {a.start:%m-%d %H:%M} to {a.end:%m-%d %H:%M} UTC: "
            f"its {'maximum' if c.side == 'above' else 'minimum'} of {c.peak:g} °C is "
            f"{'above' if c.side == 'above' else 'below'} the {profile.name} band of "
            f"{_band(profile, h.segment)}"
        )
    return "; ".join(parts)


def _excursion_reason(
    h: SegmentHistory, profile: TemperatureProfile, extra: str, *, most: float | None = None
) -> Reason:
    """One custodian's aggregate excursions: how far out, never how long (GUIDE §4 rule 5);
    ``most``: the most shelf life beyond the band they can have used (``most_excess``)."""
    checks = [c for c, _ in h.excursions]
    worst = max(checks, key=lambda c: abs((c.peak or 0.0) - (c.limit or 0.0)))
    bound = {} if most is None else {"excess_pct_at_most": round(100 * most, 3)}
    return Reason(
        "AGGREGATE_EXCURSION",
        f"While {who(h.segment)} held the goods, {_excursion_text(h, profile)}. That is an "
        "excursion of unknown length: a summary says how far the temperature went, not for "
        "how long." + extra,
        (*h.segment.refs[:1], *(ref for _, ref in h.excursions)),
        {
            "party_id": h.segment.custodian.id,
            "peak_celsius": worst.peak,
            "side": worst.side,
            "band": _band(profile, h.segment),
            "length": "unknown",
            "degree_minutes_at_least": max(c.degree_minutes_at_least for c in checks),
            **bound,
            "reports": [
                {
                    "start": c.aggregate.start.isoformat(),
                    "end": c.aggregate.end.isoformat(),
                    "min_celsius": c.aggregate.t_min,
                    "max_celsius": c.aggregate.t_max,
                    "mean_celsius": c.aggregate.t_mean,
                }
                for c in checks
            ],
        },
    )


def _aggregate_excursion(hot: Sequence[SegmentHistory], profile: TemperatureProfile) -> Verdict:
    """No measured abuse: an aggregate excursion names its custodian, never confidently."""
    parties = {h.segment.custodian.id for h in hot}
    if len(parties) > 1:
        return undetermined(
            Reason(
                "AGGREGATE_EXCURSIONS",
                "Loggers' summaries put excursions of unknown length in more than one "
                "custodian's hands ("
                + "; ".join(f"{who(h.segment)}: {_excursion_text(h, profile)}" for h in hot)
                + "), or one report's period spans a handover, and no reading measures any of "
                "them: a person decides.",
                tuple(r for h in hot for r in (*h.segment.refs[:1], *(x for _, x in h.excursions))),
                {"parties": sorted(parties)},
            )
        )
    h = hot[0]
    reason = _excursion_reason(
        h,
        profile,
        " No custodian shows measured abuse, so it is theirs, with less confidence; a person "
        "approves any payment.",
    )
    peak = reason.facts["peak_celsius"]
    hold = (
        f"AGGREGATE_EXCURSION: {who(h.segment)} is named on an excursion of unknown length "
        f"(a logger's {'maximum' if reason.facts['side'] == 'above' else 'minimum'} of "
        f"{peak} °C, outside the band), not on measured abuse"
    )
    party = h.segment.custodian
    return Verdict(
        party.role,
        party.id,
        BASE_CONFIDENCE["AGGREGATE_EXCURSION"],
        (reason,),
        holds=(hold,),
    )


def most_excess(h: SegmentHistory, profile: TemperatureProfile) -> float:
    """The most shelf life beyond the band the segment can have used: what its readings
    measured, plus each aggregate excursion at its peak for the whole of its report's period
    (the report says how far out, never how long, and never longer than the period it
    covers; the whole period, not only the part inside the custody times, so clocks a few
    minutes apart never shrink it). A share of the whole shelf life, as
    ``Consumption.excess``."""
    most = h.used.excess
    for c, _ in h.excursions:
        a = c.aggregate
        assert c.peak is not None  # an excursion has one
        rate = excess_rate(c.peak, profile, in_transport=h.segment.in_transport)
        most += (a.end - a.start).total_seconds() / 3600 * rate / profile.shelf_life_hours
    return most


def _beside_excursions(
    verdict: Verdict,
    abused: Sequence[SegmentHistory],
    hot: Sequence[SegmentHistory],
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy,
) -> Verdict:
    """The measured abusers' verdict with the aggregate excursions beside it (rule 2)."""
    top = max(abused, key=lambda x: x.used.excess)
    measured = top.used.excess
    ratio = policy.comparable_abusers_ratio
    reasons, holds = [], []
    for h in hot:
        if h.segment.custodian.id == top.segment.custodian.id:
            reasons.append(
                _excursion_reason(
                    h, profile, " It agrees with the readings that measured the abuse."
                )
            )
            continue
        most = most_excess(h, profile)
        said = (
            f" At its peak for the whole period it would have used up at most {100 * most:.2f}% "
            f"of the shelf life beyond the band; {100 * measured:.2f}% was measured while "
            f"{who(top.segment)} held the goods"
        )
        if measured >= ratio * most:
            said += f", {ratio:g} times that or more: it cannot outweigh the measured abuse."
            reasons.append(_excursion_reason(h, profile, said, most=most))
            continue
        said += f", less than {ratio:g} times that: it may outweigh the measured abuse."
        reasons.append(_excursion_reason(h, profile, said, most=most))
        holds.append(
            f"AGGREGATE_EXCURSION: while {who(h.segment)} held the goods a logger reported an "
            f"excursion of unknown length that may outweigh the abuse measured while "
            f"{who(top.segment)} held them; a person confirms the verdict"
        )
    confidence = verdict.confidence
    if holds:
        # Named on the measured abuse, but the other may have been the worse: no surer than an
        # excursion of unknown length names anyone (rule 4).
        confidence = min(confidence, BASE_CONFIDENCE["AGGREGATE_EXCURSION"])
    return dataclasses.replace(
        verdict,
        confidence=confidence,
        reasons=(*verdict.reasons, *reasons),
        holds=(*verdict.holds, *holds),
    )


def _abuse_reason(code: str, h: SegmentHistory, profile: TemperatureProfile, extra: str) -> Reason:
    a, u = h.abuse, h.used
    return Reason(
        code,
        f"While {who(h.segment)} held the goods they spent {a.minutes_outside:.0f} minutes "
        f"outside the {profile.name} band of {_band(profile, h.segment)} "
        f"({a.degree_minutes:.0f} °C·min, peak {a.t_max} °C); at Q10 {profile.q10:g} that used "
        f"up {100 * u.excess:.2f}% of the shelf life beyond what the same "
        f"{u.hours:.1f} hours in band would have ({100 * u.in_band:.2f}%). Mean kinetic "
        f"temperature {a.mkt_celsius} °C (ΔH/R = 10 000 K, a pharmaceutical convention)." + extra,
        _out_of_band_refs(h, profile),
        {
            "party_id": h.segment.custodian.id,
            "degree_minutes": a.degree_minutes,
            "minutes_outside": a.minutes_outside,
            "t_max": a.t_max,
            "t_min": a.t_min,
            "mkt_celsius": a.mkt_celsius,
            **u.as_facts(),
        },
    )


def _abusers(
    abused: list[SegmentHistory], profile: TemperatureProfile, policy: ResponsibilityPolicy
) -> Verdict:
    ranked = sorted(abused, key=lambda h: h.used.excess, reverse=True)
    top = ranked[0]
    party = top.segment.custodian
    if (
        len(ranked) == 1
        or top.used.excess >= policy.comparable_abusers_ratio * ranked[1].used.excess
    ):
        others = "".join(
            f" {who(h.segment)} also left the band, using up {100 * h.used.excess:.2f}%."
            for h in ranked[1:]
        )
        alone: tuple[Reason, ...] = (_abuse_reason("TEMPERATURE_ABUSE", top, profile, others),)
        return Verdict(party.role, party.id, BASE_CONFIDENCE["TEMPERATURE_ABUSE"], alone)
    second = ranked[1]
    note = (
        f" {who(second.segment)} also abused the goods, using up "
        f"{100 * second.used.excess:.2f}%: comparable (less than "
        f"{policy.comparable_abusers_ratio:g} times), so the worse one is named and a person may "
        "share the cost."
    )
    reasons = (
        _abuse_reason("COMPARABLE_ABUSERS", top, profile, note),
        _abuse_reason("TEMPERATURE_ABUSE", second, profile, ""),
    )
    return Verdict(party.role, party.id, BASE_CONFIDENCE["COMPARABLE_ABUSERS"], reasons)


def _shocks(held: Sequence[Segment], policy: ResponsibilityPolicy) -> Verdict | None:
    rough = [
        (s, max(x.mps2 for x in s.shocks))
        for s in held
        if any(x.mps2 >= policy.shock_threshold_mps2 for x in s.shocks)
    ]
    if not rough:
        return None
    rough.sort(key=lambda sp: sp[1], reverse=True)
    s, peak = rough[0]
    refs = tuple(x.ref for x in s.shocks if x.mps2 >= policy.shock_threshold_mps2)
    several = len(rough) > 1
    others = "".join(f" {who(o)} also recorded a shock of {p:.0f} m/s²." for o, p in rough[1:])
    code = "SHOCKS_IN_SEVERAL_SEGMENTS" if several else "SHOCK_BROKE_SEAL"
    reason = Reason(
        code,
        f"The cold chain was kept, but while {who(s)} held the pack a shock of {peak:.0f} m/s² "
        f"({peak / 9.80665:.0f} g) was recorded, above the {policy.shock_threshold_mps2:.0f} m/s² "
        "threshold: rough handling that breaks a seal, so the swelling is theirs." + others,
        refs,
        {
            "peak_mps2": peak,
            "party_id": s.custodian.id,
            "others": [o.custodian.id for o, _ in rough[1:]],
        },
    )
    return Verdict(s.custodian.role, s.custodian.id, BASE_CONFIDENCE[code], (reason,))


def decide_latent(
    *,
    timeline: Timeline,
    claim: ClaimFacts,
    first: Observation,
    delivered_clean: Observation | None,
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy,
) -> Verdict:
    """Who made a latent defect, evidenced first by ``first``, happen (see the module doc)."""
    until = first.taken_over or first.time
    held = [s for s in timeline.segments if s.custodian.role != "customer" and s.start < until]
    nobody = [s for s in held if not s.recorded]
    if nobody:
        s = nobody[0]
        return undetermined(
            Reason(
                "CUSTODY_GAP",
                f"The goods were shipped at {s.start:%Y-%m-%d %H:%M} UTC without a named receiver"
                f" and nobody is on record holding them until {s.end:%Y-%m-%d %H:%M} UTC.",
                s.refs,
                {"from": s.start.isoformat(), "to": s.end.isoformat() if s.end else None},
            )
        )
    weighed = _weigh(held, until, profile, policy.max_reading_gap)
    holes = [h for h in weighed if h.holes]
    abused = [h for h in weighed if h.abused]
    hot = [h for h in weighed if h.excursions]
    if holes:
        leading = max(abused, key=lambda h: h.used.excess, default=None)
        summaries = "".join(
            f" While {who(h.segment)} held them, {_excursion_text(h, profile)} (an excursion of "
            "unknown length)."
            for h in hot
        )
        return undetermined(
            Reason(
                "MISSING_TEMPERATURE_DATA",
                "The temperature record has holes longer than "
                f"{policy.max_reading_gap.total_seconds() / 60:.0f} minutes ("
                + "; ".join(
                    f"{who(h.segment)}: {a:%m-%d %H:%M} to {b:%m-%d %H:%M}"
                    for h in holes
                    for a, b in h.holes
                )
                + "), so abuse there cannot be ruled out."
                + (f" The records that exist point at {who(leading.segment)}." if leading else "")
                + summaries,
                tuple(r for h in holes for r in h.segment.refs[:1]),
                {
                    "holes": [
                        {
                            "party_id": h.segment.custodian.id,
                            "from": a.isoformat(),
                            "to": b.isoformat(),
                        }
                        for h in holes
                        for a, b in h.holes
                    ],
                    "leading_abuser": leading.segment.custodian.id if leading else None,
                },
            )
        )
    if abused:
        return _beside_excursions(_abusers(abused, profile, policy), abused, hot, profile, policy)
    if "swelling" in claim.defects and (v := _shocks(held, policy)) is not None:
        return v
    if hot:
        return _aggregate_excursion(hot, profile)
    after = claim.photo_time - claim.delivered_at
    if delivered_clean and after > timedelta(hours=profile.post_delivery_window_hours):
        return Verdict(
            "customer",
            None,
            BASE_CONFIDENCE["LATE_CLAIM_AFTER_CLEAN_DELIVERY"],
            (
                Reason(
                    "LATE_CLAIM_AFTER_CLEAN_DELIVERY",
                    "The goods were recorded in good condition at delivery and the cold chain "
                    f"was kept, but the photo was taken {after.total_seconds() / 3600:.0f} hours "
                    f"after delivery, beyond the {profile.post_delivery_window_hours:.0f}-hour "
                    f"window for {profile.name} goods.",
                    tuple(r for r in (delivered_clean.ref, claim.photo_ref) if r),
                    {"hours_after_delivery": round(after.total_seconds() / 3600, 1)},
                ),
            ),
        )
    return _supplier(timeline, claim, weighed, profile, sum(h.used.consumed for h in weighed))


def _supplier(
    timeline: Timeline,
    claim: ClaimFacts,
    weighed: Sequence[SegmentHistory],
    profile: TemperatureProfile,
    used_before_delivery: float,
) -> Verdict:
    start = min((s.start for s in timeline.segments), default=claim.delivered_at)
    after = max(claim.photo_time - claim.delivered_at, timedelta(0))
    # After delivery nobody records the temperature: assume the band's top, the kind case.
    used = used_before_delivery + after.total_seconds() / 3600 / profile.shelf_life_hours
    refs = tuple(r for h in weighed for r in h.segment.refs[:1])
    facts: dict[str, object] = {
        "shelf_life_used_pct": round(100 * used, 1),
        "days_since_first_record": round((claim.photo_time - start).total_seconds() / 86400, 1),
    }
    if used > 1.0:
        return Verdict(
            "customer",
            None,
            BASE_CONFIDENCE["CLAIM_AFTER_SHELF_LIFE"],
            (
                Reason(
                    "CLAIM_AFTER_SHELF_LIFE",
                    f"The cold chain was kept, but by the time of the photo the goods had used up "
                    f"about {100 * used:.0f}% of their {profile.shelf_life_hours / 24:g}-day shelf "
                    "life (counting the time since delivery at the band's top).",
                    refs,
                    facts,
                ),
            ),
        )
    swelling = "swelling" in claim.defects
    code = "SEAL_DEFECT" if swelling else "INHERENT_QUALITY"
    supplier = next((s for s in timeline.segments if s.custodian.role == "supplier"), None)
    return Verdict(
        "supplier",
        supplier.custodian.id if supplier else None,
        BASE_CONFIDENCE[code],
        (
            Reason(
                code,
                "The cold chain was kept throughout (no custodian above the abuse threshold) and "
                f"the goods had used about {100 * used:.0f}% of their shelf life, so the "
                + (
                    "swelling points to a seal or process defect at the supplier: no shock was "
                    "recorded in transport."
                    if swelling
                    else "defect points to the product's own quality at the supplier."
                ),
                refs,
                facts,
            ),
        ),
    )
