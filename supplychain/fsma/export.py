"""The FSMA 204 export as one call: select the records, map them to rows, write the sheet."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from ledger.log import Ledger
from supplychain.fsma.kdes import CteRow, Kde, Known
from supplychain.fsma.mapping import rows
from supplychain.fsma.records import ExportQueryError, FSMAQuery, select_records
from supplychain.fsma.spreadsheet import Notes, to_csv, to_xlsx
from supplychain.lot_names import lots_named
from supplychain.query.scope import Scope, check_took_part

__all__ = ["MEDIA_TYPES", "FSMAExport", "Format", "export_fsma", "fsma_rows"]

Format = Literal["csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class FSMAExport:
    """A written export: its rows, the file's bytes, media type and a file name."""

    rows: tuple[CteRow, ...]
    content: bytes
    media_type: str
    filename: str
    ledger_size: int


def fsma_rows(*, ledger: Ledger, query: FSMAQuery) -> tuple[tuple[CteRow, ...], int]:
    """The query's CTE rows, oldest first, and the ledger size they were read at."""
    selection = select_records(ledger=ledger, query=query)
    found = rows(selection)
    if query.product and query.gtin is None:
        words = query.product.casefold().strip()

        def describes(row: CteRow) -> bool:
            product = row.kdes.get(Kde.PRODUCT)
            return isinstance(product, Known) and words in str(product.value).casefold()

        found = tuple(r for r in found if describes(r))
    return found, selection.ledger_size


def export_fsma(
    *,
    ledger: Ledger,
    query: FSMAQuery,
    fmt: Format = "csv",
    speaks_for: Collection[str] | None = None,
    now: datetime | None = None,
) -> FSMAExport:
    """Write the query's sortable spreadsheet as ``fmt``.

    With ``speaks_for`` (a supply-chain key's parties) only a lot one of them took part in
    may be asked for (``NotYourLotError``).
    """
    if fmt not in MEDIA_TYPES:
        raise ExportQueryError("format", f"{fmt!r} is not csv or xlsx")
    if speaks_for is not None:
        if query.lot is None:
            raise ExportQueryError("lot", "a supply-chain key exports one lot at a time")
        scope = Scope.of_parties(speaks_for)
        with ledger.engine.connect() as conn:
            # A bare lot number two companies share: only the caller's lot of them (staff
            # get every lot the number names, each row naming its own).
            keys = lots_named(conn, query.lot, scope=scope)
        if keys != (query.lot,):
            query = replace(query, lot=keys[0])
        found, size = fsma_rows(ledger=ledger, query=query)  # UnknownLotError first
        with ledger.engine.connect() as conn:
            check_took_part(conn, lot=keys, scope=scope)
    else:
        found, size = fsma_rows(ledger=ledger, query=query)
    if fmt == "csv":
        content = to_csv(found)
    else:
        notes = Notes(query.describe(), now or datetime.now(UTC), size)
        content = to_xlsx(found, notes)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", query.lot or "records").strip("_")[-80:]
    return FSMAExport(found, content, MEDIA_TYPES[fmt], f"fsma204-{stem}.{fmt}", size)
