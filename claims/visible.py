"""Visible damage (package damage, crushing, leaks): bounded by observations.

Damage shows the moment it happens, so it arose between the last observation that saw the
goods intact and the first that saw them damaged; whoever held them in between is
responsible. An inspection soon after a receipt (within the policy's window) records the
condition on arrival: it speaks for the moment of the handover, so damage found there is
the delivering party's, and goods found intact there were intact when the receiver took
them. Goods delivered intact (a delivery record) and photographed damaged later are the
customer's; goods picked up intact by the last-mile carrier and photographed damaged at
the door are the carrier's (carrier-liability law). Several holders in the window, a
stretch nobody is on record for, or no intact observation with several holders: a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from claims.profiles import TemperatureProfile
from claims.segments import Observation, Segment, Timeline
from claims.verdict import (
    BASE_CONFIDENCE,
    ClaimFacts,
    Reason,
    ResponsibilityPolicy,
    Verdict,
    undetermined,
)

__all__ = ["at_dispatch", "decide_visible", "effective_time", "on_arrival"]


def on_arrival(o: Observation, policy: ResponsibilityPolicy, delivered_at: datetime) -> bool:
    """A receipt inspection: made within the window after the holder's receipt.

    A check at the customer's door is the delivery's, even on a last-mile leg shorter than
    the window.
    """
    return (
        o.since_receipt is not None
        and o.since_receipt <= policy.receipt_window
        and o.time < delivered_at - policy.delivery_slack
    )


def at_dispatch(o: Observation, policy: ResponsibilityPolicy) -> bool:
    """An intact finding just before the holder shipped the goods on (within the window)."""
    return o.clean and o.until_dispatch is not None and o.until_dispatch <= policy.receipt_window


def effective_time(
    o: Observation, policy: ResponsibilityPolicy, delivered_at: datetime
) -> datetime:
    """The moment the observation speaks for.

    A receipt inspection speaks for the handover that preceded it; an intact finding just
    before dispatch speaks for the handover that followed it (damage found before dispatch
    stays the sender's own: they still held the goods).
    """
    if at_dispatch(o, policy) and o.handed_over:
        return o.handed_over
    return o.taken_over if on_arrival(o, policy, delivered_at) and o.taken_over else o.time


def _who(s: Segment) -> str:
    return f"{s.custodian.name or s.custodian.id} ({s.custodian.role})"


def _at(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _holders(segments: Sequence[Segment], start: datetime | None, end: datetime) -> list[Segment]:
    """Segments held (by anyone but the customer) some time in (start, end)."""
    return [
        s
        for s in segments
        if s.custodian.role != "customer"
        and s.start < end
        and (start is None or s.end is None or s.end > start)
    ]


def _seen(o: Observation, policy: ResponsibilityPolicy, delivered_at: datetime) -> str:
    if o.kind == "claim_photo":
        return f"in the customer's photo at {_at(o.time)}"
    if on_arrival(o, policy, delivered_at) and o.since_receipt is not None:
        minutes = o.since_receipt.total_seconds() / 60
        return f"by the inspection {minutes:.0f} minutes after receipt at {_at(o.time)}"
    return f"by the {o.kind} at {_at(o.time)}"


def decide_visible(
    *,
    timeline: Timeline,
    claim: ClaimFacts,
    first: Observation,
    profile: TemperatureProfile,
    policy: ResponsibilityPolicy,
) -> Verdict:
    """Who held the goods when the damage first evidenced by ``first`` happened."""

    def eff(o: Observation) -> datetime:
        return effective_time(o, policy, claim.delivered_at)

    def seen(o: Observation) -> str:
        return _seen(o, policy, claim.delivered_at)

    end = eff(first)
    upto = [o for o in timeline.observations if o.time <= claim.photo_time]
    if first.kind != "claim_photo" and (
        same := next((o for o in upto if o.clean and eff(o) == end), None)
    ):
        return undetermined(
            Reason(
                "CONFLICTING_EVIDENCE",
                f"The package was seen intact {seen(same)} and damaged {seen(first)}: both speak "
                f"for the same moment ({_at(end)}), so the records contradict each other.",
                tuple(r for r in (same.ref, first.ref) if r),
            )
        )
    clean = [o for o in upto if o.clean and eff(o) < end]
    last_clean = max(clean, key=lambda o: eff(o), default=None)
    start = eff(last_clean) if last_clean else None
    refs = tuple(r for r in (last_clean.ref if last_clean else None, first.ref) if r)
    if first.kind == "claim_photo":
        if start is not None and start >= claim.delivered_at - policy.delivery_slack:
            return Verdict(
                "customer",
                None,
                BASE_CONFIDENCE["DAMAGED_AFTER_CLEAN_DELIVERY"],
                (
                    Reason(
                        "DAMAGED_AFTER_CLEAN_DELIVERY",
                        f"The package was recorded intact at delivery ({seen(last_clean)})"  # type: ignore[arg-type]
                        " and photographed damaged afterwards.",
                        refs,
                    ),
                ),
            )
        after = claim.photo_time - claim.delivered_at
        if after > timedelta(hours=profile.post_delivery_window_hours):
            return undetermined(
                Reason(
                    "DAMAGE_REPORTED_LATE",
                    f"The damage was photographed {after.total_seconds() / 3600:.0f} hours after "
                    f"delivery, beyond the {profile.post_delivery_window_hours:.0f}-hour window, "
                    "and no record shows the package's condition at delivery.",
                    refs,
                )
            )
        end = claim.delivered_at
    holders = _holders(timeline.segments, start, end)
    nobody = [s for s in holders if not s.recorded]
    if nobody:
        return undetermined(
            Reason(
                "CUSTODY_GAP",
                f"Between {_at(start) if start else 'the first record'} and {_at(end)} the goods "
                f"were shipped without a named receiver at {_at(nobody[0].start)}; nobody is on "
                "record holding them for a while, so the damage cannot be placed.",
                (*refs, *nobody[0].refs[:1]),
            )
        )
    if len(holders) != 1:
        code = "AMBIGUOUS_CUSTODY" if last_clean else "NO_CLEAN_OBSERVATION"
        return undetermined(
            Reason(
                code,
                (
                    f"The package was last seen intact {seen(last_clean)}"
                    if last_clean
                    else "No record shows the package intact before the damage"
                )
                + f" and damaged {seen(first)}; in between it was held by "
                + (", ".join(_who(s) for s in holders) or "nobody on record")
                + ".",
                (*refs, *(r for s in holders for r in s.refs[:1])),
            )
        )
    (held,) = holders
    party = held.custodian
    seen_intact = f"seen intact {seen(last_clean)}" if last_clean else "from the lot's first record"
    if first.kind == "claim_photo":
        code = "DELIVERED_DAMAGED"
        message = (
            f"The package was {seen_intact}, then only {_who(held)} held it until delivery, and "
            f"it was photographed damaged {claim.photo_time - claim.delivered_at} after delivery: "
            "goods tendered in good condition and delivered damaged are the carrier's."
        )
    elif on_arrival(first, policy, claim.delivered_at):
        code = "DAMAGED_ON_ARRIVAL"
        message = (
            f"The damage was found {seen(first)}: the condition on arrival. It happened "
            f"before the handover at {_at(end)}, while {_who(held)} held the package "
            f"({seen_intact})."
        )
    else:
        code = "DAMAGED_BETWEEN_OBSERVATIONS"
        message = (
            f"The package was {seen_intact} and found damaged {seen(first)}; only "
            f"{_who(held)} held it in between."
        )
    return Verdict(
        party.role,
        party.id,
        BASE_CONFIDENCE[code],
        (Reason(code, message, (*refs, *held.refs[:1]), {"party_id": party.id}),),
    )
