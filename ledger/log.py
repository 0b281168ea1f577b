"""The Ledger: the only writer of the ledger tables; appends are atomic and serialised."""

from __future__ import annotations

import hashlib
import threading
from binascii import hexlify
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.clock import utc_now
from ledger.errors import (
    CheckpointFormatError,
    InconsistentCheckpointError,
    InvalidIndexError,
    MissingNodeError,
    ProofError,
)
from ledger.hashing import EMPTY_ROOT, LEAF_PREFIX, load_json
from ledger.note import Signer
from ledger.proof import consistency_proof, inclusion_proof, verify_consistency
from ledger.record import (
    GENESIS_PREV,
    Entry,
    canonical_bodies,
    format_ts,
    parse_record,
    record_template,
)
from ledger.schema import (
    LEDGER_TABLES,
    LOWEST_NODE_LEVEL,
    checkpoints_table,
    entries_table,
    metadata,
)
from ledger.sqlstore import SqlHashStore, insert_rows, read_head
from ledger.tree import CompactRange, HashStore, tree_root

__all__ = ["DEFAULT_ORIGIN", "Ledger", "LedgerWriter"]

DEFAULT_ORIGIN = "freshproof.local/ledger"
"""Checkpoint origin line used when a Ledger is not given one."""

# One pg_advisory_xact_lock key for the ledger tables, derived so it cannot collide by
# accident with small integer keys other code may use.
_ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"freshproof.ledger").digest()[:8], "big", signed=True
)

_ENTRY_COLUMNS = ("idx", "kind", "record", "prev_hash", "leaf_hash", "created_at")

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(engine: Engine) -> threading.Lock:
    # Keyed by database URL so two Ledger objects on one database share a lock.
    key = engine.url.render_as_string(hide_password=True)
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


def _lock_database(conn: Connection) -> None:
    """Take the cross-process write lock; must be the transaction's first statement."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
    elif dialect == "sqlite":
        # pysqlite defers BEGIN until the first write, so another process could read the
        # same head between our SELECT and INSERT; BEGIN IMMEDIATE takes the write lock
        # now. If the driver already opened a transaction (another engine setup), the
        # idx primary key still turns a lost race into an error rather than a fork.
        # Sent to the driver directly, as the writer's other hot statements are.
        dbapi: Any = conn.connection.dbapi_connection
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            except conn.dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(
                    "BEGIN IMMEDIATE",
                    None,
                    exc,
                    conn.dialect.loaded_dbapi.Error,
                    dialect=conn.dialect,
                ) from exc


def _head(conn: Connection) -> tuple[int, bytes]:
    """Return (size, leaf hash of the last entry or GENESIS_PREV)."""
    c = entries_table.c
    row = conn.execute(select(c.idx, c.leaf_hash).order_by(c.idx.desc()).limit(1)).first()
    return (0, GENESIS_PREV) if row is None else (row.idx + 1, bytes(row.leaf_hash))


def _prepare(items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, bytes, Any]]:
    kinds, texts = canonical_bodies(items)
    if not texts:
        return []
    # One decode for the whole batch: per-call overhead dominates small bodies.
    parsed = load_json(b"[" + b",".join(texts) + b"]")
    return list(zip(kinds, texts, parsed, strict=True))


@dataclass(frozen=True, slots=True)
class _Tip:
    """The right edge of the log as a writer left it: enough to append without reading nodes.

    Trusted only while the stored head is (size, last): the last leaf hash names every
    record before it through the prev chain, so the same head means the same leaves and
    hence the same frontier, whoever wrote them.
    """

    size: int
    last: bytes
    frontier: tuple[bytes, ...]


class LedgerWriter:
    """Appends inside a held write transaction; see ``Ledger.writer``."""

    def __init__(
        self, conn: Connection, clock: Callable[[], datetime], tip: _Tip | None = None
    ) -> None:
        self.conn = conn
        self._clock = clock
        self._tip = tip

    def append_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Entry]:
        """Append (kind, body) pairs; they commit with the rest of the transaction."""
        return self.append_prepared(_prepare(items))

    def append_prepared(self, prepared: list[tuple[str, bytes, Any]]) -> list[Entry]:
        """Append already canonicalised (kind, body JSON, parsed body) triples."""
        if not prepared:
            return []
        conn = self.conn
        # Read the clock under the lock so timestamps never run backwards along the chain.
        now = self._clock()
        ts = format_ts(now)
        head = read_head(conn)
        size, prev = (0, GENESIS_PREV) if head is None else (head[0] + 1, head[1])
        frontier = self._frontier(size, prev)
        entries, rows = _chain(prepared, size=size, prev=prev, ts=ts, now=now)
        nodes = frontier.extend_rows(
            [entry.leaf_hash for entry in entries], min_level=LOWEST_NODE_LEVEL
        )
        insert_rows(conn, entries_table, _ENTRY_COLUMNS, rows)
        SqlHashStore(conn).put_rows(nodes)
        self._tip = _Tip(frontier.size, entries[-1].leaf_hash, frontier.hashes)
        return entries

    def _frontier(self, size: int, last: bytes) -> CompactRange:
        tip = self._tip
        if tip is not None and tip.size == size and tip.last == last:
            return CompactRange(size, tip.frontier)
        return CompactRange.load(SqlHashStore(self.conn), size)

    @property
    def tip(self) -> _Tip | None:
        """The right edge after this writer's last append (or as it was handed in)."""
        return self._tip


def _chain(
    prepared: list[tuple[str, bytes, Any]], *, size: int, prev: bytes, ts: str, now: datetime
) -> tuple[list[Entry], list[tuple[Any, ...]]]:
    """Build the records of a batch, each naming the previous leaf; return entries and rows."""
    templates: dict[str, bytes] = {}
    entries: list[Entry] = []
    rows: list[tuple[Any, ...]] = []
    add_entry, add_row, sha256 = entries.append, rows.append, hashlib.sha256
    new = object.__new__
    set_index, set_kind, set_body, set_record, set_leaf, set_prev = _ENTRY_SLOTS
    index = size
    for kind, body_json, body in prepared:
        template = templates.get(kind)
        if template is None:
            template = templates[kind] = record_template(kind=kind, ts=ts)
        record = template % (body_json, index, hexlify(prev))
        leaf = sha256(LEAF_PREFIX + record).digest()
        add_row((index, kind, record, prev, leaf, now))
        # Entry(index, kind, body, record, leaf, prev), without the frozen dataclass's
        # __init__ (object.__setattr__ per field, half this loop's cost): the same slots
        # filled, through their descriptors. A test pins it equal to the constructor's.
        entry = new(Entry)
        set_index(entry, index)
        set_kind(entry, kind)
        set_body(entry, body)
        set_record(entry, record)
        set_leaf(entry, leaf)
        set_prev(entry, prev)
        add_entry(entry)
        prev = leaf
        index += 1
    return entries, rows


ENTRY_FIELDS = ("index", "kind", "body", "record", "leaf_hash", "prev_hash")
"""The Entry fields the writer fills, in order (a test pins them to the dataclass's)."""

_ENTRY_SLOTS = tuple(Entry.__dict__[name].__set__ for name in ENTRY_FIELDS)


class Ledger:
    """Append-only hash-chained RFC 9162 Merkle log stored through a SQLAlchemy Engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        origin: str = DEFAULT_ORIGIN,
        clock: Callable[[], datetime] = utc_now,
        create_tables: bool = True,
    ) -> None:
        self._engine = engine
        self._origin = origin
        self._clock = clock
        self._lock = _process_lock(engine)
        self._tip: _Tip | None = None  # read and written under self._lock only
        if create_tables:
            metadata.create_all(engine, tables=list(LEDGER_TABLES))

    @property
    def engine(self) -> Engine:
        """The engine the ledger reads and writes through."""
        return self._engine

    @property
    def origin(self) -> str:
        """The origin line of this ledger's checkpoints."""
        return self._origin

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # Thread lock first, then the database lock, inside one transaction that
        # commits on success and rolls everything back on any exception.
        with self._lock, self._transaction() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            _lock_database(conn)
            yield conn

    def append(self, *, kind: str, body: Mapping[str, Any]) -> Entry:
        """Append one entry and return it."""
        return self.append_many([(kind, body)])[0]

    def append_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Entry]:
        """Append (kind, body) pairs in one transaction: all of them or none."""
        # Canonicalise before locking so bad input never holds the write lock.
        prepared = _prepare(items)
        if not prepared:
            return []
        with self.writer() as w:
            return w.append_prepared(prepared)

    @contextmanager
    def writer(self) -> Iterator[LedgerWriter]:
        """Hold the write lock for one transaction that may also write other tables.

        Projections (a party registry, an event index, an outbox) written through
        ``writer.conn`` commit or roll back together with the entries appended here, so
        they can never disagree with the log.
        """
        with self._lock:
            with self._transaction() as conn:
                writer = LedgerWriter(conn, self._clock, self._tip)
                yield writer
            # Committed: the next writer starts from this edge without reading the nodes.
            self._tip = writer.tip

    def size(self) -> int:
        """Return the number of entries."""
        with self._engine.connect() as conn:
            return _head(conn)[0]

    def _checked_size(self, conn: Connection, size: int | None) -> int:
        current = _head(conn)[0]
        if size is None:
            return current
        if not 0 <= size <= current:
            raise InvalidIndexError("size", size, f"need 0 <= size <= {current}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the tree of the first `size` entries (default: all)."""
        with self._engine.connect() as conn:
            return tree_root(SqlHashStore(conn), self._checked_size(conn, size))

    def entry(self, index: int) -> Entry:
        """Return the entry at `index`."""
        c = entries_table.c
        with self._engine.connect() as conn:
            row = conn.execute(select(entries_table).where(c.idx == index)).first()
            if row is None:
                size = _head(conn)[0]
                raise InvalidIndexError("index", index, f"no such entry; ledger size is {size}")
        record = bytes(row.record)
        parsed = parse_record(record, index=index)
        return Entry(
            index=row.idx,
            kind=parsed.kind,
            body=parsed.body,
            record=record,
            leaf_hash=bytes(row.leaf_hash),
            prev_hash=bytes(row.prev_hash),
        )

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of entry `index` in the tree of `size` entries."""
        with self._engine.connect() as conn:
            tree_size = self._checked_size(conn, size)
            return inclusion_proof(store=SqlHashStore(conn), leaf_index=index, tree_size=tree_size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Return the consistency proof from tree size `size1` to `size2` (default: all)."""
        with self._engine.connect() as conn:
            tree_size = self._checked_size(conn, size2)
            return consistency_proof(store=SqlHashStore(conn), size1=size1, size2=tree_size)

    def latest_checkpoint(self) -> str | None:
        """Return the most recently signed checkpoint note, or None."""
        c = checkpoints_table.c
        with self._engine.connect() as conn:
            return conn.execute(select(c.note).order_by(c.seq.desc()).limit(1)).scalar()

    def sign_checkpoint(self, signer: Signer | str) -> str:
        """Sign, store and return a checkpoint of the current tree.

        Refuses with InconsistentCheckpointError unless the tree, as read from the
        node store, is an append-only extension of the last checkpoint signed.
        """
        key = Signer.from_string(signer) if isinstance(signer, str) else signer
        c = checkpoints_table.c
        with self._write() as conn:
            size = _head(conn)[0]
            store = SqlHashStore(conn)
            root = tree_root(store, size)
            last = conn.execute(select(c.note).order_by(c.seq.desc()).limit(1)).scalar()
            if last is not None:
                self._check_extends(store=store, previous_note=last, size=size, root=root)
            note = sign_checkpoint(Checkpoint(origin=self._origin, size=size, root=root), key)
            conn.execute(
                insert(checkpoints_table).values(
                    size=size, root=root, note=note, created_at=self._clock()
                )
            )
        return note

    def _check_extends(
        self, *, store: HashStore, previous_note: str, size: int, root: bytes
    ) -> None:
        try:
            previous = parse_checkpoint(previous_note)
        except CheckpointFormatError as exc:
            raise InconsistentCheckpointError(
                -1, size, f"last checkpoint unreadable: {exc}"
            ) from exc
        old = previous.size
        if previous.origin != self._origin:
            raise InconsistentCheckpointError(old, size, f"origin was {previous.origin!r}")
        if old > size:
            raise InconsistentCheckpointError(old, size, "the tree shrank")
        if old == 0:
            if previous.root != EMPTY_ROOT:
                raise InconsistentCheckpointError(old, size, "empty-tree root is wrong")
            return
        try:
            proof = consistency_proof(store=store, size1=old, size2=size) if old < size else []
            verify_consistency(size1=old, size2=size, proof=proof, root1=previous.root, root2=root)
        except (ProofError, MissingNodeError) as exc:
            raise InconsistentCheckpointError(old, size, str(exc)) from exc
