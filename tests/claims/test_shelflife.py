"""The Q10 shelf-life model: how much shelf life a stretch used up, in band and beyond."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from claims.coldchain import Reading
from claims.profiles import DEFAULT_PROFILES, TemperatureProfile
from claims.shelflife import MAX_DEGREES_OUTSIDE, consumption, relative_rate

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
CHILLED = DEFAULT_PROFILES["chilled"]  # 0-5 °C, Q10 3, 7 days at 5 °C
FROZEN = DEFAULT_PROFILES["frozen"]  # <= -18 °C, +3 °C on the road


def flat(celsius: float, hours: float) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=15 * i), celsius) for i in range(int(hours * 4) + 1)]


def test_in_band_ages_at_most_at_the_band_tops_rate_and_has_no_excess() -> None:
    at_top = consumption(flat(5.0, 24), CHILLED)
    assert at_top.hours == 24 and at_top.consumed == pytest.approx(24 / 168)
    assert at_top.in_band == pytest.approx(24 / 168) and at_top.excess == 0
    cooler = consumption(flat(1.0, 24), CHILLED)
    assert cooler.consumed < at_top.consumed and cooler.excess == 0


def test_ten_degrees_over_the_band_ages_q10_times_as_fast() -> None:
    assert relative_rate(15.0, CHILLED, in_transport=False) == pytest.approx(3.0)
    hot = consumption(flat(15.0, 10), CHILLED)
    assert hot.consumed == pytest.approx(3 * 10 / 168)
    assert hot.excess == pytest.approx(2 * 10 / 168)  # beyond what 10 h at 5 °C would use


def test_a_cold_hour_does_not_pay_for_a_hot_one() -> None:
    mixed = [Reading(T0 + timedelta(hours=i), c) for i, c in enumerate([15, 15, 1, 1])]
    # The cold hour at the end adds in-band ageing but takes no excess away.
    assert consumption(mixed, CHILLED).excess == pytest.approx(
        consumption(mixed[:3], CHILLED).excess
    )
    assert consumption(mixed, CHILLED).consumed > consumption(mixed[:3], CHILLED).consumed


def test_below_the_band_mirrors_the_heat_side() -> None:
    frozen_chilled = consumption(flat(-10.0, 4), CHILLED)
    assert frozen_chilled.excess == pytest.approx(consumption(flat(15.0, 4), CHILLED).excess)


def test_the_transport_tolerance_widens_the_band_for_carriers() -> None:
    assert consumption(flat(-16.0, 4), FROZEN, in_transport=True).excess == 0
    assert consumption(flat(-16.0, 4), FROZEN).excess > 0


def test_readings_in_any_order_and_single_readings() -> None:
    rs = flat(9.0, 2)
    assert consumption(list(reversed(rs)), CHILLED) == consumption(rs, CHILLED)
    assert consumption(rs[:1], CHILLED).hours == 0


def test_kinetics_are_checked() -> None:
    from claims.errors import InvalidPolicyError

    with pytest.raises(InvalidPolicyError, match="q10"):
        TemperatureProfile("x", 0, 5, q10=1.0)
    with pytest.raises(InvalidPolicyError, match="shelf_life_hours"):
        TemperatureProfile("x", 0, 5, shelf_life_hours=0)


@pytest.mark.parametrize("celsius", [20_000.0, 1e308])
def test_a_faulty_loggers_reading_saturates_the_rate_instead_of_overflowing(
    celsius: float,
) -> None:
    # 3 ** (19995 / 10) overflowed a float (OverflowError) and failed the claim's verdict.
    ceiling = relative_rate(5.0 + MAX_DEGREES_OUTSIDE, CHILLED, in_transport=False)
    assert relative_rate(celsius, CHILLED, in_transport=False) == ceiling
    assert relative_rate(60.0, CHILLED, in_transport=False) < ceiling  # real heat still ranks
    hot = consumption([Reading(T0, 4.0), Reading(T0 + timedelta(hours=1), celsius)], CHILLED)
    assert math.isfinite(hot.excess) and hot.excess > 0
