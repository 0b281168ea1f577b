"""The electronic sortable spreadsheet: FSMA rows as CSV or XLSX bytes.

Sortable (§1.1455(c)(3)(ii)): one header row, one row per CTE, no merged cells, one value per
cell. Dates are ISO 8601 (``2024-05-02``; in XLSX, date cells shown that way), quantities and
ledger indices are numbers. A cell is the KDE's value; ``MISSING: <why>`` where the CTE
requires the KDE and the records do not give it; a value followed by ``[not on record: …]``
where they give it only in part; empty where the CTE does not ask for it. ``Missing KDEs``
names a row's missing KDEs and ``Partial KDEs`` those given in part, so a filter on them
finds every gap. The last columns
name the ledger entry of the event (index, leaf hash) and its EPCIS event hash: a row is
proved by that entry's inclusion proof.

XLSX: an autofilter over the table, the header row frozen, and every text cell written as
text (a record's value starting with ``=`` never becomes a formula). CSV: UTF-8 with a byte
order mark (spreadsheet programs then read it as UTF-8); a text cell starting with ``=``,
``+``, ``-``, ``@`` or a tab gets a leading apostrophe (OWASP's CSV-injection guard).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from supplychain.fsma.kdes import CFR_SECTION, CteRow, Kde, Known, Missing

__all__ = ["COLUMNS", "Cell", "Notes", "table", "to_csv", "to_xlsx"]

Cell = str | float | int | date | datetime | None

_LEAD = ("Critical Tracking Event (CTE)", "CFR Section", "Event Time (UTC)")
_TAIL = ("Missing KDEs", "Partial KDEs", "Ledger Index", "Ledger Leaf Hash", "EPCIS Event Hash ID")
COLUMNS: tuple[str, ...] = (*_LEAD, *(k.value for k in Kde), *_TAIL)
"""The header row: the CTE, every KDE column (``Kde``), the gaps, and the ledger proof."""


@dataclass(frozen=True, slots=True)
class Notes:
    """What the spreadsheet is, for the reader (the rule asks for what is needed to read it)."""

    query: str
    generated_at: datetime
    ledger_size: int


def _cell(kde: Kde, row: CteRow) -> Cell:
    v = row.value(kde)
    if v is None:
        return None
    if isinstance(v, Missing):
        return f"MISSING: {v.reason}"
    assert isinstance(v, Known)
    if v.lacking:
        return f"{v.value} [not on record: {', '.join(v.lacking)}]"
    return v.value


def _partial(row: CteRow) -> str:
    return "; ".join(f"{k.value} (lacking {', '.join(lacking)})" for k, lacking in row.incomplete)


def table(rows: Sequence[CteRow]) -> list[list[Cell]]:
    """The body of the sheet: one list of cells per row, in ``COLUMNS`` order."""
    out: list[list[Cell]] = []
    for row in rows:
        out.append(
            [
                row.cte.value,
                CFR_SECTION[row.cte],
                row.event_time.astimezone(UTC).replace(tzinfo=None),
                *(_cell(k, row) for k in Kde),
                "; ".join(k.value for k in row.missing),
                _partial(row),
                row.ledger_index,
                row.leaf_hash,
                row.hash_id,
            ]
        )
    return out


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: Sequence[CteRow]) -> bytes:
    """The sheet as CSV (one header row), UTF-8 with a byte order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_text(c) for c in line] for line in table(rows))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[CteRow], notes: Notes) -> bytes:
    """The sheet as an XLSX workbook: the table (typed cells, autofilter), and its notes.

    Written in openpyxl's write-only mode: rows stream out instead of living as cell objects.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("FSMA 204 records")
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"
    sheet.freeze_panes = "A2"
    for c, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = min(max(len(name), 12), 40)
    sheet.append(list(COLUMNS))
    for line in table(rows):
        cells = []
        for value in line:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text, even a value that starts with "="
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    about = book.create_sheet("About")
    notes_rows: tuple[tuple[str, str | int], ...] = (
        ("Records", "FDA FSMA 204 (21 CFR Part 1 Subpart S) key data elements, one row per CTE"),
        ("Query", notes.query),
        ("Generated at (UTC)", notes.generated_at.astimezone(UTC).isoformat(timespec="seconds")),
        ("Read from ledger size", notes.ledger_size),
        ("Empty cell", "the CTE does not ask for this key data element"),
        ("MISSING: <why>", "the CTE asks for it and the records do not give it"),
        ("[not on record: ...]", "the records give the value only in part"),
        ("Ledger Index / Leaf Hash", "the entry holding the event; ask the log for its proof"),
    )
    for name, value in notes_rows:
        text = WriteOnlyCell(about, value=value)
        text.data_type = "n" if isinstance(value, int) else "s"
        about.append([name, text])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
