"""Temperature-logger CSV import and its conversion to EPCIS 2.0 sensor events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supplychain.coldchain_csv import (
    CSVImportError,
    InvalidGTINError,
    TemperatureRow,
    parse_logger_csv,
    readings_to_epcis,
)
from supplychain.epcis import parse_document

LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"

HAPPY = f"""device_id,lot,timestamp,temperature
LOG-7,{LOT},2024-05-02T06:15:00+02:00,4.5
LOG-7,{LOT},2024-05-02T06:45:00+02:00,5.25

LOG-7,{LOT},2024-05-02T07:05:00+02:00,6
LOG-9,{LOT},2024-05-02T04:20:00Z,3.0
"""


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(CSVImportError) as info:
        parse_logger_csv(text)
    return [(e.row, e.column) for e in info.value.errors]


def test_happy_path() -> None:
    rows = parse_logger_csv(HAPPY)
    assert [r.row for r in rows] == [2, 3, 5, 6]  # the blank line is row 4
    first = rows[0]
    assert first == TemperatureRow(
        row=2,
        device_id="LOG-7",
        lot=LOT,
        time=datetime(2024, 5, 2, 4, 15, tzinfo=UTC),
        celsius=4.5,
        original_value=4.5,
        original_unit="C",
    )
    assert [r.celsius for r in rows] == [4.5, 5.25, 6.0, 3.0]
    assert rows[3].time == datetime(2024, 5, 2, 4, 20, tzinfo=UTC)


def test_header_synonyms_and_extra_columns() -> None:
    text = (
        "\ufeffLogger;EPC;Date/Time;Temperature (°C);Battery\n"
        "LOG-7;urn:epc:id:sscc:4012345.0000000017;2024-05-02 06:15:00+02:00;4,5;98\n"
    )
    [row] = parse_logger_csv(text)
    assert (row.device_id, row.lot) == ("LOG-7", "urn:epc:id:sscc:4012345.0000000017")
    assert row.time == datetime(2024, 5, 2, 4, 15, tzinfo=UTC)
    assert (row.celsius, row.original_unit) == (4.5, "C")


@pytest.mark.parametrize(
    ("header", "cell"),
    [("device,lot,time,temp,unit", "41,F"), ("Device,Lot,Datetime,°F", "41")],
)
def test_fahrenheit(header: str, cell: str) -> None:
    [row] = parse_logger_csv(f"{header}\nLOG-7,{LOT},2024-05-02T06:15:00Z,{cell}\n")
    assert row.celsius == pytest.approx(5.0)
    assert (row.original_value, row.original_unit) == (41.0, "F")


def test_kelvin_unit_column() -> None:
    [row] = parse_logger_csv(f"logger,lot,time,temp,unit\nL1,{LOT},2024-05-02T06:15:00Z,278.15,K\n")
    assert row.celsius == pytest.approx(5.0)
    assert row.original_unit == "K"


def test_bad_rows_are_named_by_number_and_column_and_all_collected() -> None:
    text = (
        "device_id,lot,timestamp,temperature\n"
        f"LOG-7,{LOT},2024-05-02T06:15:00+02:00,4.5\n"
        f"LOG-7,{LOT},2024-05-02T06:45:00+02:00,warm\n"
        f",{LOT},2024-05-02T07:05:00+02:00,nan\n"
    )
    with pytest.raises(CSVImportError) as info:
        parse_logger_csv(text)
    errors = info.value.errors
    assert [(e.row, e.column) for e in errors] == [
        (3, "temperature"),
        (4, "device_id"),
        (4, "temperature"),
    ]
    assert errors[0].reason == "'warm' is not a number"
    assert errors[1].reason == "missing"
    assert "row 3, column 'temperature'" in str(info.value)


def test_readings_outside_what_a_logger_reads_are_refused() -> None:
    text = (
        "device_id,lot,timestamp,temperature\n"
        f"LOG-7,{LOT},2024-05-02T06:15:00+02:00,-300\n"
        f"LOG-7,{LOT},2024-05-02T06:45:00+02:00,1e308\n"
        f"LOG-7,{LOT},2024-05-02T07:05:00+02:00,999.5\n"
    )
    with pytest.raises(CSVImportError) as info:
        parse_logger_csv(text)
    reasons = [(e.row, e.reason) for e in info.value.errors]
    assert reasons == [
        (2, "-300.0 C is below absolute zero"),
        (3, "1e+308 C is above 1000 °C: no logger on food reads that"),
    ]


def test_naive_timestamp_is_rejected() -> None:
    text = f"device,lot,time,temp\nLOG-7,{LOT},2024-05-02T06:15:00,4.5\n"
    with pytest.raises(CSVImportError) as info:
        parse_logger_csv(text)
    [error] = info.value.errors
    assert (error.row, error.column) == (2, "time")
    assert "naive timestamp" in error.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "")]),
        ("device,time,temp\n", [(1, "lot")]),
        ("device,lot,epc,time,temp\n", [(1, "epc")]),
        (f"device,lot,time,celsius,unit\nL,{LOT},2024-05-02T06:15:00Z,5,F\n", [(2, "unit")]),
        (f"device,lot,time,temp,unit\nL,{LOT},2024-05-02T06:15:00Z,5,R\n", [(2, "unit")]),
        (f"device,lot,time,temp,unit\nL,{LOT},2024-05-02T06:15:00Z,5,\n", [(2, "unit")]),
        (f"device,lot,time,temp\nL,{LOT},2024-05-02T06:15:00Z,-500\n", [(2, "temp")]),
        (f"device,lot,time,temp\nL,{LOT},2024-05-02T06:15:00Z,5,9\n", [(2, "")]),
    ],
)
def test_structural_errors(text: str, expected: list[tuple[int, str]]) -> None:
    assert errors_of(text) == expected


def test_readings_become_hourly_epcis_sensor_events() -> None:
    doc = readings_to_epcis(parse_logger_csv(HAPPY))
    assert doc["type"] == "EPCISDocument" and doc["creationDate"] == "2024-05-02T05:05:00.000Z"
    parsed = parse_document(doc)
    # LOG-7 04:xx, LOG-7 05:xx and LOG-9 04:xx (UTC hours).
    assert len(parsed.events) == 3
    first, second, third = parsed.events
    assert first.biz_step == "sensor_reporting" and first.action == "OBSERVE"
    assert not first.is_inspection
    assert first.lots == (LOT,)
    assert [t.celsius for t in first.temperatures] == [4.5, 5.25]
    assert [t.time for t in first.temperatures] == [
        datetime(2024, 5, 2, 4, 15, tzinfo=UTC),
        datetime(2024, 5, 2, 4, 45, tzinfo=UTC),
    ]
    assert first.event_time == datetime(2024, 5, 2, 4, 45, tzinfo=UTC)
    assert first.temperatures[0].device_id == "urn:freshproof:logger:LOG-7"
    assert [t.celsius for t in second.temperatures] == [6.0]
    assert third.temperatures[0].device_id == "urn:freshproof:logger:LOG-9"
    assert len({e.hash_id for e in parsed.events}) == 3


def test_epcis_keeps_the_logged_unit_and_converts_on_the_epcis_path() -> None:
    rows = parse_logger_csv(f"device,lot,time,temp,unit\nL,{LOT},2024-05-02T06:15:00Z,41,F\n")
    doc = readings_to_epcis(rows)
    [report] = doc["epcisBody"]["eventList"][0]["sensorElementList"][0]["sensorReport"]
    assert (report["value"], report["uom"]) == (41.0, "FAR")
    [reading] = parse_document(doc).events[0].temperatures
    assert reading.celsius == pytest.approx(5.0)
    assert (reading.original_value, reading.original_uom) == (41.0, "FAR")


def test_import_is_deterministic_so_reimports_get_the_same_hash_ids() -> None:
    lines = HAPPY.strip().splitlines()
    reordered = "\n".join([lines[0], *reversed(lines[1:])])
    once = parse_document(readings_to_epcis(parse_logger_csv(HAPPY)))
    again = parse_document(readings_to_epcis(parse_logger_csv(reordered)))
    assert [e.hash_id for e in once.events] == [e.hash_id for e in again.events]


def test_instance_epcs_go_to_epc_list() -> None:
    sscc = "urn:epc:id:sscc:4012345.0000000017"
    rows = parse_logger_csv(f"device,epc,time,temp\nL,{sscc},2024-05-02T06:15:00Z,4\n")
    event = readings_to_epcis(rows)["epcisBody"]["eventList"][0]
    assert event["epcList"] == [sscc] and "quantityList" not in event


def test_bare_lot_codes_need_a_gtin() -> None:
    rows = parse_logger_csv("device,lot,time,temp\nL,STRAW-0502,2024-05-02T06:15:00Z,4\n")
    with pytest.raises(CSVImportError) as info:
        readings_to_epcis(rows)
    [error] = info.value.errors
    assert (error.row, error.column) == (2, "lot")
    [event] = parse_document(readings_to_epcis(rows, gtin="4012345123456")).events
    assert event.lots == ("https://id.gs1.org/01/04012345123456/10/STRAW-0502",)
    with pytest.raises(InvalidGTINError, match="check digit"):
        readings_to_epcis(rows, gtin="4012345123457")
