"""The audit's fast path: the log recomputed in chunks of leaves by worker processes.

A chunk is an aligned run of ``chunk_leaves`` entries (a power of two). Its worker reads
the chunk's entries, re-hashes every record, checks each envelope and chain link, then
recomputes every perfect subtree inside the chunk and compares it with the stored nodes.
The parent joins the chunks: each chunk's first record must name the previous chunk's
last leaf, the subtrees above the chunks are recomputed from the chunk roots, and row
counts rule out stored rows no chunk looked at.

This path only ever says "all of it is as recomputed" or "something is off". It is
stricter than the reference audit (it wants records exactly as the writer builds them),
and on any doubt the caller runs the reference, which names the first fault. So the
audit's findings and errors are the reference's; this path only makes a clean log fast.

Workers are forked, so they inherit the engine with its connect arguments and pragmas
(SQLAlchemy's ``Engine.dispose(close=False)`` gives each its own pool); where fork is not
available, or the database is an in-memory SQLite one, the caller uses the reference.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from binascii import hexlify
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

from ledger.hashing import HASH_SIZE, LEAF_PREFIX, NODE_PREFIX
from ledger.record import GENESIS_PREV, RECORD_VERSION, kind_json
from ledger.schema import LOWEST_NODE_LEVEL, entries_table, nodes_table
from ledger.tree import NodeID, frontier_ids, node_count

__all__ = [
    "DEFAULT_CHUNK_LEAVES",
    "MAX_DEFAULT_WORKERS",
    "Recomputed",
    "can_fork",
    "default_workers",
    "recompute",
]

DEFAULT_CHUNK_LEAVES = 1 << 16
"""Leaves per worker task: large enough to amortise a task, small enough to balance."""

_sha256 = hashlib.sha256
# The C scanner json.loads runs, without its wrapper's whitespace and position handling.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_TS = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_TS_LEN = 27
_HEAD = b'{"body":'
_TAIL = b'","v":' + str(RECORD_VERSION).encode() + b"}"

_E, _N = entries_table.name, nodes_table.name
_ENTRIES_SQL = f"SELECT kind, record FROM {_E} WHERE idx >= {{p}} AND idx < {{p}} ORDER BY idx"
_FIRST_PREV_SQL = f"SELECT prev_hash FROM {_E} WHERE idx = {{p}}"
# How many entries in [start, end) carry the recomputed leaf hash and prev hash, each given
# as one blob of 32-byte hashes (each followed by `start` again).
_HASHES_SQL = (
    f"SELECT count(*) FROM {_E} WHERE idx >= {{p}} AND idx < {{p}} "
    f"AND leaf_hash = substr({{p}}, CAST((idx - {{p}}) * {HASH_SIZE} + 1 AS INTEGER), {HASH_SIZE}) "
    f"AND prev_hash = substr({{p}}, CAST((idx - {{p}}) * {HASH_SIZE} + 1 AS INTEGER), {HASH_SIZE})"
)
# How many of a level's stored nodes in [first, end) equal the recomputed ones, given as
# one blob of 32-byte hashes (the last parameter repeats `first`): the comparison runs in
# the database, so no row comes back to Python.
_LEVEL_SQL = (
    f"SELECT count(*) FROM {_N} WHERE level = {{p}} AND idx >= {{p}} AND idx < {{p}} "
    f"AND hash = substr({{p}}, CAST((idx - {{p}}) * {HASH_SIZE} + 1 AS INTEGER), {HASH_SIZE})"
)
_UPPER_SQL = f"SELECT level, idx, hash FROM {_N} WHERE level > {{p}} ORDER BY level, idx"
_ENTRY_COUNT_SQL = f"SELECT count(*), min(idx), max(idx) FROM {_E}"
_NODE_COUNT_SQL = f"SELECT count(*) FROM {_N}"


@dataclass(frozen=True, slots=True)
class Recomputed:
    """A log found exactly as recomputed: its size, node count and the nodes asked for."""

    size: int
    nodes_checked: int
    kept: dict[NodeID, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """What a worker found in one chunk; `ok` False means "run the reference"."""

    ok: bool
    first_prev: bytes = b""
    last_leaf: bytes = b""
    top: bytes | None = None
    kept: dict[NodeID, bytes] = field(default_factory=dict)


_FAULT = _Chunk(ok=False)


MAX_DEFAULT_WORKERS = 8
"""Default ceiling on workers: each holds a database connection while it runs."""


def default_workers() -> int:
    """The CPUs this process may run on, at most MAX_DEFAULT_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_DEFAULT_WORKERS)


def can_fork(engine: Engine) -> bool:
    """Whether worker processes can reach this engine's database."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database not in ("", ":memory:") and "mode=memory" not in str(url)
    return True


def recompute(
    engine: Engine,
    conn: Connection,
    *,
    signed_sizes: Iterable[int],
    workers: int,
    chunk_leaves: int = DEFAULT_CHUNK_LEAVES,
) -> Recomputed | None:
    """Recompute the log on `workers` processes; None when anything differs from it.

    Keeps the nodes that the roots of `signed_sizes` (and of the whole log) are made of,
    for the checkpoint checks that follow.
    """
    if chunk_leaves < 1 or chunk_leaves & (chunk_leaves - 1):
        raise ValueError(f"chunk_leaves must be a power of two, got {chunk_leaves}")
    count, low, high = conn.exec_driver_sql(_ENTRY_COUNT_SQL).one()
    size = int(count)
    if size and (low != 0 or high != size - 1):
        return None
    nodes = node_count(size, min_level=LOWEST_NODE_LEVEL)
    if conn.exec_driver_sql(_NODE_COUNT_SQL).scalar_one() != nodes:
        return None
    top_level = chunk_leaves.bit_length() - 1
    wanted = _wanted(signed_sizes, size)
    low = {n for n in wanted if n[0] <= top_level}
    chunks = [(start, min(start + chunk_leaves, size)) for start in range(0, size, chunk_leaves)]
    tasks = [
        (start, end, top_level, {n for n in low if _chunk_of(n, top_level) == start})
        for start, end in chunks
    ]
    results = _run(engine, tasks, workers)
    kept: dict[NodeID, bytes] = {}
    tops: list[bytes] = []
    expected_prev = GENESIS_PREV
    for result in results:
        if not result.ok or result.first_prev != expected_prev:
            return None
        expected_prev = result.last_leaf
        kept.update(result.kept)
        if result.top is not None:
            tops.append(result.top)
    upper = _check_upper(conn, tops, top_level, {n for n in wanted if n[0] > top_level})
    if upper is None:
        return None
    kept.update(upper)
    return Recomputed(size=size, nodes_checked=nodes, kept=kept)


def _wanted(signed_sizes: Iterable[int], size: int) -> set[NodeID]:
    sizes = {s for s in signed_sizes if 0 <= s <= size} | {size}
    return {node for s in sizes for node in frontier_ids(s)}


def _chunk_of(node: NodeID, top_level: int) -> int:
    """First leaf of the chunk that holds `node` (a node at or below the chunk level)."""
    level, index = node
    return ((index << level) >> top_level) << top_level


def _run(engine: Engine, tasks: list[tuple[Any, ...]], workers: int) -> list[_Chunk]:
    """Each task's result in task order, up to the first fault."""
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(_check_chunk_on(engine, *task))
            if not results[-1].ok:
                break
        return results
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(engine,),
    )
    results = []
    try:
        futures = [pool.submit(_check_chunk, *task) for task in tasks]
        for future in futures:
            results.append(future.result())
            if not results[-1].ok:
                break
    except BrokenProcessPool:
        results.append(_FAULT)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


_ENGINE: list[Engine] = []  # the engine a forked worker inherited
_INHERITED: list[Any] = []  # the parent's pool, as the fork copied it


# Worker connections to SQLite read through a memory map: no read() call per page. The
# setting lives on the worker's own connections (the listener is added in the child).
_SQLITE_MMAP_BYTES = 1 << 30


def _init_worker(engine: Engine) -> None:
    # A forked child must not touch the parent's pooled connections: a fresh pool, and the
    # parent's pool kept referenced so that no collection here finalises its connections
    # (closing a SQLite handle or a PostgreSQL session that the parent still uses).
    _INHERITED.append(engine.pool)
    engine.dispose(close=False)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _map_memory)
    _ENGINE.append(engine)


def _map_memory(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}")
    finally:
        cursor.close()


def _check_chunk(start: int, end: int, top_level: int, wanted: set[NodeID]) -> _Chunk:
    """A worker's task: check leaves [start, end) through the inherited engine."""
    return _check_chunk_on(_ENGINE[0], start, end, top_level, wanted)


def _check_chunk_on(
    engine: Engine, start: int, end: int, top_level: int, wanted: set[NodeID]
) -> _Chunk:
    try:
        with engine.connect() as conn:
            leaves, first_prev = _check_entries(conn, start, end)
            found = (
                None if leaves is None else _check_levels(conn, start, leaves, top_level, wanted)
            )
            conn.rollback()
    except Exception:  # any surprise means "let the reference look"
        return _FAULT
    if leaves is None or found is None:
        return _FAULT
    top, kept = found
    return _Chunk(ok=True, first_prev=first_prev, last_leaf=leaves[-1], top=top, kept=kept)


def _cursor_rows(
    conn: Connection, sql: str, params: Sequence[int | bytes]
) -> list[tuple[Any, ...]]:
    """Rows as plain driver tuples (SQLAlchemy's Row costs more than the hashing)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    dbapi: Any = conn.connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql.format(p=mark), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _check_entries(conn: Connection, start: int, end: int) -> tuple[list[bytes] | None, bytes]:
    """Leaf hashes of entries [start, end), or None where one is not as the writer makes it.

    Each record must be exactly the writer's envelope around a JSON object body, with
    this index, the kind column's JSON, the previous leaf's hex and a timestamp of the
    writer's form; each leaf_hash and prev_hash column must match the recomputation.
    Only kind and record come back to Python; the hash columns are compared with the
    recomputed hashes in the database (see _HASHES_SQL).
    """
    rows = _cursor_rows(conn, _ENTRIES_SQL, (start, end))
    count = end - start
    if len(rows) != count:
        return None, b""
    sha256, prefix = _sha256, LEAF_PREFIX
    records = [bytes(record) for _, record in rows]
    leaves = [sha256(prefix + record).digest() for record in records]
    ((first_prev,),) = _cursor_rows(conn, _FIRST_PREV_SQL, (start,))
    first_prev = bytes(first_prev)
    joined = b"".join(leaves)
    prevs = first_prev + joined[:-HASH_SIZE]
    ((matching,),) = _cursor_rows(conn, _HASHES_SQL, (start, end, joined, start, prevs, start))
    # idx is the primary key: `count` matching rows in the range are all of its entries,
    # each with the recomputed leaf hash and the previous one as its prev_hash.
    if matching != count:
        return None, b""
    middles: dict[str, bytes] = {}  # per kind: b',"index":%d,"kind":...,"prev":"%b","ts":"'
    head, tail, head_len, tail_len, ts_len = _HEAD, _TAIL, len(_HEAD), len(_TAIL), _TS_LEN
    ts_match, scan = _TS.fullmatch, _scan
    index = start
    for (kind, _), record, prev in zip(rows, records, [first_prev, *leaves], strict=False):
        middle = middles.get(kind) if type(kind) is str else None
        if middle is None:
            if type(kind) is not str:
                return None, b""
            middle = middles[kind] = _middle(kind)
        middle = middle % (index, hexlify(prev))
        ts_at = len(record) - tail_len - ts_len
        body_end = ts_at - len(middle)
        if not (
            body_end > head_len
            and record.startswith(head)
            and record.endswith(tail)
            and record[body_end:ts_at] == middle
            and ts_match(record, ts_at, ts_at + ts_len)
            and record[head_len] == 0x7B  # "{"
        ):
            return None, b""
        # The body is exactly one JSON object, as json.loads (strict) reads it; strict
        # UTF-8 as the reference's record.decode().
        text = record[head_len:body_end].decode()
        value, stop = scan(text, 0)
        if stop != len(text) or type(value) is not dict:
            return None, b""
        index += 1
    return leaves, first_prev


def _middle(kind: str) -> bytes:
    """The envelope between body and timestamp, a template of (index, prev hex)."""
    kind_text = kind_json(kind).replace(b"%", b"%%")
    return b',"index":%d,"kind":' + kind_text + b',"prev":"%b","ts":"'


def _pairs(row: list[bytes]) -> list[bytes]:
    sha256 = _sha256
    return [sha256(NODE_PREFIX + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]


def _pick(wanted: set[NodeID], level: int, first: int, row: list[bytes]) -> dict[NodeID, bytes]:
    """The `wanted` nodes among `row`, the nodes (level, first), (level, first + 1), ..."""
    return {
        (lvl, idx): row[idx - first]
        for lvl, idx in wanted
        if lvl == level and first <= idx < first + len(row)
    }


def _check_levels(
    conn: Connection, start: int, leaves: list[bytes], top_level: int, wanted: set[NodeID]
) -> tuple[bytes | None, dict[NodeID, bytes]] | None:
    """Compare every stored node inside the chunk with the recomputed one, level by level.

    Returns the chunk's root (its node at `top_level`, None for a partial last chunk)
    and the `wanted` nodes, or None at the first difference, missing or extra node.
    """
    row, kept = leaves, dict[NodeID, bytes]()
    for level in range(top_level + 1):
        first = start >> level
        if level >= LOWEST_NODE_LEVEL:  # the levels below are not stored
            expected = b"".join(row)
            ((matching,),) = _cursor_rows(
                conn, _LEVEL_SQL, (level, first, first + len(row), expected, first)
            )
            # (level, idx) is the primary key: one matching row per index in the range
            # means every node there is stored and equal (extra rows elsewhere fail the
            # node count).
            if matching != len(row):
                return None
        kept.update(_pick(wanted, level, first, row))
        if level < top_level:
            row = _pairs(row)
    return (row[0] if row else None), kept


def _check_upper(
    conn: Connection, tops: list[bytes], top_level: int, wanted: set[NodeID]
) -> dict[NodeID, bytes] | None:
    """The nodes above the chunks, recomputed from the chunk roots; the stored ones (from
    LOWEST_NODE_LEVEL up) compared in order."""
    computed: list[tuple[int, int, bytes]] = []
    level, row = top_level, tops
    while len(row) > 1:
        row = _pairs(row)
        level += 1
        computed.extend((level, i, digest) for i, digest in enumerate(row))
    stored = [
        (int(lvl), int(idx), bytes(digest))
        for lvl, idx, digest in _cursor_rows(conn, _UPPER_SQL, (top_level,))
    ]
    if stored != [node for node in computed if node[0] >= LOWEST_NODE_LEVEL]:
        return None
    return {(lvl, idx): digest for lvl, idx, digest in computed if (lvl, idx) in wanted}
