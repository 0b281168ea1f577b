"""How much of the goods' shelf life a stretch of the cold chain used up, beyond the band.

A Q10 model: at temperature T the goods age at ``q10 ** ((T - T_top) / 10)`` times the rate
they age at the top of their band, where a whole shelf life lasts ``shelf_life_hours``.
Integrating that rate over a custodian's readings (trapezoid rule, like the degree-minutes)
gives the share of shelf life their segment consumed. What the same time in band would
have consumed, at worst, is the duration at the band's top; the excess is the pointwise
difference where the goods were warmer than the band, so a cold hour never pays for a hot
one.

Below the band (chill or freezing injury) the model mirrors the heat side: each degree
under the band costs what a degree over it would. That is a convention for ranking
custodians, not food science; the reasons show the degree-minutes beside it.

Latent defects (spoilage, mold, swelling) are attributed by this excess: the custodian
whose segment used up the most shelf life beyond the band is the one whose handling
made the goods spoil early.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from claims.coldchain import Reading
from claims.profiles import TemperatureProfile

__all__ = ["MAX_DEGREES_OUTSIDE", "Consumption", "consumption", "excess_rate", "relative_rate"]

MAX_DEGREES_OUTSIDE = 100.0
"""Degrees beyond the band past which the rate grows no more. Goods 100 °C outside their
band are ruined within minutes either way, and the exponential would overflow a float on
a faulty logger's reading (1e308 °C): the ranking of custodians keeps its meaning, and the
verdict is still given."""


@dataclass(frozen=True)
class Consumption:
    """Shares of the whole shelf life (1.0 = all of it) that a stretch of time used up."""

    hours: float  # covered by readings
    consumed: float  # at the temperatures recorded
    in_band: float  # the same hours at the top of the band
    excess: float  # used up beyond the band: warmer (or colder) than allowed

    def as_facts(self) -> dict[str, float]:
        """Percentages, for reasons people read."""
        return {
            "hours": round(self.hours, 2),
            "shelf_life_used_pct": round(100 * self.consumed, 3),
            "in_band_pct": round(100 * self.in_band, 3),
            "excess_pct": round(100 * self.excess, 3),
        }


def relative_rate(celsius: float, profile: TemperatureProfile, *, in_transport: bool) -> float:
    """How many times faster than at the band's top the goods age at ``celsius`` (≥ 0).

    Inside the band the rate is at most 1. Below the band the mirror convention applies.
    """
    lo, hi = profile.band(in_transport=in_transport)
    top = hi if hi is not None else (lo if lo is not None else celsius)
    degrees = lo - celsius if lo is not None and celsius < lo else celsius - top
    return float(profile.q10 ** (min(degrees, MAX_DEGREES_OUTSIDE) / 10))


def excess_rate(celsius: float, profile: TemperatureProfile, *, in_transport: bool) -> float:
    """How many band-top hours of shelf life an hour at ``celsius`` uses beyond the band
    (0 inside it)."""
    lo, hi = profile.band(in_transport=in_transport)
    outside = (hi is not None and celsius > hi) or (lo is not None and celsius < lo)
    return relative_rate(celsius, profile, in_transport=in_transport) - 1.0 if outside else 0.0


def consumption(
    readings: Sequence[Reading], profile: TemperatureProfile, *, in_transport: bool = False
) -> Consumption:
    """Shelf life the readings' stretch used up, in band and beyond it (readings any order)."""
    rs = sorted(readings, key=lambda r: r.time)
    life = profile.shelf_life_hours
    hours = consumed = excess = 0.0
    for a, b in itertools.pairwise(rs):
        dt = (b.time - a.time).total_seconds() / 3600
        ra = relative_rate(a.celsius, profile, in_transport=in_transport)
        rb = relative_rate(b.celsius, profile, in_transport=in_transport)
        ea = excess_rate(a.celsius, profile, in_transport=in_transport)
        eb = excess_rate(b.celsius, profile, in_transport=in_transport)
        hours += dt
        consumed += dt * (ra + rb) / 2
        excess += dt * (ea + eb) / 2
    return Consumption(hours, consumed / life, hours / life, excess / life)
