"""A logger's aggregate report on the claim page: a min-max bar for its period, not "No
temperature readings" (issue 21 item 2, GUIDE §4 rule 5). Rendered without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.web.charts import temperature_chart
from api.web.routes import templates
from api.web.views import segment_view
from claims.coldchain import Aggregate, Reading
from claims.segments import LedgerRef, Party, Segment

T0 = datetime(2024, 5, 2, 4, 15, tzinfo=UTC)
T1 = datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
README_LEG = Aggregate(T0, T1, 2.1, 9.8, 5.2)  # the README's example: the carrier's leg
CHILLED = (0.0, 5.0)


def _carrier(*aggregates: Aggregate) -> Segment:
    return Segment(
        Party("urn:epc:id:pgln:4023333.00000", "carrier", "FastVan"),
        T0,
        T1,
        (),
        (LedgerRef(1, "a" * 64),),
        aggregates=aggregates,
        aggregate_refs=tuple(LedgerRef(2, "b" * 64) for _ in aggregates),
    )


def test_an_aggregate_alone_is_charted_as_a_bar_over_its_period() -> None:
    chart = temperature_chart([], start=T0, end=T1, band=CHILLED, aggregates=[README_LEG])
    assert chart is not None and chart.points == ""
    (bar,) = chart.aggregates
    assert bar.outside and (bar.t_min, bar.t_max, bar.t_mean) == (2.1, 9.8, 5.2)
    # Across the whole plot (the period is the segment), from 9.8 down to 2.1 °C.
    px, py, pw, ph = chart.plot
    assert bar.x == px and bar.width == pw
    assert bar.mean_y is not None and bar.y < bar.mean_y < bar.y + bar.height
    # The scale reaches both extremes, and the screen-reader summary names every number.
    assert py <= bar.y and bar.y + bar.height <= py + ph
    assert "max 9.8 °C" in chart.summary and "unknown time" in chart.summary


def test_an_aggregate_in_band_is_not_marked_outside() -> None:
    leg = Aggregate(T0, T1, 2.0, 4.5, 3.1)
    readings = [Reading(T0 + timedelta(minutes=30), 3.0)]
    chart = temperature_chart(readings, start=T0, end=T1, band=CHILLED, aggregates=[leg])
    assert chart is not None and not chart.aggregates[0].outside
    assert "within the band." in chart.summary and chart.points


def test_the_claim_pages_stretch_shows_the_aggregate_instead_of_no_readings() -> None:
    stretch = templates.env.get_template("_macros.html").module.stretch  # type: ignore[attr-defined]
    html = str(stretch(segment_view(_carrier(README_LEG), CHILLED), "chart-2"))
    assert "No temperature readings" not in html
    assert '<g class="aggregate out">' in html
    assert "Logger summary: min 2.1 °C, max 9.8 °C, mean 5.2 °C" in html
    assert "min 2.1 max 9.8 mean 5.2" in html and "outside, for an unknown time" in html
    assert "0 readings, 1 logger summary" in html
    # A stretch with neither readings nor reports still says so.
    empty = str(stretch(segment_view(_carrier(), CHILLED), "chart-3"))
    assert "No temperature readings in this stretch." in empty
