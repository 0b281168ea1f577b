"""Temperature charts as server-side SVG geometry: readings, the category's band, excursions.

One chart per custody segment, so each custodian's stretch reads on its own scale, the band
shaded (widened by the transport tolerance in a carrier's hands, as the rules widen it) and
every out-of-band stretch marked. Pure: the template draws what this computes, the browser
needs no script to see it, and the numbers are testable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from claims.coldchain import Reading

__all__ = ["Excursion", "TemperatureChart", "temperature_chart"]

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 10, 30
_PLOT_W, _PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Excursion:
    """An out-of-band stretch: from the first reading outside to the next one back inside."""

    x: float
    width: float
    start: datetime
    end: datetime
    peak: float

    @property
    def minutes(self) -> float:
        """How long the stretch lasted, by its readings."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class TemperatureChart:
    """Everything the SVG template draws, in viewBox units (``WIDTH`` by ``HEIGHT``)."""

    width: int
    height: int
    plot: tuple[float, float, float, float]  # x, y, width, height of the plot area
    points: str  # the readings as an SVG polyline
    band: tuple[float, float] | None  # y and height of the shaded band, clipped to the plot
    band_edges: tuple[float, ...]  # y of each limit of the band, drawn as a line
    band_label: str
    excursions: tuple[Excursion, ...]
    outside: tuple[tuple[float, float], ...]  # readings outside the band, as points
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    summary: str  # one sentence for screen readers (the SVG's <desc>)


def _fmt_band(t_min: float | None, t_max: float | None) -> str:
    if t_min is None and t_max is None:
        return "no band"
    if t_min is None:
        return f"at most {t_max:g} °C"
    if t_max is None:
        return f"at least {t_min:g} °C"
    return f"{t_min:g} to {t_max:g} °C"


def _outside(c: float, t_min: float | None, t_max: float | None) -> bool:
    return (t_min is not None and c < t_min) or (t_max is not None and c > t_max)


def _step(span: float) -> float:
    """A tick step of 1, 2 or 5 times a power of ten, giving at most six ticks over ``span``."""
    raw = span / 5
    base = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(s * base for s in (1, 2, 5, 10) if s * base >= raw)


def temperature_chart(
    readings: Sequence[Reading],
    *,
    start: datetime,
    end: datetime | None,
    band: tuple[float | None, float | None],
) -> TemperatureChart | None:
    """The chart of one segment's readings against its band; None without readings."""
    if not readings:
        return None
    rs = sorted(readings, key=lambda r: r.time)
    t_min, t_max = band
    t0 = min(start, rs[0].time)
    t1 = max(end or rs[-1].time, rs[-1].time)
    span_s = max((t1 - t0).total_seconds(), 60.0)
    values = [r.celsius for r in rs]
    limits = [v for v in (t_min, t_max) if v is not None]
    lo, hi = min(values + limits), max(values + limits)
    pad = max((hi - lo) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad

    def x(at: datetime) -> float:
        return LEFT + (at - t0).total_seconds() / span_s * _PLOT_W

    def y(c: float) -> float:
        return TOP + (hi - c) / (hi - lo) * _PLOT_H

    band_box = None
    if limits:
        top = y(min(hi, t_max)) if t_max is not None else float(TOP)
        bottom = y(max(lo, t_min)) if t_min is not None else float(TOP + _PLOT_H)
        band_box = (round(top, 1), round(bottom - top, 1))

    excursions: list[Excursion] = []
    i = 0
    while i < len(rs):
        if not _outside(rs[i].celsius, t_min, t_max):
            i += 1
            continue
        j = i
        while j + 1 < len(rs) and _outside(rs[j + 1].celsius, t_min, t_max):
            j += 1
        back = rs[j + 1].time if j + 1 < len(rs) else rs[j].time
        x0, x1 = x(rs[i].time), x(back)
        stretch = [r.celsius for r in rs[i : j + 1]]
        warm = t_max is not None and rs[i].celsius > t_max
        peak = max(stretch) if warm else min(stretch)
        excursions.append(
            Excursion(round(x0, 1), round(max(x1 - x0, 2.0), 1), rs[i].time, back, peak)
        )
        i = j + 1

    step = _step(hi - lo)
    first = math.ceil(lo / step) * step
    y_ticks = tuple(
        (round(y(v), 1), f"{v:g}")
        for k in range(int((hi - first) / step) + 1)
        if lo <= (v := round(first + k * step, 6)) <= hi
    )
    x_ticks = tuple(
        (round(x(at), 1), at.strftime("%d %b %H:%M"))
        for at in (t0, t0 + (t1 - t0) / 2, t1)
        if (t1 - t0).total_seconds() > 0 or at is t0
    )
    minutes_out = sum(e.minutes for e in excursions)
    summary = (
        f"{len(rs)} readings from {min(values):g} to {max(values):g} °C; band {_fmt_band(*band)}; "
        + (
            f"{len(excursions)} stretch(es) out of band, {minutes_out:.0f} minutes in all."
            if excursions
            else "all within the band."
        )
    )
    return TemperatureChart(
        width=WIDTH,
        height=HEIGHT,
        plot=(LEFT, TOP, _PLOT_W, _PLOT_H),
        points=" ".join(f"{x(r.time):.1f},{y(r.celsius):.1f}" for r in rs),
        band=band_box,
        band_edges=tuple(round(y(v), 1) for v in limits),
        band_label=_fmt_band(*band),
        excursions=tuple(excursions),
        outside=tuple(
            (round(x(r.time), 1), round(y(r.celsius), 1))
            for r in rs
            if _outside(r.celsius, t_min, t_max)
        ),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        summary=summary,
    )
