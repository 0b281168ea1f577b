"""The database schema under Alembic, configured in code: no alembic.ini at run time.

The migrations ship in the package (``storage/migrations/versions``), one linear history
with revision ids ``0001``, ``0002``, ... Start-up (``ensure_schema``) and ``freshproof db``
(``upgrade``, ``downgrade``, ``stamp``, ``new_revision``) all come through here; each takes
the MetaData holding every table (``api.database.load_tables``), since this package does
not know which modules define them.

What start-up does with each database (``ensure_schema``):

1. at the code's head revision: nothing;
2. at a revision the code does not know (a newer release migrated it): refused;
3. with auto-upgrade off, anything else (empty, unversioned, behind): refused;
4. empty: ``create_all`` then stamped head (Alembic's documented way to start a database;
   much faster than replaying every migration, and the tests check both agree);
5. tables but no revision (made before migrations, by ``create_all``): adopted when its
   tables are the models' or a subset of them (the missing ones are created, as start-up
   did then) and stamped head; when they lack only what later migrations add
   (``ADDED_AFTER_0001``), stamped ``0001`` and upgraded; refused, with the differences,
   otherwise;
6. behind: upgraded to head.

It runs in one transaction that holds the database's write lock (an advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so processes starting together (an API and its
workers) take turns, and the DDL and the stamp commit together.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, MetaData, UniqueConstraint, inspect, text

from storage.db import make_engine
from storage.errors import UnknownRevisionError, UnmigratedDatabaseError

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "SchemaState",
    "config",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "new_revision",
    "schema_differences",
    "schema_state",
    "stamp",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
"""Alembic's script directory: env.py, the revision template and versions/."""

VERSION_TABLE = "alembic_version"
"""Where Alembic records the database's revision."""

# One pg_advisory_xact_lock key for schema changes, distinct from the ledger's writer lock.
_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"freshproof.migrations").digest()[:8], "big", signed=True
)
_UPGRADE = "`freshproof db upgrade`"


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision, the code's head, and the tables it has."""

    found: str | None
    """The database's revision (several comma-joined, were it ever branched); None: none."""
    expected: str
    """The code's head revision."""
    tables: tuple[str, ...]
    """Its tables, besides Alembic's own."""
    known: bool
    """Whether this code knows ``found`` (True when there is none)."""

    @property
    def current(self) -> bool:
        """At the code's head revision."""
        return self.found == self.expected

    @property
    def empty(self) -> bool:
        """No revision and no tables."""
        return self.found is None and not self.tables


def config(
    connection: Connection | None = None, *, target_metadata: MetaData | None = None
) -> Config:
    """An Alembic Config for the shipped migrations, run on ``connection`` when given."""
    cfg = Config(attributes={"connection": connection, "target_metadata": target_metadata})
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    # Sequential, importable file names: versions/v0002_add_a_column.py.
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.exists():  # a dev install: new revision files come out formatted
        hooks = "post_write_hooks"
        cfg.set_section_option(hooks, "hooks", "ruff_fix,ruff_format")
        for hook, options in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format")):
            cfg.set_section_option(hooks, f"{hook}.type", "exec")
            cfg.set_section_option(hooks, f"{hook}.executable", str(ruff))
            cfg.set_section_option(hooks, f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME")
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    # Read once per process: start-up on hundreds of test databases must stay cheap.
    return ScriptDirectory.from_config(config())


def head_revision() -> str:
    """The newest revision the code ships."""
    heads = _scripts().get_heads()
    if len(heads) != 1:  # a merge is missing; a packaging bug, not a database state
        raise RuntimeError(f"the shipped migrations have {len(heads)} heads: {heads}")
    return heads[0]


def _known(revisions: tuple[str, ...]) -> bool:
    try:
        return all(_scripts().get_revision(rev) is not None for rev in revisions)
    except CommandError:  # Alembic's "can't locate revision"
        return False


def schema_state(connection: Connection) -> SchemaState:
    """Where the database behind ``connection`` stands."""
    heads = MigrationContext.configure(connection).get_current_heads()
    tables = tuple(t for t in inspect(connection).get_table_names() if t != VERSION_TABLE)
    return SchemaState(
        found=",".join(heads) if heads else None,
        expected=head_revision(),
        tables=tuple(sorted(tables)),
        known=_known(heads),
    )


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's write lock; committed on success."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction before DDL, so each CREATE would commit (and
            # fsync) alone; an explicit one is atomic, ~5x faster, and waits out another
            # process starting on the same file.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def ensure_schema(engine: Engine, *, metadata: MetaData, auto_upgrade: bool) -> SchemaState:
    """Start-up: return the database's state at head, upgrading it if allowed, or refuse.

    Raises ``UnknownRevisionError`` for a database a newer release migrated, and
    ``UnmigratedDatabaseError`` for one that is not at head when ``auto_upgrade`` is off,
    or is unversioned with tables that are not the models'.
    """
    with _locked(engine) as conn:
        state = schema_state(conn)
        if state.current:
            return state
        _refuse_unknown(state)
        if not auto_upgrade:
            raise UnmigratedDatabaseError(state.found, state.expected, _behind(state))
        return _to_head(conn, state, metadata, fast=True)


def upgrade(engine: Engine, *, metadata: MetaData, revision: str = "head") -> SchemaState:
    """Upgrade the database to ``revision`` by running the migrations.

    A database made before migrations is adopted as start-up does; an empty one gets every
    migration run (start-up's shortcut is for embedded databases and tests).
    """
    with _locked(engine) as conn:
        state = schema_state(conn)
        _refuse_unknown(state)
        if revision in ("head", state.expected):
            return state if state.current else _to_head(conn, state, metadata, fast=False)
        if state.found is None and state.tables:
            raise UnmigratedDatabaseError(
                None,
                state.expected,
                "the database has tables but no migration revision: only "
                f"{_UPGRADE} to head adopts it",
            )
        command.upgrade(config(conn, target_metadata=metadata), revision)
        return schema_state(conn)


def downgrade(engine: Engine, *, revision: str) -> SchemaState:
    """Downgrade the database to ``revision``; ``base`` drops every table."""
    with _locked(engine) as conn:
        _refuse_unknown(schema_state(conn))
        command.downgrade(config(conn), revision)
        return schema_state(conn)


def stamp(engine: Engine, *, revision: str) -> SchemaState:
    """Record ``revision`` as the database's without running anything (a repaired database)."""
    with _locked(engine) as conn:
        command.stamp(config(conn), revision, purge=True)
        return schema_state(conn)


def schema_differences(connection: Connection, metadata: MetaData) -> list[str]:
    """How the database differs from ``metadata``, one line each (empty: they agree)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [_describe(diff) for diff in compare_metadata(context, metadata)]


def new_revision(message: str, *, metadata: MetaData) -> Path:
    """Write the next revision, autogenerated from ``metadata`` against the current head.

    The comparison runs on a scratch SQLite database upgraded to head, so no configured
    database is needed. Read the file it writes: autogenerate misses renames, and some
    changes need data moved by hand.
    """
    number = len(list(_scripts().walk_revisions())) + 1
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            with engine.connect() as conn, conn.begin():
                command.upgrade(config(conn), "head")
                script = command.revision(
                    config(conn, target_metadata=metadata),
                    message,
                    autogenerate=True,
                    rev_id=f"{number:04d}",
                )
        finally:
            engine.dispose()
    _scripts.cache_clear()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def _refuse_unknown(state: SchemaState) -> None:
    if state.found is not None and not state.known:
        raise UnknownRevisionError(state.found, state.expected)


def _behind(state: SchemaState) -> str:
    if state.empty:
        where = "the database is empty"
    elif state.found is None:
        where = "the database has tables but no migration revision (made before migrations?)"
    else:
        where = f"the database is at migration revision {state.found}"
    return (
        f"{where}; this code expects revision {state.expected} and does not change the "
        f"schema itself (FRESHPROOF_DB_AUTO_UPGRADE is off): run {_UPGRADE}"
    )


ADDED_AFTER_0001: dict[str, frozenset[str]] = {
    "outbox": frozenset({"order_key"}),
    "api_keys": frozenset({"approval_limit"}),
    "station_jobs": frozenset({"owner", "lease_until", "attempts", "progress"}),
    "station_reviews": frozenset({"family"}),
}
"""Columns later migrations add to tables of 0001: a database made before migrations lacks
them, and is adopted at 0001 then upgraded. A migration adding a column adds it here."""

REKEYED_AFTER_0001: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "claims": (("idempotency_key",), ("customer_id", "idempotency_key")),
}
"""Unique keys a later migration replaced, old → new (0005: idempotency keys per customer):
a database made before migrations has the old one."""

TABLES_AFTER_0001: frozenset[str] = frozenset(
    {
        "claim_reassessments",
        "claim_proposals",
        "api_key_requests",
        "claim_photo_bands",
        "review_queue",
        "epcis_event_values",
        "epcis_event_sensors",
        "claim_lot_keys",
        "held_captures",
        "held_capture_lots",
        "claim_families",
    }
)
"""Tables later migrations create: a database made before migrations never had them."""

INDEXES_AFTER_0001: frozenset[str] = frozenset({"ix_epcis_events_time"})
"""Indexes later migrations add to tables of 0001 (on columns they always had)."""

RETYPED_AFTER_0001: frozenset[tuple[str, str]] = frozenset({("ledger_entries", "idx")})
"""Columns a later migration gave another type (0011: SQLite's INTEGER PRIMARY KEY for the
ledger's idx, which was BIGINT): a database made before migrations has the old one."""


def _to_head(
    conn: Connection, state: SchemaState, metadata: MetaData, *, fast: bool
) -> SchemaState:
    if state.found is None and (state.tables or fast):
        older = _check_adoptable(conn, state, metadata) if state.tables else False
        # Empty, or made before migrations: what the models define, then stamped as head;
        # one that lacks later columns is 0001 plus the tables created here, and upgraded.
        # Tables later migrations create are left to them when the database is adopted.
        skip = TABLES_AFTER_0001 if older else frozenset()
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name not in skip])
        if older:
            MigrationContext.configure(conn).stamp(_scripts(), "0001")
            command.upgrade(config(conn, target_metadata=metadata), "head")
        else:
            MigrationContext.configure(conn).stamp(_scripts(), "head")
    else:
        command.upgrade(config(conn, target_metadata=metadata), "head")
    return schema_state(conn)


def _check_adoptable(conn: Connection, state: SchemaState, metadata: MetaData) -> bool:
    # Databases made before migrations had their tables created as the models said, and
    # missing ones added at each start; anything but missing tables, or the columns later
    # migrations add, is not such a database. True: it lacks those columns (it is at 0001).
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = compare_metadata(context, metadata)
    missing = {diff[1].name for diff in diffs if isinstance(diff, tuple) and diff[0] == "add_table"}
    inspector = inspect(conn)

    def added_later(diff: object) -> bool:
        if isinstance(diff, list):  # one column's changes: a type a later migration changed
            return bool(diff) and all(
                isinstance(d, tuple)
                and d[0] == "modify_type"
                and (d[2], d[3]) in RETYPED_AFTER_0001
                for d in diff
            )
        if not isinstance(diff, tuple):
            return False
        if diff[0] == "add_column":
            return diff[3].name in ADDED_AFTER_0001.get(diff[2], frozenset())
        if diff[0] in ("add_constraint", "remove_constraint") and isinstance(
            diff[1], UniqueConstraint
        ):
            old, new = REKEYED_AFTER_0001.get(diff[1].table.name, ((), ()))
            columns = tuple(c.name for c in diff[1].columns)
            return columns == (new if diff[0] == "add_constraint" else old)
        if diff[0] == "add_index" and diff[1].name in INDEXES_AFTER_0001:
            return True
        if diff[0] == "add_index" and diff[1].table.name not in missing:
            later = ADDED_AFTER_0001.get(diff[1].table.name, frozenset())
            return all(c.name in later for c in diff[1].columns)
        return False

    def same_then(diff: object) -> bool:
        if added_later(diff):
            return True
        if not isinstance(diff, tuple):
            return False
        kind, item = diff[0], diff[1]
        if kind == "add_table" or (kind == "add_index" and item.table.name in missing):
            return True
        if added_later(diff):
            return True
        # SQLite does not keep the name of a unique constraint made without one.
        if kind == "add_constraint" and isinstance(item, UniqueConstraint):
            columns = [c.name for c in item.columns]
            return any(
                u["column_names"] == columns
                for u in inspector.get_unique_constraints(item.table.name)
            )
        return False

    differences = [_describe(diff) for diff in diffs if not same_then(diff)]
    if differences:
        raise UnmigratedDatabaseError(
            None,
            state.expected,
            "the database has tables but no migration revision, and they differ from what "
            f"revision {state.expected} defines: {'; '.join(differences[:5])}"
            + (f" (and {len(differences) - 5} more)" if len(differences) > 5 else "")
            + ". Bring them in line by hand, then `freshproof db stamp "
            f"{state.expected}`",
            tuple(differences),
        )
    return any(added_later(diff) for diff in diffs) or _tree_below_level_4(conn, state)


def _tree_below_level_4(conn: Connection, state: SchemaState) -> bool:
    """Whether the ledger stores subtrees below level 4, as every writer before 0011 did."""
    if "ledger_nodes" not in state.tables:
        return False
    found = conn.execute(text("SELECT 1 FROM ledger_nodes WHERE level < 4 LIMIT 1")).first()
    return found is not None


def _describe(diff: object) -> str:
    """One line for an autogenerate difference (``compare_metadata``'s tuples and lists)."""
    if isinstance(diff, list):  # the changes to one column come grouped
        return "; ".join(_describe(d) for d in diff)
    if not isinstance(diff, tuple) or not diff:
        return repr(diff)
    kind = diff[0]
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind.startswith("modify_"):  # (kind, schema, table, column, info, old, new)
        return f"{kind} {diff[2]}.{diff[3]}: {diff[5]!r} -> {diff[6]!r}"
    item = diff[1]
    table = getattr(item, "table", None)
    name = getattr(item, "name", None) or "(unnamed)"
    return f"{kind} {table.name}.{name}" if table is not None else f"{kind} {name}"
