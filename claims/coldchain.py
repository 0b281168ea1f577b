"""Cold-chain abuse per custody segment: time and degree-minutes outside the band, and MKT.

Readings are treated as samples of a continuous temperature: the excess over the band is
integrated with the trapezoid rule between consecutive readings, so a single spike between
two in-band readings counts for the time around it and no more.

Aggregate reports (a logger's min/max/mean over a period, ``Aggregate``) are no samples:
they are never integrated. ``check_aggregate`` says whether one shows an excursion (its
maximum above the band or its minimum below it, for an unknown time) and whether it
bounds both sides of the band over its period, so its period was watched (GUIDE §4 rule 5).

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
from supplychain.custody import Reading

__all__ = [
    "MKT_DELTA_H_OVER_R",
    "Aggregate",
    "AggregateCheck",
    "Reading",
    "SegmentAbuse",
    "analyse_segment",
    "check_aggregate",
    "mean_kinetic_temperature",
]

MKT_DELTA_H_OVER_R = 10_000.0  # kelvin; pharmaceutical convention
_KELVIN = 273.15


@dataclass(frozen=True)
class Aggregate:
    """A logger's summary of ``start``..``end``: min, max and mean °C (any may be missing)."""

    start: datetime
    end: datetime
    t_min: float | None
    t_max: float | None
    t_mean: float | None

    @property
    def minutes(self) -> float:
        """How long the period lasted."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class AggregateCheck:
    """What one aggregate says against a band.

    ``peak`` is the maximum above the band's top (``side`` ``above``) or the minimum below
    its floor (``below``), None when the report shows no excursion. ``covers``: the report
    bounds every side the band has (a maximum for a top, a minimum for a floor), so nothing
    outside the ones it shows can hide in its period. ``degree_minutes_at_least``: a mean
    outside the band proves at least (mean - limit) * duration °C·min; 0 otherwise.
    """

    aggregate: Aggregate
    peak: float | None
    side: str | None
    limit: float | None
    covers: bool
    degree_minutes_at_least: float

    @property
    def excursion(self) -> bool:
        """The maximum (or minimum) lies outside the band: an excursion of unknown length."""
        return self.peak is not None


def check_aggregate(
    aggregate: Aggregate, profile: TemperatureProfile, *, in_transport: bool = False
) -> AggregateCheck:
    """An aggregate report against the profile's band (see ``AggregateCheck``)."""
    lo, hi = profile.band(in_transport=in_transport)
    a = aggregate
    peak = side = limit = None
    if hi is not None and a.t_max is not None and a.t_max > hi:
        peak, side, limit = a.t_max, "above", hi
    elif lo is not None and a.t_min is not None and a.t_min < lo:
        peak, side, limit = a.t_min, "below", lo
    covers = (hi is None or a.t_max is not None) and (lo is None or a.t_min is not None)
    # int max(0, T - hi) dt >= int (T - hi) dt = (mean - hi) * duration: a floor, not a measure.
    at_least = 0.0
    if a.t_mean is not None:
        at_least = max(0.0, _excess(a.t_mean, lo, hi)) * a.minutes
    return AggregateCheck(a, peak, side, limit, covers, round(at_least, 3))


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
