"""The FSMA 204 pieces on their own: which event is which CTE, a row's typed KDEs, and the
spreadsheet's guard against formulas smuggled in through a record."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from supplychain.fsma import COLUMNS, Cte, CteRow, Kde, Known, Missing, cte_of, to_csv, to_xlsx
from supplychain.fsma.records import ExportQueryError, FSMAQuery, Record, parse_bound
from supplychain.fsma.spreadsheet import Notes

AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


def record(
    event_type: str = "ObjectEvent", step: str | None = None, offset: str = "+00:00"
) -> Record:
    return Record(
        index=7, leaf_hash="ab" * 32, hash_id="ni:///sha-256;x?ver=CBV2.0", event={},
        event_type=event_type, time=AT, offset=offset, action="OBSERVE", biz_step=step,
        read_point=None, biz_location=None, sources=(), destinations=(), captured_for=(),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("event_type", "step", "cte"),
    [
        ("ObjectEvent", "packing", Cte.INITIAL_PACKING),
        ("ObjectEvent", "shipping", Cte.SHIPPING),
        ("ObjectEvent", "receiving", Cte.RECEIVING),
        ("ObjectEvent", "https://freshproof.dev/epcis/BizStep-harvesting", Cte.HARVESTING),
        ("ObjectEvent", "urn:acme:bizstep:cooling", Cte.COOLING),
        ("TransformationEvent", "packing", Cte.INITIAL_PACKING),
        ("TransformationEvent", "commissioning", Cte.TRANSFORMATION),
        ("TransformationEvent", None, Cte.TRANSFORMATION),
        ("ObjectEvent", "storing", None),
        ("ObjectEvent", "inspecting", None),
        ("ObjectEvent", "https://acme.example/steps/unloading", None),
    ],
)
def test_which_event_is_which_cte(event_type: str, step: str | None, cte: Cte | None) -> None:
    assert cte_of(record(event_type, step)) is cte


def test_a_cte_date_is_the_date_where_it_happened() -> None:
    late = record(offset="-07:00")
    assert late.local_date == date(2026, 5, 1)
    assert record(offset="+13:00").local_date == date(2026, 5, 2)


def _row(**kdes: Any) -> CteRow:
    return CteRow(Cte.SHIPPING, AT, 7, "ab" * 32, "ni:///x", {Kde[k]: v for k, v in kdes.items()})


def test_a_row_shows_required_kdes_and_names_what_it_lacks() -> None:
    row = _row(
        TLC=Known("L1", (7,)),
        PRODUCT=Missing("no description"),
        LOCATION=Known("Farm (id)", (7,), ("phone number",)),
        FIELD=Known("Block 7", (7,)),  # not asked for by shipping: not shown
    )
    assert row.value(Kde.FIELD) is None
    assert row.value(Kde.TLC) == Known("L1", (7,))
    assert isinstance(row.value(Kde.QUANTITY), Missing)  # required, never read: named
    assert Kde.PRODUCT in row.missing and Kde.QUANTITY in row.missing
    assert row.incomplete == ((Kde.LOCATION, ("phone number",)),)


def test_a_formula_in_a_record_stays_text() -> None:
    evil = '=HYPERLINK("https://evil.example","click")'
    row = _row(TLC=Known("-1+1", (7,)), PRODUCT=Known(evil, (7,)), QUANTITY=Known(3.0, (7,)))
    header, line = list(csv.reader(io.StringIO(to_csv([row]).decode("utf-8-sig"))))
    cells = dict(zip(header, line, strict=True))
    assert cells["Product Description"] == "'" + evil
    assert cells["Traceability Lot Code (TLC)"] == "'-1+1"
    assert cells["Quantity"] == "3"
    sheet = load_workbook(io.BytesIO(to_xlsx([row], Notes("lot L1", AT, 8))))["FSMA 204 records"]
    product = sheet.cell(row=2, column=COLUMNS.index("Product Description") + 1)
    assert product.data_type == "s" and product.value == evil


def test_queries_that_cannot_run() -> None:
    with pytest.raises(ExportQueryError, match="name a lot"):
        FSMAQuery()
    with pytest.raises(ExportQueryError, match="UTC offset"):
        FSMAQuery(start=datetime(2026, 5, 1))
    with pytest.raises(ExportQueryError, match="not an ISO 8601 date"):
        parse_bound("May 1st", end=False)
    assert parse_bound("2026-05-01", end=True) == datetime(2026, 5, 2, tzinfo=UTC)
    assert parse_bound("2026-05-01T10:00", end=False) == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert FSMAQuery(product="4100003246804").gtin == "04100003246804"
    assert FSMAQuery(product="romaine").gtin is None
