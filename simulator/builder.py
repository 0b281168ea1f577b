"""What every fault generator builds with: the party registry, seeded choices, a built chain.

``Gen`` holds one scenario's random source and clock and makes the common pieces (a category,
a delivery time, a standard chain, a photo, a cold-chain excursion sized to be clearly abuse);
``Built`` is what a generator returns before ``scenarios`` turns it into a ``Scenario``.
Pure: no I/O; the clock is the ``now`` passed in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from claims.profiles import DEFAULT_PROFILES
from simulator.chain import Chain, degree_minutes
from simulator.spec import PartySpec, PhotoSpec, Truth

__all__ = [
    "CARRIERS",
    "CATEGORIES",
    "CLEAN",
    "HELD_KEYS",
    "REGISTRY",
    "SUPPLIERS",
    "WAREHOUSES",
    "Built",
    "Gen",
    "unregistered_party",
]

CATEGORIES = ("frozen", "chilled", "chilled_produce", "ambient_produce")
CLEAN = "sellable_accessible"
# The legs a cold-chain fault or a shock can hit: not the supplier's own (that is "inherent").
HELD_KEYS = ("first_leg", "warehouse", "last_mile")


def _pgln(n: int) -> str:
    return f"urn:epc:id:pgln:{4000000 + n}.00000"


SUPPLIERS = (
    PartySpec(_pgln(1), "supplier", "Green Farm"),
    PartySpec(_pgln(2), "supplier", "Coastal Foods"),
)
CARRIERS = (
    PartySpec(_pgln(11), "carrier", "FastVan"),
    PartySpec(_pgln(12), "carrier", "ColdLine"),
    PartySpec(_pgln(13), "carrier", "City Courier"),
)
WAREHOUSES = (
    PartySpec(_pgln(21), "warehouse", "North DC"),
    PartySpec(_pgln(22), "warehouse", "South DC"),
)
REGISTRY = SUPPLIERS + CARRIERS + WAREHOUSES
"""The fixed parties every run registers (distinct first-leg and last-mile carriers)."""

# Hours each leg lasts in a standard chain.
_LEG_HOURS = {"supplier": (2, 6), "first_leg": (2, 8), "warehouse": (4, 20), "last_mile": (1, 4)}
# Where a failed reefer or cold room climbs to, per category (°C).
_PEAK = {
    "frozen": (-10.0, -3.0),
    "chilled": (9.0, 16.0),
    "chilled_produce": (12.0, 20.0),
    "ambient_produce": (27.0, 34.0),
}
# An excursion is sized to at least this many times the profile's abuse threshold.
_CLEAR_ABUSE = 2.0


def unregistered_party(rng: random.Random, role: str) -> PartySpec:
    """A party id no run ever registers."""
    return PartySpec(_pgln(90 + rng.randrange(10)), role, f"Unregistered {role}")


@dataclass
class Built:
    """A generator's result: the chain (None: nothing was ever recorded), photos, truth."""

    chain: Chain | None
    category: str
    delivered_at: datetime
    photos: list[PhotoSpec]
    truth: Truth
    variant: str
    unregistered: frozenset[str] = frozenset()
    # Set by a robustness transform: the documents in posting order (default: one document).
    documents: list[dict[str, Any]] | None = None
    note: str = ""
    base_kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Gen:
    """One scenario's seeded choices; every random decision goes through ``rng``."""

    def __init__(self, *, rng: random.Random, now: datetime, lot: str) -> None:
        self.rng = rng
        self.now = now
        self.lot = lot

    def category(self, choices: Sequence[str] = CATEGORIES) -> str:
        """A product category."""
        return self.rng.choice(list(choices))

    def delivered(self, category: str, *, late: bool = False) -> datetime:
        """Delivery 30 min to 6 h ago, or (late) 12 to 72 h beyond the post-delivery window."""
        if late:
            window = DEFAULT_PROFILES[category].post_delivery_window_hours
            hours = window + self.rng.uniform(12, 72)
        else:
            hours = self.rng.uniform(0.5, 6)
        return (self.now - timedelta(hours=hours)).replace(second=0, microsecond=0)

    def chain(
        self,
        category: str,
        delivered_at: datetime,
        *,
        direct: bool = False,
        min_hours: Mapping[str, float] | None = None,
    ) -> Chain:
        """supplier → carrier → warehouse → carrier → customer (``direct``: the supplier
        delivers to the warehouse itself), clean readings, no inspections yet."""
        rng = self.rng
        first, last = rng.sample(CARRIERS, 2)
        parties = [
            ("supplier", rng.choice(SUPPLIERS)),
            ("first_leg", first),
            ("warehouse", rng.choice(WAREHOUSES)),
            ("last_mile", last),
        ]
        if direct:
            parties = [p for p in parties if p[0] != "first_leg"]
        legs = []
        for key, party in parties:
            lo, hi = _LEG_HOURS[key]
            hours = max(rng.uniform(lo, hi), (min_hours or {}).get(key, 0.0))
            legs.append((key, party, timedelta(minutes=round(hours * 60))))
        return Chain.build(
            rng, lot=self.lot, category=category, parties=legs, delivered_at=delivered_at
        )

    def photo(self, subject: str) -> PhotoSpec:
        """A photo of the subject with the findings a model would report for it."""
        rng = self.rng
        conf = round(rng.uniform(0.75, 0.97), 2)
        findings: tuple[tuple[str, float], ...]
        if subject == "rotten":
            findings = rng.choice(
                [
                    (("spoilage", conf),),
                    (("mold", conf),),
                    (("mold", conf), ("spoilage", round(conf - 0.1, 2))),
                ]
            )
        elif subject == "damaged_package":
            findings = (("package_damage", conf),)
        elif subject == "swollen_pack":
            findings = (("swelling", conf),)
        else:
            findings = ()
        return PhotoSpec(subject, findings, rng.randrange(2**31))

    # ------------------------------------------------------------------ cold chain

    def excursion_plan(
        self,
        category: str,
        key: str,
        *,
        severity: tuple[float, float] = (0.0, 1.0),
        hours: tuple[float, float] = (1.0, 6.0),
        min_peak: float | None = None,
    ) -> tuple[float, float]:
        """(peak °C, hours) of a failure in leg ``key``: long enough to be clearly abuse.

        The excursion's excess over the leg's band times its duration is at least twice
        the profile's abuse threshold, so no sensible metric can call it in band.
        """
        rng = self.rng
        lo, hi = _PEAK[category]
        peak = round(lo + rng.uniform(*severity) * (hi - lo), 1)
        if min_peak is not None:
            peak = max(peak, min_peak)
        duration = rng.uniform(*hours)
        excess = self.excess(category, key, peak)
        needed = _CLEAR_ABUSE * DEFAULT_PROFILES[category].abuse_degree_minutes / excess / 60
        return peak, round(max(duration, needed + 0.25), 2)

    @staticmethod
    def excess(category: str, key: str, peak: float) -> float:
        """How far ``peak`` is above the band of leg ``key`` (carriers get the tolerance)."""
        _, hi = DEFAULT_PROFILES[category].band(in_transport=key in ("first_leg", "last_mile"))
        return peak - (hi if hi is not None else math.inf)

    def apply_excursion(self, chain: Chain, key: str, peak: float, hours: float) -> float:
        """Put the failure into leg ``key`` (somewhere inside it); returns its °C·min."""
        leg = chain.leg(key)
        duration = timedelta(minutes=round(hours * 60))
        room = (leg.end - leg.start - duration - timedelta(minutes=60)).total_seconds() // 60
        start = leg.start + timedelta(minutes=30 + self.rng.randint(0, max(0, int(room))))
        leg.excursion(start, duration, peak, self.rng)
        return degree_minutes(leg.temps, category=chain.category, in_transport=leg.in_transport)

    def moment_in(self, chain: Chain, key: str, margin_minutes: int = 20) -> datetime:
        """A random minute well inside leg ``key``."""
        leg = chain.leg(key)
        span = int((leg.end - leg.start).total_seconds() // 60) - 2 * margin_minutes
        return leg.start + timedelta(minutes=margin_minutes + self.rng.randint(0, max(0, span)))
