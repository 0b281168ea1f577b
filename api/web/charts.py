"""Temperature charts as server-side SVG geometry: readings, the category's band, excursions.

One chart per custody segment, so each custodian's stretch reads on its own scale, the band
shaded (widened by the transport tolerance in a carrier's hands, as the rules widen it) and
every out-of-band stretch marked. A logger's aggregate report (min/max/mean over a period)
is drawn as a bar from its minimum to its maximum across its period, with its mean: no
line joins it to the readings, because it says how far the temperature went, never when
or for how long (GUIDE §4 rule 5). Pure: the template draws what this computes, the browser
needs no script to see it, and the numbers are testable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from claims.coldchain import Aggregate, Reading

__all__ = ["AggregateBar", "Excursion", "TemperatureChart", "temperature_chart"]

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 10, 30


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
class AggregateBar:
    """An aggregate report drawn as a min-max bar over its period, in viewBox units.

    ``y`` and ``height`` span the reported extremes (the mean alone: a line); ``mean_y`` is
    None without a mean. ``outside``: its maximum or minimum lies beyond the band.
    """

    x: float
    width: float
    y: float
    height: float
    mean_y: float | None
    start: datetime
    end: datetime
    t_min: float | None
    t_max: float | None
    t_mean: float | None
    outside: bool

    @property
    def label(self) -> str:
        """Its numbers as people read them."""
        numbers = ", ".join(
            f"{name} {v:g} °C"
            for name, v in (("min", self.t_min), ("max", self.t_max), ("mean", self.t_mean))
            if v is not None
        )
        return f"Logger summary: {numbers}" + (
            " (outside the band for an unknown time)" if self.outside else ""
        )


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
    aggregates: tuple[AggregateBar, ...] = ()  # loggers' min/max/mean reports, as bars


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
    aggregates: Sequence[Aggregate] = (),
    size: tuple[int, int] = (WIDTH, HEIGHT),
    tick_format: str = "%d %b %H:%M",
) -> TemperatureChart | None:
    """The chart of one segment's readings and aggregate reports against its band; None
    without either. ``size``: the viewBox (a phone's page draws it narrower, so its text
    keeps its size); ``tick_format``: the time axis labels (strftime)."""
    if not readings and not any(
        (a.t_min, a.t_max, a.t_mean) != (None, None, None) for a in aggregates
    ):
        return None
    rs = sorted(readings, key=lambda r: r.time)
    ags = sorted(
        (a for a in aggregates if (a.t_min, a.t_max, a.t_mean) != (None, None, None)),
        key=lambda a: a.start,
    )
    t_min, t_max = band
    moments = [r.time for r in rs] + [t for a in ags for t in (a.start, a.end)]
    t0 = min(start, *moments)
    t1 = max(end or max(moments), *moments)
    span_s = max((t1 - t0).total_seconds(), 60.0)
    values = [r.celsius for r in rs]
    summarised = [v for a in ags for v in (a.t_min, a.t_max, a.t_mean) if v is not None]
    values = values + summarised
    if not values:
        values = [v for v in (t_min, t_max) if v is not None] or [0.0]
    limits = [v for v in (t_min, t_max) if v is not None]
    lo, hi = min(values + limits), max(values + limits)
    pad = max((hi - lo) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad

    width, height = size
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + (at - t0).total_seconds() / span_s * plot_w

    def y(c: float) -> float:
        return TOP + (hi - c) / (hi - lo) * plot_h

    band_box = None
    if limits:
        top = y(min(hi, t_max)) if t_max is not None else float(TOP)
        bottom = y(max(lo, t_min)) if t_min is not None else float(TOP + plot_h)
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
        (round(x(at), 1), at.strftime(tick_format))
        for at in (t0, t0 + (t1 - t0) / 2, t1)
        if (t1 - t0).total_seconds() > 0 or at is t0
    )
    bars = tuple(_bar(a, x, y, t_min, t_max) for a in ags)
    minutes_out = sum(e.minutes for e in excursions)
    point_values = [r.celsius for r in rs]
    summary = (
        (
            f"{len(rs)} readings from {min(point_values):g} to {max(point_values):g} °C; "
            f"band {_fmt_band(*band)}; "
            + (
                f"{len(excursions)} stretch(es) out of band, {minutes_out:.0f} minutes in all."
                if excursions
                else "all within the band."
            )
        )
        if rs
        else f"No point readings; band {_fmt_band(*band)}."
    )
    for b in bars:
        summary += f" {b.label}, {b.start:%d %b %H:%M} to {b.end:%d %b %H:%M}" + (
            "." if b.outside else ", within the band."
        )
    return TemperatureChart(
        width=width,
        height=height,
        plot=(LEFT, TOP, plot_w, plot_h),
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
        aggregates=bars,
    )


def _bar(
    a: Aggregate,
    x: Callable[[datetime], float],
    y: Callable[[float], float],
    t_min: float | None,
    t_max: float | None,
) -> AggregateBar:
    """One aggregate report's bar: its extremes over its period (at least visible)."""
    given = [v for v in (a.t_min, a.t_max, a.t_mean) if v is not None]
    top, bottom = y(max(given)), y(min(given))
    x0, x1 = x(a.start), x(a.end)
    outside = (t_max is not None and a.t_max is not None and a.t_max > t_max) or (
        t_min is not None and a.t_min is not None and a.t_min < t_min
    )
    return AggregateBar(
        round(x0, 1),
        round(max(x1 - x0, 3.0), 1),
        round(top, 1),
        round(max(bottom - top, 2.0), 1),
        None if a.t_mean is None else round(y(a.t_mean), 1),
        a.start,
        a.end,
        a.t_min,
        a.t_max,
        a.t_mean,
        outside,
    )
