"""Sensor readings of EPCIS events: temperatures in °C and accelerations in m/s², as captured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from supplychain.epcis.errors import EPCISValidationError
from supplychain.epcis.vocabulary import GS1_VOC

__all__ = [
    "ACCELERATION_UOMS",
    "TEMPERATURE_UOMS",
    "AccelerationReading",
    "TemperatureReading",
    "to_celsius",
]

TEMPERATURE_UOMS = frozenset({"CEL", "FAR", "KEL"})
"""UN/CEFACT Rec. 20 codes accepted for temperature reports."""

ACCELERATION_UOMS = {"MSK": 1.0, "K40": 9.80665}
"""UN/CEFACT Rec. 20 codes accepted for acceleration reports, with their size in m/s²
(MSK metre per second squared, K40 standard acceleration of free fall, g)."""


def to_celsius(value: float, uom: str) -> float:
    """Convert a temperature in a UN/CEFACT unit (CEL, FAR, KEL) to degrees Celsius."""
    if uom == "CEL":
        return float(value)
    if uom == "FAR":
        return (float(value) - 32.0) * 5.0 / 9.0
    if uom == "KEL":
        return float(value) - 273.15
    raise EPCISValidationError(
        index=None,
        field="uom",
        reason=f"unknown temperature uom {uom!r} (expected one of CEL, FAR, KEL)",
    )


_TEMPERATURE_TYPES = frozenset({GS1_VOC + "Temperature", GS1_VOC + "MT-Temperature"})
_ACCELERATION_TYPES = frozenset({GS1_VOC + "Acceleration", GS1_VOC + "MT-Acceleration"})
_REPORT_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")
_ABSOLUTE_ZERO_C = -273.15
# No logger on food reads hotter: a value above it is a faulty sensor or a unit mistake, and
# the verdicts' arithmetic on it (degree-minutes, the Q10 power) would leave the floats.
_HOTTEST_C = 1000.0


def implausible_temperature(celsius: float) -> str | None:
    """Why a temperature cannot be a food logger's reading ("is below absolute zero", "is
    above 1000 °C: ..."), or None. One rule for EPCIS reports and logger CSVs."""
    if celsius < _ABSOLUTE_ZERO_C:
        return "is below absolute zero"
    if celsius > _HOTTEST_C:
        return f"is above {_HOTTEST_C:g} °C: no logger on food reads that"
    return None


@dataclass(frozen=True, slots=True)
class TemperatureReading:
    """One temperature from a sensorReport, in °C, with the value and unit as captured.

    `celsius` comes from `value`, else `meanValue`, else `maxValue`, else `minValue`;
    `basis` names which. `time` is the report time, else the sensor metadata time
    (time, endTime, startTime), else the event time, always in UTC.

    A report without `value` is an aggregate (`aggregate`): min/max/mean over the period
    `start`..`end` (the sensor metadata's startTime/endTime, each else `time`). Its
    `celsius` is a summary, never a temperature at `time` (GUIDE §4 rule 5). Point
    readings leave `start` and `end` None.
    """

    time: datetime
    celsius: float
    original_value: float
    original_uom: str
    device_id: str | None
    basis: str = "value"
    min_celsius: float | None = None
    max_celsius: float | None = None
    mean_celsius: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    # The numbers as captured, in `original_uom`, by report key (minValue, maxValue, ...).
    original_values: tuple[tuple[str, float], ...] = ()

    @property
    def aggregate(self) -> bool:
        """A summary over a period (min/max/mean), not a point reading."""
        return self.basis != "value"


@dataclass(frozen=True, slots=True)
class AccelerationReading:
    """One acceleration (shock) from a sensorReport, in m/s², with the value as captured.

    `mps2` is the report's `maxValue` when given (a shock logger reports the peak), else
    `value`, else `meanValue`. Times as for temperatures.
    """

    time: datetime
    mps2: float
    original_value: float
    original_uom: str
    device_id: str | None
