"""FDA FSMA 204 (21 CFR Part 1 Subpart S): the sortable spreadsheet of a lot's key data
elements per critical tracking event, read from the EPCIS records on the ledger.

One concern a module: `kdes` (the CTEs, the KDE table per CTE, a row and its typed values),
`records` (what a query selects from the log), `mapping` (EPCIS events to rows: pure),
`spreadsheet` (rows to CSV / XLSX bytes), `export` (the three in one call).
"""

from __future__ import annotations

from supplychain.fsma.export import MEDIA_TYPES, Format, FSMAExport, export_fsma, fsma_rows
from supplychain.fsma.kdes import CFR_SECTION, REQUIRED, Cte, CteRow, Kde, KdeValue, Known, Missing
from supplychain.fsma.mapping import cte_of, rows
from supplychain.fsma.records import ExportQueryError, FSMAQuery, parse_bound, select_records
from supplychain.fsma.spreadsheet import COLUMNS, to_csv, to_xlsx

__all__ = [
    "CFR_SECTION",
    "COLUMNS",
    "MEDIA_TYPES",
    "REQUIRED",
    "Cte",
    "CteRow",
    "ExportQueryError",
    "FSMAExport",
    "FSMAQuery",
    "Format",
    "Kde",
    "KdeValue",
    "Known",
    "Missing",
    "cte_of",
    "export_fsma",
    "fsma_rows",
    "parse_bound",
    "rows",
    "select_records",
    "to_csv",
    "to_xlsx",
]
