"""The schema under Alembic: migrations and models agree, start-up refuses what it must.

Each test gets a fresh database: a SQLite file in tmp_path, or a throwaway PostgreSQL
schema (``postgres_schema``), so nothing leaks between them.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import random
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.database import TABLE_MODULES, load_tables
from api.services import build_services
from api.settings import Settings
from claims.duplicates import find_duplicates, scan_duplicates
from storage import migrate
from storage.db import make_engine
from storage.errors import UnknownRevisionError, UnmigratedDatabaseError
from storage.schema import metadata
from tests.conftest import postgres_schema, schema_url

HEAD = migrate.head_revision()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with postgres_schema("migrations_test") as schema:
        yield schema_url(schema)


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _schema(engine: sa.Engine) -> dict[str, Any]:
    """Everything reflection sees of each table: columns with types, defaults and
    autoincrement, the primary key, indexes and unique constraints, by name."""
    inspector = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == migrate.VERSION_TABLE:
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        }
    return out


def _settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "var", database_url=url, anchor_backend="none", **overrides)


def test_upgrade_from_empty_to_head_then_downgrade_to_base(engine: sa.Engine) -> None:
    state = migrate.upgrade(engine, metadata=load_tables())  # every migration, run
    assert state.current and state.found == HEAD
    assert set(state.tables) == set(load_tables().tables)

    state = migrate.downgrade(engine, revision="base")
    assert state.found is None and state.empty
    assert _tables(engine) == {migrate.VERSION_TABLE}  # Alembic's own, now with no row


def test_models_and_migrations_agree(engine: sa.Engine) -> None:
    migrate.upgrade(engine, metadata=load_tables())
    with engine.connect() as conn:
        assert migrate.schema_differences(conn, load_tables()) == []


def test_start_ups_shortcut_makes_what_the_migrations_make(url: str, tmp_path: Path) -> None:
    """An empty database at start-up gets ``create_all`` and a stamp: the same schema."""
    migrated = make_engine(url)
    migrate.upgrade(migrated, metadata=load_tables())
    by_migrations = _schema(migrated)
    migrate.downgrade(migrated, revision="base")
    migrated.dispose()

    services = build_services(_settings(tmp_path, url))
    try:
        assert _schema(services.engine) == by_migrations
        with services.engine.connect() as conn:
            assert migrate.schema_state(conn).current
    finally:
        services.close()


def test_every_table_is_on_the_shared_metadata_and_loaded() -> None:
    """A table defined anywhere in the serving packages is one the migrations know."""
    expected = set(load_tables().tables)
    for package in ("ledger", "claims", "stations", "storage", "api"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if info.name.startswith("storage.migrations"):  # env.py runs only under Alembic
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, sa.Table):
                    assert value.name in expected, f"{info.name}: {value.name} not in a migration"
    assert set(metadata.tables) == expected, f"TABLE_MODULES {TABLE_MODULES} misses a module"


def test_start_up_refuses_an_unmigrated_database_with_auto_upgrade_off(
    url: str, tmp_path: Path
) -> None:
    engine = make_engine(url)
    load_tables().create_all(engine)  # a database made before migrations
    engine.dispose()
    with pytest.raises(UnmigratedDatabaseError) as caught:
        create_app(_settings(tmp_path, url, db_auto_upgrade=False))
    assert caught.value.found is None and caught.value.expected == HEAD
    message = str(caught.value)
    assert "no migration revision" in message and HEAD in message
    assert "`freshproof db upgrade`" in message


def test_start_up_refuses_an_empty_database_with_auto_upgrade_off(url: str, tmp_path: Path) -> None:
    with pytest.raises(UnmigratedDatabaseError, match=r"empty.*freshproof db upgrade"):
        build_services(_settings(tmp_path, url, db_auto_upgrade=False))
    engine = make_engine(url)
    try:
        assert not set(_tables(engine)) - {migrate.VERSION_TABLE}  # nothing was created
    finally:
        engine.dispose()


@pytest.mark.parametrize("auto_upgrade", [True, False])
def test_start_up_refuses_a_database_newer_than_the_code(
    engine: sa.Engine, url: str, tmp_path: Path, auto_upgrade: bool
) -> None:
    migrate.upgrade(engine, metadata=load_tables())
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UnknownRevisionError) as caught:
        create_app(_settings(tmp_path, url, db_auto_upgrade=auto_upgrade))
    assert (caught.value.found, caught.value.expected) == ("9999", HEAD)
    assert f"revision 9999, which this code does not know (its newest is {HEAD})" in str(
        caught.value
    )


def test_start_up_runs_on_a_migrated_database_with_auto_upgrade_off(
    engine: sa.Engine, url: str, tmp_path: Path
) -> None:
    migrate.upgrade(engine, metadata=load_tables())
    services = build_services(_settings(tmp_path, url, db_auto_upgrade=False))
    try:
        assert services.ledger.size() == 0
    finally:
        services.close()


def _before_migrations(*, without: str) -> sa.MetaData:
    """The tables as start-up's ``create_all`` made them before migrations, one missing:
    on a MetaData without naming conventions, so unique constraints have no name of ours
    (PostgreSQL names them itself, SQLite not at all), and without the columns later
    migrations add."""
    old = sa.MetaData()
    for table in load_tables().sorted_tables:
        if table.name == without or table.name in migrate.TABLES_AFTER_0001:
            continue
        later = migrate.ADDED_AFTER_0001.get(table.name, frozenset())
        copy = sa.Table(
            table.name,
            old,
            *(
                sa.Column(
                    c.name,
                    sa.BigInteger()
                    if (table.name, c.name) in migrate.RETYPED_AFTER_0001
                    else c.type,
                    primary_key=c.primary_key,
                    nullable=c.nullable,
                    autoincrement=c.autoincrement,
                    unique=bool(c.unique),
                )
                for c in table.columns
                if c.name not in later
            ),
        )
        for index in table.indexes:
            if index.name in migrate.INDEXES_AFTER_0001:
                continue
            if not any(c.name in later for c in index.columns):
                sa.Index(index.name, *(copy.c[c.name] for c in index.columns))
    return old


def test_start_up_adopts_a_database_made_before_migrations(
    engine: sa.Engine, url: str, tmp_path: Path
) -> None:
    """Its tables are 0001's (a newer table missing): created, stamped 0001, upgraded."""
    _before_migrations(without="web_sessions").create_all(engine)
    assert "order_key" not in {c["name"] for c in sa.inspect(engine).get_columns("outbox")}
    with engine.begin() as conn:  # a one-entry log as writers before 0011 stored it
        conn.execute(
            sa.text(
                "INSERT INTO ledger_entries (idx, kind, record, prev_hash, leaf_hash, created_at) "
                "VALUES (0, 'k', :r, :z, :h, :c)"
            ),
            {"r": b"{}", "z": bytes(32), "h": bytes(32), "c": datetime.now(UTC)},
        )
        conn.execute(
            sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (0, 0, :h)"),
            {"h": bytes(32)},
        )
    services = build_services(_settings(tmp_path, url))
    try:
        assert "web_sessions" in _tables(services.engine)
        columns = sa.inspect(services.engine).get_columns("outbox")
        assert "order_key" in {c["name"] for c in columns}
        with services.engine.connect() as conn:
            assert migrate.schema_state(conn).current
            assert conn.execute(sa.text("SELECT count(*) FROM ledger_nodes")).scalar_one() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar_one() == 1
    finally:
        services.close()


def test_start_up_refuses_to_adopt_tables_unlike_the_models(
    engine: sa.Engine, url: str, tmp_path: Path
) -> None:
    load_tables().create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE parties DROP COLUMN name"))
    with pytest.raises(UnmigratedDatabaseError) as caught:
        build_services(_settings(tmp_path, url))
    assert caught.value.differences == ("add_column parties.name",)
    assert f"`freshproof db stamp {HEAD}`" in str(caught.value)


def _db(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["db", *args])
    return result.exit_code, result.stdout, result.stderr


def test_db_commands(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_DATABASE_URL", url)
    assert _db("current") == (1, "no revision (empty)\n", "")

    code, out, err = _db("upgrade")
    assert code == 0, err
    assert out == f"database at revision {HEAD} (head)\n"
    assert _db("current") == (0, f"revision {HEAD} (head)\n", "")
    engine = make_engine(url)
    try:
        assert _tables(engine) == {*load_tables().tables, migrate.VERSION_TABLE}

        code, out, err = _db("downgrade", "base")  # asks first; no answer is no
        assert code == 1 and "Aborted" in err
        assert _db("downgrade", "base", "--yes") == (0, "database at no revision (empty)\n", "")
        assert _tables(engine) == {migrate.VERSION_TABLE}

        code, out, err = _db("stamp", "0000")
        assert code == 1 and "0000" in err
    finally:
        engine.dispose()


def test_db_upgrade_refuses_a_database_newer_than_the_code(
    engine: sa.Engine, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_DATABASE_URL", url)
    migrate.upgrade(engine, metadata=load_tables())
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    code, out, err = _db("upgrade")
    assert code == 1 and out == ""
    assert err.startswith("error: the database is at migration revision 9999")


def test_a_new_revision_is_generated_from_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How a migration is added: change a model, `freshproof db revision -m ...`, upgrade."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    migrate._scripts.cache_clear()
    try:
        changed = sa.MetaData(naming_convention=metadata.naming_convention)
        for table in load_tables().sorted_tables:
            table.to_metadata(changed)
        sa.Table(
            "parcels",
            changed,
            sa.Column("id", sa.String(40), primary_key=True),
            sa.Column("lot", sa.String(300), nullable=False, index=True),
        )
        path = migrate.new_revision("add parcels", metadata=changed)
        following = f"{int(HEAD) + 1:04d}"
        assert path.parent == scripts / "versions" and path.name == f"v{following}_add_parcels.py"
        text = path.read_text()
        assert re.search(rf"down_revision: str \| None = .{HEAD}.", text) and "parcels" in text

        engine = make_engine(f"sqlite:///{tmp_path / 'next.db'}")
        try:
            state = migrate.upgrade(engine, metadata=changed)
            assert state.found == following and "parcels" in state.tables
            with engine.connect() as conn:
                assert migrate.schema_differences(conn, changed) == []
            assert migrate.downgrade(engine, revision=HEAD).found == HEAD
            assert "parcels" not in _tables(engine)
        finally:
            engine.dispose()
    finally:
        migrate._scripts.cache_clear()


def test_0008_indexes_the_photo_hashes_already_stored(engine: sa.Engine) -> None:
    """A database at 0007 with claims and their photo hashes: after 0008 the indexed search
    finds what the scan finds, exact copies and edge distances included; down again, the
    index is gone and the hashes are untouched."""
    migrate.upgrade(engine, metadata=load_tables(), revision="0007")
    rng = random.Random(8)
    stored = [rng.getrandbits(64) for _ in range(40)]
    now = datetime(2026, 12, 7, tzinfo=UTC)
    claim_row = {
        "request_hash": "0" * 64,
        "order_id": "o",
        "lot": "L",
        "category": "chilled",
        "line_value": 1,
        "currency": "EUR",
        "delivered_at": now,
        "status": "open",
        "defective": 1,
        "responsible_party": "carrier",
        "confidence": 0.9,
        "verdict": "{}",
        "ticket": "{}",
        "compensation": "{}",
        "verdict_idx": 0,
        "created_at": now,
    }
    claims = sa.table("claims", *(sa.column(c) for c in ["id", "evidence_idx", *claim_row]))
    hashes = sa.table(
        "claim_photo_hashes", *(sa.column(c) for c in ("claim_id", "position", "sha256", "phash"))
    )
    with engine.begin() as conn:
        for n in range(0, len(stored), 2):  # two photos per claim
            conn.execute(claims.insert().values(id=f"c{n:02d}", evidence_idx=n, **claim_row))
            conn.execute(
                hashes.insert(),
                [
                    {"claim_id": f"c{n:02d}", "position": p, "sha256": f"{n + p:064x}"}
                    | {"phash": f"{stored[n + p]:016x}"}
                    for p in (0, 1)
                ],
            )
    assert migrate.upgrade(engine, metadata=load_tables(), revision="0008").found == "0008"
    # Each stored hash again, and at 5, 6 and 7 bits from it (the threshold is 6).
    queries: list[int | None] = [
        h ^ sum(1 << b for b in rng.sample(range(64), bits))
        for h in stored
        for bits in (0, 5, 6, 7)
    ]
    with engine.connect() as conn:
        indexed = find_duplicates(conn=conn, phashes=queries, max_distance=6)
        assert indexed == scan_duplicates(conn=conn, phashes=queries, max_distance=6)
        bands = conn.execute(sa.text("SELECT count(*) FROM claim_photo_bands")).scalar_one()
    assert bands == len(stored)
    assert [len(found) >= 1 for found in indexed] == [True, True, True, False] * len(stored)

    assert migrate.downgrade(engine, revision="0007").found == "0007"
    assert "claim_photo_bands" not in _tables(engine)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM claim_photo_hashes")).scalar_one()
    assert count == len(stored)


def test_0010_indexes_the_events_already_captured(engine: sa.Engine) -> None:
    """Events captured with the query index, the index dropped (down to 0009) and made again
    by 0010's backfill from the ledger: the same rows capture wrote."""
    from ledger.log import Ledger
    from supplychain.capture import capture_events
    from supplychain.epcis import parse_document

    migrate.upgrade(engine, metadata=load_tables())
    data = Path(__file__).resolve().parent / "supplychain" / "data" / "epcis"
    ledger = Ledger(engine, create_tables=False)
    for name in (
        "object_shipping_inspection.json",
        "aggregation_packing.json",
        "transformation_repack.json",
    ):
        doc = parse_document((data / name).read_bytes())
        capture_events(ledger=ledger, events_in=doc, speaks_for=["urn:epc:id:pgln:4012345.00000"])

    def rows() -> tuple[list[Any], list[Any]]:
        with engine.connect() as conn:
            values = conn.execute(sa.text("SELECT * FROM epcis_event_values ORDER BY 1, 2, 3"))
            sensors = conn.execute(sa.text("SELECT * FROM epcis_event_sensors ORDER BY 1, 2, 3"))
            return [tuple(r) for r in values], [tuple(r) for r in sensors]

    captured = rows()
    assert len(captured[0]) > 20 and captured[1]
    assert migrate.downgrade(engine, revision="0009").found == "0009"
    assert "epcis_event_values" not in _tables(engine)
    assert migrate.upgrade(engine, metadata=load_tables(), revision="0010").found == "0010"
    assert rows() == captured


def test_0011_carries_a_ledger_over_to_the_append_layout(engine: sa.Engine) -> None:
    """A log written at 0010 (every subtree stored, levels 0 and up) migrates to the layout
    of 0011: the same entries, only the nodes of 16 leaves and more, the same roots and
    proofs, a clean audit; and back at 0010 the rows are those it started with."""
    from ledger.audit import audit
    from ledger.log import Ledger
    from tests.ledger.reference import ZERO, record

    assert migrate.upgrade(engine, metadata=load_tables(), revision="0010").found == "0010"
    size, prev, entries, leaves = 1000, ZERO, [], []
    for index in range(size):
        data = record(index=index, kind="k", body={"n": index}, prev=prev, ts="t")
        leaf = hashlib.sha256(b"\x00" + data).digest()
        entries.append({"i": index, "r": data, "p": prev, "l": leaf, "c": datetime.now(UTC)})
        leaves.append(leaf)
        prev = leaf
    nodes, level, row = [], 0, leaves
    while row:  # the layout before 0011: every perfect subtree, the leaves too
        nodes.extend({"a": level, "b": i, "h": digest} for i, digest in enumerate(row))
        row = [
            hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest()
            for i in range(0, len(row) - 1, 2)
        ]
        level += 1
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ledger_entries (idx, kind, record, prev_hash, leaf_hash, created_at) "
                "VALUES (:i, 'k', :r, :p, :l, :c)"
            ),
            entries,
        )
        conn.execute(
            sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:a, :b, :h)"), nodes
        )

    def rows(table: str, order: str) -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            got = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got]

    before = rows("ledger_entries", "idx"), rows("ledger_nodes", "level, idx")
    ledger = Ledger(engine, create_tables=False)
    sizes = [1, 15, 16, 17, 500, 999, size]
    proofs = [(ledger.root(n), ledger.inclusion_proof(n - 1, n)) for n in sizes]
    consistency = [ledger.consistency_proof(n, size) for n in sizes]

    assert migrate.upgrade(engine, metadata=load_tables()).found == HEAD
    assert rows("ledger_entries", "idx") == before[0]
    assert rows("ledger_nodes", "level, idx") == [n for n in before[1] if n[0] >= 4]
    assert [(ledger.root(n), ledger.inclusion_proof(n - 1, n)) for n in sizes] == proofs
    assert [ledger.consistency_proof(n, size) for n in sizes] == consistency
    report = audit(ledger, workers=2)
    assert (report.size, report.root) == (size, proofs[-1][0])
    assert audit(ledger, workers=1) == report
    assert ledger.append(kind="k", body={"n": size}).prev_hash == leaves[-1]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # idx is the rowid (no index beside the table); the nodes' key is their table.
            assert conn.exec_driver_sql("PRAGMA index_list(ledger_entries)").all() == []
            ddl = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ledger_nodes'"
            ).scalar_one()
            assert "WITHOUT ROWID" in ddl

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ledger_entries WHERE idx = :i"), {"i": size})
    assert migrate.downgrade(engine, revision="0010").found == "0010"
    assert (rows("ledger_entries", "idx"), rows("ledger_nodes", "level, idx")) == before


def test_0012_keys_the_claims_already_filed_by_their_lots(engine: sa.Engine) -> None:
    """Claims filed at 0011 by a lot's several names, on lots the ledger records: after 0012
    each has the key filing gives (claims.lot_keys) and its filing time; back at 0011 the
    keys are gone and the claims are as they were."""
    assert migrate.upgrade(engine, metadata=load_tables(), revision="0011").found == "0011"
    now = datetime(2026, 12, 10, tzinfo=UTC)
    one, twins = "urn:epc:class:lgtin:4012345.012345.ONE", "urn:epc:class:lgtin:{}.TWO"
    recorded = [  # (lot key, event): ONE is one lot; two companies' lots are numbered TWO
        (one, "e1"),
        ("ONE", "e1"),
        (twins.format("4012345.012345"), "e2"),
        ("TWO", "e2"),
        (twins.format("4099999.000001"), "e3"),
        ("TWO", "e3"),
    ]
    filed = {
        "c1": "https://shop.example/01/04012345123456/10/ONE",
        "c2": "ONE",
        "c3": one,
        "c4": "TWO",
        "c5": "NOT-ON-RECORD",
    }
    row = {
        "request_hash": "0" * 64,
        "order_id": "o",
        "category": "chilled",
        "line_value": 1,
        "currency": "EUR",
        "delivered_at": now,
        "status": "open",
        "defective": 1,
        "responsible_party": "carrier",
        "confidence": 0.9,
        "verdict": "{}",
        "ticket": "{}",
        "compensation": "{}",
        "evidence_idx": 0,
        "verdict_idx": 1,
        "created_at": now,
    }
    claims = sa.table("claims", *(sa.column(c) for c in ["id", "lot", *row]))
    lots = sa.table("epcis_event_lots", sa.column("lot"), sa.column("hash_id"))
    with engine.begin() as conn:
        conn.execute(lots.insert(), [{"lot": lot, "hash_id": h} for lot, h in recorded])
        conn.execute(claims.insert(), [{"id": i, "lot": lot, **row} for i, lot in filed.items()])

    assert migrate.upgrade(engine, metadata=load_tables(), revision="0012").found == "0012"
    with engine.connect() as conn:
        at = sa.column("created_at", sa.DateTime(timezone=True))
        keyed = sa.table("claim_lot_keys", sa.column("claim_id"), sa.column("lot_key"), at)
        rows = conn.execute(sa.select(keyed)).all()
    keys = {r.claim_id: r.lot_key for r in rows}
    assert {r.created_at.replace(tzinfo=r.created_at.tzinfo or UTC) for r in rows} == {now}
    ones = "https://id.gs1.org/01/04012345123456/10/ONE"
    assert keys == {"c1": ones, "c2": ones, "c3": ones, "c4": "TWO", "c5": "NOT-ON-RECORD"}

    assert migrate.downgrade(engine, revision="0011").found == "0011"
    assert "claim_lot_keys" not in _tables(engine)
    with engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT id, lot FROM claims")).all()) == filed


def test_0014_indexes_the_events_already_captured_by_their_identities(engine: sa.Engine) -> None:
    """Events indexed as 0013's code did (by their identifiers as captured: down to 0013) are
    found by the other form of an identifier after 0014: the lot by its Digital Link, the
    pallet (an SSCC) by its; the index is the one capture writes; back at 0013 it is not."""
    from ledger.log import Ledger
    from supplychain.capture import capture_events
    from supplychain.epcis import parse_document
    from supplychain.query import Scope, search_events

    migrate.upgrade(engine, metadata=load_tables())
    data = Path(__file__).resolve().parent / "supplychain" / "data" / "epcis"
    ledger = Ledger(engine, create_tables=False)
    for name in ("object_shipping_inspection.json", "aggregation_packing.json"):
        doc = parse_document((data / name).read_bytes())
        capture_events(ledger=ledger, events_in=doc, speaks_for=["urn:epc:id:pgln:4012345.00000"])

    def rows() -> tuple[list[Any], list[Any]]:
        with engine.connect() as conn:
            values = conn.execute(sa.text("SELECT * FROM epcis_event_values ORDER BY 1, 2, 3"))
            sensors = conn.execute(sa.text("SELECT * FROM epcis_event_sensors ORDER BY 1, 2, 3"))
            return [tuple(r) for r in values], [tuple(r) for r in sensors]

    def found(**params: str) -> int:
        page = search_events(
            engine=engine, params=params.items(), scope=Scope.everything(), secret=b"s" * 32
        )
        return len(page.events)

    lot_link = "https://shop.example/01/04012345123456/10/STRAW-0502"
    by_urn = {"MATCH_epcClass": "urn:epc:class:lgtin:4012345.012345.STRAW-0502"}
    pallet = {"MATCH_anyEPC": "https://id.gs1.org/00/040123450000000177"}
    captured = rows()
    assert found(MATCH_epcClass=lot_link) == found(**by_urn) > 0
    assert found(**pallet) > 0
    identities = [r for r in captured[0] if r[1].endswith(":identity")]
    assert identities and captured[1]

    assert migrate.downgrade(engine, revision="0013").found == "0013"
    assert rows() == ([r for r in captured[0] if r not in identities], captured[1])
    assert found(MATCH_epcClass=lot_link) == found(**pallet) == 0  # as 0013 indexed them
    assert migrate.upgrade(engine, metadata=load_tables(), revision="0014").found == "0014"
    assert rows() == captured
    assert found(MATCH_epcClass=lot_link) == found(**by_urn) > 0
    assert found(**pallet) > 0
