"""Temperature charts: the band, the excursions and the scale, computed before any drawing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.web.charts import HEIGHT, LEFT, TOP, WIDTH, temperature_chart
from claims.coldchain import Reading

T0 = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)


def _readings(*celsius: float) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=15 * i), c) for i, c in enumerate(celsius)]


def test_no_readings_no_chart() -> None:
    assert temperature_chart([], start=T0, end=None, band=(0.0, 5.0)) is None


def test_an_excursion_runs_from_the_first_reading_out_to_the_next_one_back() -> None:
    chart = temperature_chart(
        _readings(3, 4, 9, 12, 8, 4, 3),
        start=T0,
        end=T0 + timedelta(minutes=90),
        band=(0.0, 5.0),
    )
    assert chart is not None
    (e,) = chart.excursions
    assert (e.start, e.end, e.peak) == (T0 + timedelta(minutes=30), T0 + timedelta(minutes=75), 12)
    assert e.minutes == 45
    assert len(chart.outside) == 3 and len(chart.points.split()) == 7
    assert "1 stretch(es) out of band, 45 minutes" in chart.summary
    # The band lies inside the plot, between its two edges.
    assert chart.band is not None
    top, height = chart.band
    assert top >= TOP and top + height <= HEIGHT and chart.band_edges == (top + height, top)
    xs = [float(p.split(",")[0]) for p in chart.points.split()]
    assert xs[0] == LEFT and xs[-1] <= WIDTH and xs == sorted(xs)


def test_a_frozen_band_has_no_floor_and_a_warm_peak_is_the_warmest() -> None:
    chart = temperature_chart(_readings(-20, -12, -10, -19), start=T0, end=None, band=(None, -15.0))
    assert chart is not None and chart.band_label == "at most -15 °C"
    (e,) = chart.excursions
    assert e.peak == -10
    assert chart.band is not None and chart.band[0] + chart.band[1] == TOP + (HEIGHT - TOP - 30)


def test_all_in_band_says_so() -> None:
    chart = temperature_chart(_readings(2, 3, 4), start=T0, end=None, band=(0.0, 5.0))
    assert chart is not None and not chart.excursions and "all within the band" in chart.summary
