"""SQL helpers for the ledger: a HashStore over ledger_nodes, fast bulk inserts, the head."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Dialect, LargeBinary, Table, insert
from sqlalchemy.exc import DBAPIError, StatementError

from ledger.errors import MissingNodeError
from ledger.hashing import root_from_leaves
from ledger.schema import LOWEST_NODE_LEVEL, entries_table, nodes_table
from ledger.tree import NodeID

__all__ = ["NODE_COLUMNS", "SqlHashStore", "bulk_insert", "insert_rows", "read_head"]

NODE_COLUMNS = ("level", "idx", "hash")
"""The ledger_nodes columns, in the order of a node row."""

# Keeps each SELECT well under SQLite's bound-parameter limit.
_CHUNK = 200


# Drivers that take Python bytes for binary columns as they are; others (e.g. pg8000)
# need SQLAlchemy's Binary wrapper, so their processors still run.
_BYTES_NATIVE_DRIVERS = frozenset({"pysqlite", "psycopg", "psycopg2"})

# Rows per multi-row INSERT on SQLite: enough to make the per-statement cost vanish, few
# enough that the statement texts (one per row count) stay small and cached.
_SQLITE_ROWS = 500
# SQLite's bound-parameter limit where the connection cannot say (999 before 3.32).
_SQLITE_MAX_PARAMS = 999


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT tuples (values in `columns` order) the fastest way the driver offers.

    pysqlite: multi-row INSERT ... VALUES statements (a third of executemany's cost: one
    statement step per chunk instead of a reset, bind and step per row), sent to the
    driver's cursor directly (SQLAlchemy's statement machinery cost more than a
    one-row insert itself). psycopg: COPY FROM STDIN, one stream per batch. Other
    drivers: `bulk_insert`. Rows go in the given order, in the caller's transaction,
    and driver errors surface as SQLAlchemy's, either way; the pysqlite and psycopg
    paths bypass SQLAlchemy's cursor events.
    """
    if not rows:
        return
    driver = conn.dialect.driver
    if driver == "pysqlite":
        _sqlite_values(conn, table, tuple(columns), rows)
    elif driver == "psycopg":
        _copy(conn, table, tuple(columns), rows)
    else:
        bulk_insert(conn, table, columns, rows)


def _sqlite_values(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    width, total = len(columns), len(rows)
    processors, binary = _sqlite_plan(conn.dialect, table, columns)
    flat = list(chain.from_iterable(rows))
    for position, proc in processors:
        # Column-wise, through the memo: a batch shares one created_at object.
        flat[position::width] = list(map(_memoised(proc), flat[position::width]))
    for position in binary:
        # pysqlite binds bytes through its adapter registry (a key tuple, a dict miss and a
        # failed attribute lookup that formats an AttributeError), but a bytearray directly:
        # the copy costs a quarter of that. Both bind as the same BLOB.
        flat[position::width] = list(map(bytearray, flat[position::width]))
    if total <= _SQLITE_ROWS and total * width <= _SQLITE_MAX_PARAMS:
        per = total  # one statement, under any SQLite's limit: no need to ask this one's
    else:
        per = min(_SQLITE_ROWS, _sqlite_max_params(conn) // width)
    cursor = _driver_cursor(conn)
    try:
        for start in range(0, total, per):
            count = min(per, total - start)
            sql = _values_sql(table.name, columns, count)
            params = flat if count == total else flat[start * width : (start + count) * width]
            try:
                cursor.execute(sql, params)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise _wrapped(conn, sql, exc) from exc
    finally:
        cursor.close()


@lru_cache(maxsize=64)
def _sqlite_plan(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[list[tuple[int, Any]], tuple[int, ...]]:
    """The bind processors and bytearray positions of `columns`, worked out once."""
    return _processors(dialect, table, columns), _binary_positions(table, columns)


def _driver_cursor(conn: Connection) -> Any:
    """A cursor of the connection's driver, in the caller's transaction; the caller closes
    it (try/finally: a generator context manager cost more than a one-row insert's step)."""
    dbapi: Any = conn.connection.dbapi_connection
    assert dbapi is not None, "connection is closed"
    return dbapi.cursor()


def _wrapped(conn: Connection, sql: str, exc: Exception) -> StatementError:
    """The driver error as SQLAlchemy wraps every other statement's: callers (and the API's
    problem mapping) see OperationalError, IntegrityError and the rest."""
    dialect = conn.dialect
    return DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect)


def _sqlite_max_params(conn: Connection) -> int:
    dbapi = conn.connection.dbapi_connection
    getlimit = getattr(dbapi, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return _SQLITE_MAX_PARAMS
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


@lru_cache(maxsize=256)
def _values_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    row = "(" + ",".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ",".join([row] * count)


def _copy(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    # psycopg adapts every value (bytes to bytea, aware datetimes to timestamptz) as its
    # executemany would, so the rows stored are the same.
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    dbapi: Any = conn.connection.dbapi_connection
    assert dbapi is not None, "connection is closed"
    dialect = conn.dialect
    try:
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    except dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, sql, exc) from exc


@lru_cache(maxsize=64)
def _processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(position, bind processor) for the columns whose values the driver cannot take as is."""
    skip_binary = dialect.driver in _BYTES_NATIVE_DRIVERS
    processors = []
    for position, name in enumerate(columns):
        col_type = table.c[name].type
        if skip_binary and isinstance(col_type, LargeBinary):
            continue
        proc = col_type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((position, proc))
    return processors


@lru_cache(maxsize=64)
def _binary_positions(table: Table, columns: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the NOT NULL binary columns among `columns` (their values are bytes)."""
    return tuple(
        i
        for i, name in enumerate(columns)
        if isinstance(table.c[name].type, LargeBinary) and not table.c[name].nullable
    )


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
    processors = _processors(dialect, table, tuple(columns))
    if processors:
        memo = [(position, _memoised(proc)) for position, proc in processors]
        rows = [_processed(row, memo) for row in rows]
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


def read_head(conn: Connection) -> tuple[int, bytes] | None:
    """(index, leaf hash) of the last entry, or None for an empty log.

    Read through the driver's cursor: the writer asks this once per transaction, and
    SQLAlchemy's result machinery cost more than the indexed lookup.
    """
    cursor = _driver_cursor(conn)
    try:
        cursor.execute(_HEAD_SQL)
        row = cursor.fetchone()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, _HEAD_SQL, exc) from exc
    finally:
        cursor.close()
    return None if row is None else (row[0], bytes(row[1]))


_HEAD_SQL = f"SELECT idx, leaf_hash FROM {entries_table.name} ORDER BY idx DESC LIMIT 1"


class SqlHashStore:
    """HashStore over ledger_nodes inside the caller's transaction.

    Subtrees below LOWEST_NODE_LEVEL are not stored: asked for one, the store reads the
    leaf hashes it covers from ledger_entries (at most 2**LOWEST_NODE_LEVEL) and hashes
    them, so callers see every perfect subtree as before.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes for `ids` in order; raise MissingNodeError if one is absent."""
        low = [node_id for node_id in ids if node_id[0] < LOWEST_NODE_LEVEL]
        found = self._stored([node_id for node_id in ids if node_id[0] >= LOWEST_NODE_LEVEL])
        if low:
            found.update(self._recomputed(low))
        missing = [node_id for node_id in ids if node_id not in found]
        if missing:
            raise MissingNodeError(*missing[0])
        return [found[node_id] for node_id in ids]

    def _stored(self, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        # Plain driver SQL: compiling a SQLAlchemy OR-of-ANDs per proof cost ~3 ms, ten times
        # the lookups themselves. Only integers are interpolated, as bound parameters.
        found: dict[NodeID, bytes] = {}
        mark = self._mark
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            where = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(chunk))
            params = tuple(v for node in chunk for v in node)
            rows = self._conn.exec_driver_sql(
                f"SELECT level, idx, hash FROM {nodes_table.name} WHERE {where}", params
            )
            found.update(((level, idx), bytes(h)) for level, idx, h in rows)
        return found

    def _recomputed(self, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
        """The small subtrees `ids` from the leaf hashes they cover; absent where one is."""
        spans: list[list[int]] = []  # the leaf ranges to read, merged where they touch
        for start, end in sorted({(idx << level, (idx + 1) << level) for level, idx in ids}):
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        leaves: dict[int, bytes] = {}
        mark = self._mark
        for first in range(0, len(spans), _CHUNK):
            chunk = spans[first : first + _CHUNK]
            where = " OR ".join([f"(idx >= {mark} AND idx < {mark})"] * len(chunk))
            rows = self._conn.exec_driver_sql(
                f"SELECT idx, leaf_hash FROM {entries_table.name} WHERE {where}",
                tuple(v for span in chunk for v in span),
            )
            leaves.update((int(idx), bytes(h)) for idx, h in rows)
        found: dict[NodeID, bytes] = {}
        for level, idx in ids:
            covered = [leaves.get(i) for i in range(idx << level, (idx + 1) << level)]
            if None not in covered:
                found[(level, idx)] = root_from_leaves(covered)  # type: ignore[arg-type]
        return found

    def put_nodes(self, nodes: Sequence[tuple[NodeID, bytes]]) -> None:
        """Insert new nodes in one batch (those below LOWEST_NODE_LEVEL are not stored)."""
        self.put_rows([(lvl, idx, h) for (lvl, idx), h in nodes if lvl >= LOWEST_NODE_LEVEL])

    def put_rows(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        """Insert new nodes given as (level, index, hash) rows, in order; all at or above
        LOWEST_NODE_LEVEL (``CompactRange.extend_rows(min_level=...)`` makes them so)."""
        insert_rows(self._conn, nodes_table, NODE_COLUMNS, rows)
