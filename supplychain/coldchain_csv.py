"""Plain temperature-logger CSV import, turned into EPCIS 2.0 so it takes the EPCIS path.

`parse_logger_csv` reads a logger export with a header row (row 1) and returns one
`TemperatureRow` per data row, or raises `CSVImportError` naming every bad row/column.
`readings_to_epcis` groups rows per device, lot and UTC hour into ObjectEvents
(action OBSERVE, bizStep ``sensor_reporting``) whose `sensorElementList` keeps each
reading's original value and unit; `supplychain.epcis.parse_document` then converts to °C and
gives every event its CBV event hash id, exactly as for EPCIS captured elsewhere.

Why ``sensor_reporting``: CBV 2.0 added it for events whose purpose is to report sensor
data. ``inspecting`` would wrongly mark logger data as a handover inspection (the
strongest evidence of condition), and ``storing`` would claim a custody fact the logger
does not know.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from supplychain.epcis import build, to_celsius, to_digital_link
from supplychain.epcis.build import (
    ZULU_MILLIS,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    epcis_document,
)
from supplychain.epcis.sensors import implausible_temperature
from supplychain.errors import SupplyChainError

__all__ = [
    "DEVICE_URI_PREFIX",
    "EPCIS_CONTEXT",
    "SENSOR_BIZ_STEP",
    "CSVFieldError",
    "CSVImportError",
    "ColdChainCSVError",
    "InvalidGTINError",
    "TemperatureRow",
    "parse_logger_csv",
    "readings_to_epcis",
]

DEVICE_URI_PREFIX = "urn:freshproof:logger:"
"""Default prefix that turns a bare logger id into the URI EPCIS requires for deviceID."""

SENSOR_BIZ_STEP = "sensor_reporting"
"""CBV business step of the ObjectEvents built from logger rows."""

EPCIS_CONTEXT: list[Any] = [build.EPCIS_CONTEXT, {"gs1": "https://gs1.org/voc/"}]
"""JSON-LD @context written into generated EPCIS documents."""


class ColdChainCSVError(SupplyChainError):
    """Root of the errors raised by the logger CSV import."""


class CSVFieldError(ColdChainCSVError):
    """One bad cell or header: the row number (1 = header) and the column."""

    def __init__(self, *, row: int, column: str, reason: str) -> None:
        self.row = row
        self.column = column
        self.reason = reason
        super().__init__(f"row {row}, column {column!r}: {reason}")

    def __repr__(self) -> str:
        return f"CSVFieldError(row={self.row!r}, column={self.column!r}, reason={self.reason!r})"


class CSVImportError(ColdChainCSVError):
    """Every problem of one CSV file; no row of it was accepted."""

    def __init__(self, errors: list[CSVFieldError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s) in logger CSV: {shown}{more}")


class InvalidGTINError(ColdChainCSVError):
    """The GTIN given to build lot URIs is not a valid GTIN-8/12/13/14."""

    def __init__(self, gtin: str, reason: str) -> None:
        self.gtin = gtin
        self.reason = reason
        super().__init__(f"invalid GTIN {gtin!r}: {reason}")


@dataclass(frozen=True, slots=True)
class TemperatureRow:
    """One logger reading: device, lot (as written), UTC time, °C and the value as logged."""

    row: int
    device_id: str
    lot: str
    time: datetime
    celsius: float
    original_value: float
    original_unit: str


# Header keys after _header_key(); the value is (role, unit implied by the header).
_HEADER_ROLES: dict[str, tuple[str, str | None]] = {
    **{k: ("device", None) for k in ("device_id", "device", "deviceid", "logger", "logger_id")},
    **{k: ("lot", None) for k in ("lot", "lot_id", "lot_number", "batch", "epc")},
    **{k: ("time", None) for k in ("timestamp", "time", "datetime", "date_time", "time_stamp")},
    **{k: ("temperature", None) for k in ("temperature", "temp")},
    **{k: ("temperature", "C") for k in ("celsius", "c", "temperature_c", "temp_c", "degc")},
    **{k: ("temperature", "F") for k in ("fahrenheit", "f", "temperature_f", "temp_f", "degf")},
    **{k: ("temperature", "K") for k in ("kelvin", "temperature_k", "temp_k")},
    **{k: ("unit", None) for k in ("unit", "units", "uom", "temperature_unit")},
}
_REQUIRED_ROLES = ("device", "lot", "time", "temperature")
_ROLE_NAMES = {
    "device": "device_id",
    "lot": "lot",
    "time": "timestamp",
    "temperature": "temperature",
    "unit": "unit",
}
_UNITS = {
    "c": "C", "cel": "C", "celsius": "C", "degc": "C",
    "f": "F", "far": "F", "fahrenheit": "F", "degf": "F",
    "k": "K", "kel": "K", "kelvin": "K",
}  # fmt: skip
_UN_CEFACT = {"C": "CEL", "F": "FAR", "K": "KEL"}


def _header_key(name: str) -> str:
    """Normalise a header cell: case, spaces, units in brackets and the degree sign."""
    return re.sub(r"[^a-z0-9]+", "_", name.replace("°", "").lower()).strip("_")


def _unit_key(cell: str) -> str | None:
    return _UNITS.get(re.sub(r"[^a-z]", "", cell.replace("°", "").lower()))


def _delimiter(first_line: str) -> str:
    """Pick the delimiter the header uses most (comma, semicolon or tab)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _parse_number(cell: str, delimiter: str) -> float | None:
    text = cell.strip()
    # Semicolon/tab exports from European locales write decimal commas.
    if delimiter != "," and re.fullmatch(r"[+-]?\d+,\d+", text):
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_time(cell: str) -> tuple[datetime | None, str | None]:
    text = cell.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, f"{text!r} is not an ISO 8601 timestamp"
    if value.tzinfo is None or value.utcoffset() is None:
        return None, f"{text!r} is a naive timestamp; add a UTC offset such as +02:00 or Z"
    return value.astimezone(UTC), None


def _columns(
    header: Sequence[str], errors: list[CSVFieldError]
) -> dict[str, tuple[int, str | None]]:
    """Map each role to (column index, unit implied by its header)."""
    found: dict[str, tuple[int, str | None]] = {}
    for i, name in enumerate(header):
        role = _HEADER_ROLES.get(_header_key(name))
        if role is None:
            continue  # extra columns (humidity, battery, ...) are allowed and ignored
        if role[0] in found:
            other = header[found[role[0]][0]]
            errors.append(
                CSVFieldError(
                    row=1, column=name, reason=f"names the same thing as column {other!r}"
                )
            )
            continue
        found[role[0]] = (i, role[1])
    for required in _REQUIRED_ROLES:
        if required not in found:
            accepted = ", ".join(k for k, v in _HEADER_ROLES.items() if v[0] == required)
            errors.append(
                CSVFieldError(
                    row=1,
                    column=_ROLE_NAMES[required],
                    reason=f"missing column (accepted: {accepted})",
                )
            )
    return found


def parse_logger_csv(text: str) -> list[TemperatureRow]:
    """Parse a logger CSV export (header in row 1); raise `CSVImportError` with every problem."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CSVImportError([CSVFieldError(row=1, column="", reason="empty file, no header")])
    delimiter = _delimiter(lines[0])
    records = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [cell.strip() for cell in records[0]]
    errors: list[CSVFieldError] = []
    columns = _columns(header, errors)
    if errors:
        raise CSVImportError(errors)

    rows: list[TemperatureRow] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        row = _parse_row(number, record, header, columns, delimiter, errors)
        if row is not None:
            rows.append(row)
    if errors:
        raise CSVImportError(errors)
    return rows


def _parse_row(
    number: int,
    record: Sequence[str],
    header: Sequence[str],
    columns: dict[str, tuple[int, str | None]],
    delimiter: str,
    errors: list[CSVFieldError],
) -> TemperatureRow | None:
    """Parse one data row, appending its errors."""
    start = len(errors)

    def cell(role: str) -> tuple[str, str]:
        index = columns[role][0]
        value = record[index].strip() if index < len(record) else ""
        if not value:
            errors.append(CSVFieldError(row=number, column=header[index], reason="missing"))
        return value, header[index]

    if len(record) > len(header):
        errors.append(
            CSVFieldError(
                row=number,
                column="",
                reason=f"{len(record)} cells but the header has {len(header)}",
            )
        )
    device, _ = cell("device")
    lot_value, _ = cell("lot")
    stamp, time_column = cell("time")
    reading, temp_column = cell("temperature")

    time = None
    if stamp:
        time, reason = _parse_time(stamp)
        if time is None:
            errors.append(CSVFieldError(row=number, column=time_column, reason=str(reason)))

    header_unit = columns["temperature"][1]
    unit = header_unit or "C"
    if "unit" in columns:
        raw_unit, unit_column = cell("unit")
        parsed_unit = _unit_key(raw_unit) if raw_unit else None
        if raw_unit and parsed_unit is None:
            errors.append(
                CSVFieldError(
                    row=number, column=unit_column, reason=f"{raw_unit!r} is not C, F or K"
                )
            )
        elif parsed_unit and header_unit and parsed_unit != header_unit:
            errors.append(
                CSVFieldError(
                    row=number,
                    column=unit_column,
                    reason=f"unit {parsed_unit} contradicts column {temp_column!r}",
                )
            )
        unit = parsed_unit or unit

    value = None
    if reading:
        value = _parse_number(reading, delimiter)
        if value is None:
            errors.append(
                CSVFieldError(row=number, column=temp_column, reason=f"{reading!r} is not a number")
            )
    celsius = None
    if value is not None:
        celsius = to_celsius(value, _UN_CEFACT[unit])
        if (why := implausible_temperature(celsius)) is not None:
            reason = f"{value} {unit} {why}"
            errors.append(CSVFieldError(row=number, column=temp_column, reason=reason))
    if len(errors) > start or time is None or value is None or celsius is None:
        return None
    return TemperatureRow(
        row=number,
        device_id=device,
        lot=lot_value,
        time=time,
        celsius=celsius,
        original_value=value,
        original_unit=unit,
    )


def _gtin14(gtin: str) -> str:
    digits = gtin.strip()
    if not re.fullmatch(r"\d{8}|\d{12,14}", digits):
        raise InvalidGTINError(gtin, "expected 8, 12, 13 or 14 digits")
    body, check = digits[:-1], digits[-1]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if str((10 - total % 10) % 10) != check:
        raise InvalidGTINError(gtin, "wrong check digit")
    return digits.rjust(14, "0")


def _lot_uri(row: TemperatureRow, gtin14: str | None) -> str | None:
    """The lot as a URI: as written when it is one, else a Digital Link under `gtin14`."""
    if _uri_or_none(row.lot):
        return row.lot
    if gtin14 is None:
        return None
    return f"https://id.gs1.org/01/{gtin14}/10/{quote(row.lot, safe='')}"


def _uri_or_none(text: str) -> str | None:
    return text if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", text) else None


def _is_class(uri: str) -> bool:
    """True for class-level identifiers (a lot or product), which go into quantityList."""
    if uri.startswith(("urn:epc:class:", "urn:epc:idpat:")):
        return True
    dl = to_digital_link(uri) if uri.startswith("http") else None
    return dl is not None and "/01/" in dl and "/21/" not in dl


def readings_to_epcis(
    rows: Iterable[TemperatureRow],
    *,
    gtin: str | None = None,
    creation_date: datetime | None = None,
    device_uri_prefix: str = DEVICE_URI_PREFIX,
) -> dict[str, Any]:
    """Build an EPCIS 2.0 document with one sensor ObjectEvent per device, lot and UTC hour.

    Bare lot codes become ``https://id.gs1.org/01/<gtin>/10/<lot>`` and need `gtin`; bare
    device ids become ``<device_uri_prefix><id>``. `creation_date` defaults to the latest
    reading so that the output depends on the rows only.
    """
    rows = list(rows)
    gtin14 = _gtin14(gtin) if gtin is not None else None
    groups: dict[tuple[str, str, datetime], list[TemperatureRow]] = {}
    errors = []
    for row in rows:
        uri = _lot_uri(row, gtin14)
        if uri is None:
            errors.append(
                CSVFieldError(
                    row=row.row,
                    column="lot",
                    reason=f"{row.lot!r} is a bare lot code; pass gtin= to form its URI",
                )
            )
            continue
        hour = row.time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        groups.setdefault((row.device_id, uri, hour), []).append(row)
    if errors:
        raise CSVImportError(errors)

    events = [
        _sensor_event(device, uri, members, device_uri_prefix)
        for (device, uri, _hour), members in sorted(groups.items())
    ]
    latest = max((r.time for r in rows), default=None)
    created = creation_date or latest or datetime(1970, 1, 1, tzinfo=UTC)
    return epcis_document(events, creation_date=created, context=EPCIS_CONTEXT, times=ZULU_MILLIS)


def _sensor_event(
    device: str, uri: str, members: Sequence[TemperatureRow], device_uri_prefix: str
) -> ObjectEvent:
    """One device's readings of one lot in one UTC hour, as logged, oldest first."""
    members = sorted(members, key=lambda r: (r.time, r.row))
    sensor = SensorElement(
        device_id=_uri_or_none(device) or device_uri_prefix + quote(device, safe=""),
        start_time=members[0].time,
        end_time=members[-1].time,
        reports=tuple(
            SensorReport(
                "gs1:Temperature",
                time=r.time,
                value=r.original_value,
                uom=_UN_CEFACT[r.original_unit],
            )
            for r in members
        ),
    )
    lot = _is_class(uri)  # a lot or product class counts; a single item is listed
    return ObjectEvent(
        event_time=members[-1].time,
        biz_step=SENSOR_BIZ_STEP,
        epcs=() if lot else (uri,),
        quantities=(Quantity(uri),) if lot else (),
        sensors=(sensor,),
        times=ZULU_MILLIS,
    )
