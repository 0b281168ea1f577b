"""SQL helpers for the ledger: a HashStore over ledger_nodes, and a fast bulk INSERT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, LargeBinary, Table, insert

from ledger.errors import MissingNodeError
from ledger.schema import nodes_table
from ledger.tree import NodeID

__all__ = ["SqlHashStore", "bulk_insert"]

# Keeps each SELECT well under SQLite's bound-parameter limit.
_CHUNK = 200


# Drivers that take Python bytes for binary columns as they are; others (e.g. pg8000)
# need SQLAlchemy's Binary wrapper, so their processors still run.
_BYTES_NATIVE_DRIVERS = frozenset({"pysqlite", "psycopg", "psycopg2"})


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT tuples (values in `columns` order) with one DBAPI executemany.

    SQLAlchemy's per-row parameter handling costs several times the insert itself on
    SQLite, so the statement is compiled once for the connection's dialect and rows go
    straight to the driver; needed type bind processors (e.g. SQLite's DATETIME to
    text) are still applied.
    """
    if not rows:
        return
    dialect = conn.dialect
    skip_binary = dialect.driver in _BYTES_NATIVE_DRIVERS
    processors = []
    for position, name in enumerate(columns):
        col_type = table.c[name].type
        if skip_binary and isinstance(col_type, LargeBinary):
            continue
        proc = col_type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((position, _memoised(proc)))
    if processors:
        rows = [_processed(row, processors) for row in rows]
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    params: list[Any]
    if compiled.positional:
        where = {name: i for i, name in enumerate(columns)}
        order = [where[name] for name in compiled.positiontup or []]
        in_order = order == list(range(len(columns)))
        params = list(rows) if in_order else [tuple(row[i] for i in order) for row in rows]
    else:
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _processed(row: tuple[Any, ...], processors: list[tuple[int, Any]]) -> tuple[Any, ...]:
    values = list(row)
    for position, proc in processors:
        values[position] = proc(values[position])
    return tuple(values)


def _memoised(proc: Any) -> Any:
    # Rows of one batch share values such as created_at; convert each object once.
    last: list[Any] = [_UNSET, None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return process


_UNSET = object()


class SqlHashStore:
    """HashStore reading and writing ledger_nodes inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes for `ids` in order; raise MissingNodeError if one is absent."""
        # Plain driver SQL: compiling a SQLAlchemy OR-of-ANDs per proof cost ~3 ms, ten times
        # the lookups themselves. Only integers are interpolated, as bound parameters.
        found: dict[NodeID, bytes] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            mark = "?" if self._conn.dialect.paramstyle == "qmark" else "%s"
            where = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(chunk))
            params = tuple(v for node in chunk for v in node)
            rows = self._conn.exec_driver_sql(
                f"SELECT level, idx, hash FROM {nodes_table.name} WHERE {where}", params
            )
            found.update(((level, idx), bytes(h)) for level, idx, h in rows)
        missing = [node_id for node_id in ids if node_id not in found]
        if missing:
            raise MissingNodeError(*missing[0])
        return [found[node_id] for node_id in ids]

    def put_nodes(self, nodes: Sequence[tuple[NodeID, bytes]]) -> None:
        """Insert new nodes with one executemany."""
        rows = [(lvl, idx, h) for (lvl, idx), h in nodes]
        bulk_insert(self._conn, nodes_table, ("level", "idx", "hash"), rows)
