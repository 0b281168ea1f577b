from datetime import UTC, datetime, timedelta

import pytest

from claims.coldchain import Reading, analyse_segment, mean_kinetic_temperature
from claims.profiles import DEFAULT_PROFILES

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
CHILLED = DEFAULT_PROFILES["chilled"]


def _series(temps: list[float], step_min: int = 10) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=i * step_min), t) for i, t in enumerate(temps)]


def test_in_band_series_is_clean() -> None:
    a = analyse_segment(_series([2, 3, 4, 3]), CHILLED)
    assert a.degree_minutes == 0 and a.minutes_outside == 0 and not a.abused
    assert (a.t_min, a.t_max, a.minutes_covered) == (2, 4, 30)


def test_degree_minutes_integrate_the_excess() -> None:
    # 5 -> 11 -> 11 -> 5 over 30 min: excess 0, 6, 6, 0 -> 30 + 60 + 30 = 120 °C·min
    a = analyse_segment(_series([5, 11, 11, 5]), CHILLED)
    assert a.degree_minutes == pytest.approx(120)
    assert a.minutes_outside == pytest.approx(20)
    assert a.abused  # over the 60 °C·min threshold


def test_below_band_counts_too_and_order_does_not_matter() -> None:
    readings = _series([-2, -2, -2])  # 2 °C under for 20 min
    a = analyse_segment(list(reversed(readings)), CHILLED)
    assert a.degree_minutes == pytest.approx(40) and not a.abused


def test_frozen_transport_tolerance() -> None:
    frozen = DEFAULT_PROFILES["frozen"]
    rise = _series([-18, -16, -16, -18], step_min=30)
    assert analyse_segment(rise, frozen, in_transport=True).degree_minutes == 0
    assert analyse_segment(rise, frozen, in_transport=False).degree_minutes == pytest.approx(120)


def test_mkt_weights_warm_periods_more_than_the_mean() -> None:
    readings = _series([2, 2, 2, 20, 2, 2, 2])
    mkt = mean_kinetic_temperature(readings)
    mean = sum(r.celsius for r in readings) / len(readings)
    assert mkt is not None and mkt > mean
    assert mean_kinetic_temperature(_series([4, 4, 4])) == pytest.approx(4)


def test_no_data_is_not_clean_data() -> None:
    assert not analyse_segment([], CHILLED).has_data
    assert not analyse_segment(_series([30]), CHILLED).has_data
