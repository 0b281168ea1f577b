"""Cold-chain abuse per custody segment: time and degree-minutes outside the band, and MKT.

Readings are treated as samples of a continuous temperature: the excess over the band is
integrated with the trapezoid rule between consecutive readings, so a single spike between
two in-band readings counts for the time around it and no more.

Mean kinetic temperature uses ΔH/R = 10 000 K. That activation energy is a pharmaceutical
(ICH/USP) convention, not a food-science constant; reports say so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from claims.profiles import TemperatureProfile

__all__ = [
    "MKT_DELTA_H_OVER_R",
    "Reading",
    "SegmentAbuse",
    "analyse_segment",
    "mean_kinetic_temperature",
]

MKT_DELTA_H_OVER_R = 10_000.0  # kelvin; pharmaceutical convention
_KELVIN = 273.15


@dataclass(frozen=True)
class Reading:
    """One temperature sample."""

    time: datetime
    celsius: float


@dataclass(frozen=True)
class SegmentAbuse:
    """What one custodian's stretch of the cold chain did to the goods."""

    readings: int
    minutes_covered: float
    minutes_outside: float
    degree_minutes: float
    t_min: float | None
    t_max: float | None
    mkt_celsius: float | None
    abused: bool

    @property
    def has_data(self) -> bool:
        """At least two readings: one reading says nothing about a stretch of time."""
        return self.readings >= 2


def _excess(t: float, lo: float | None, hi: float | None) -> float:
    if hi is not None and t > hi:
        return t - hi
    if lo is not None and t < lo:
        return lo - t
    return 0.0


def mean_kinetic_temperature(readings: Sequence[Reading]) -> float | None:
    """Time-weighted MKT in °C (each reading weighted by the interval it represents)."""
    if not readings:
        return None
    if len(readings) == 1:
        return readings[0].celsius
    weights = []
    for i in range(len(readings)):
        left = (readings[i].time - readings[i - 1].time).total_seconds() / 2 if i else 0.0
        right = (
            (readings[i + 1].time - readings[i].time).total_seconds() / 2
            if i + 1 < len(readings)
            else 0.0
        )
        weights.append(left + right)
    total = sum(weights)
    if total <= 0:
        weights, total = [1.0] * len(readings), float(len(readings))
    mean = (
        sum(
            w * math.exp(-MKT_DELTA_H_OVER_R / (r.celsius + _KELVIN))
            for w, r in zip(weights, readings, strict=True)
        )
        / total
    )
    return MKT_DELTA_H_OVER_R / -math.log(mean) - _KELVIN


def analyse_segment(
    readings: Sequence[Reading], profile: TemperatureProfile, *, in_transport: bool = False
) -> SegmentAbuse:
    """Abuse metrics for readings (any order) against the profile's band."""
    rs = sorted(readings, key=lambda r: r.time)
    lo, hi = profile.band(in_transport=in_transport)
    covered = outside = degree_minutes = 0.0
    for a, b in itertools.pairwise(rs):
        minutes = (b.time - a.time).total_seconds() / 60
        ea, eb = _excess(a.celsius, lo, hi), _excess(b.celsius, lo, hi)
        covered += minutes
        degree_minutes += minutes * (ea + eb) / 2
        outside += minutes * ((ea > 0) + (eb > 0)) / 2
    if len(rs) == 1 and _excess(rs[0].celsius, lo, hi) > 0:
        outside = 0.0  # a lone reading is reported through t_min/t_max, not as duration
    return SegmentAbuse(
        readings=len(rs),
        minutes_covered=round(covered, 3),
        minutes_outside=round(outside, 3),
        degree_minutes=round(degree_minutes, 3),
        t_min=min((r.celsius for r in rs), default=None),
        t_max=max((r.celsius for r in rs), default=None),
        mkt_celsius=None if not rs else round(mean_kinetic_temperature(rs) or 0.0, 3),
        abused=degree_minutes > profile.abuse_degree_minutes,
    )
