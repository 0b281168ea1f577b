"""API keys: issued once, stored only as a hash, refused for the right reason, in the ledger."""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.auth.keys import (
    ROLES,
    InvalidKeySpecError,
    KeyRejectedError,
    KeyStore,
    Principal,
    UnknownKeyError,
    api_keys,
    create_key_tables,
)
from ledger.log import Ledger
from storage.db import make_engine
from tests.conftest import POSTGRES_URL, postgres_schema

PARTY = "urn:epc:id:pgln:4012345.00000"
OTHER_PARTY = "urn:epc:id:pgln:4023333.00000"
READ_POINT = "urn:epc:id:sgln:4000001.00001.0"
T0 = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine with the key table: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
        create_key_tables(eng)
        yield eng
        eng.dispose()
        return
    with postgres_schema("keys_test") as schema:
        eng = sa.create_engine(POSTGRES_URL, connect_args={"options": f"-c search_path={schema}"})
        create_key_tables(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(engine: sa.Engine) -> Ledger:
    return Ledger(engine)


@pytest.fixture
def store(engine: sa.Engine, ledger: Ledger, clock: FakeClock) -> KeyStore:
    return KeyStore(engine, ledger=ledger, clock=clock)


def _rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(api_keys))]


def _admin(store: KeyStore, **kwargs: Any) -> tuple[str, Any]:
    return store.create(role="admin", name="ops", created_by="cli:alice", **kwargs)


# --- issuing and authenticating -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "bindings"),
    [
        ("customer_app", {"customer_id": "cust-42"}),
        ("supply_chain", {"parties": (PARTY, OTHER_PARTY)}),
        ("station", {"station_id": "dock-3", "read_point": READ_POINT}),
        ("adjudicator", {}),
        ("ml_engineer", {}),
        ("auditor", {}),
        ("admin", {}),
    ],
)
def test_a_created_key_authenticates_as_its_principal(
    store: KeyStore, role: str, bindings: dict[str, Any]
) -> None:
    token, record = store.create(
        role=role,
        name="  Shop app  ",
        created_by="cli:alice",
        expires_in=timedelta(days=30),
        **bindings,
    )
    principal = store.authenticate(token)
    assert principal == Principal(
        key_id=record.key_id,
        role=role,
        name="Shop app",
        expires_at=T0 + timedelta(days=30),
        **bindings,
    )
    assert principal == record.principal()
    assert principal.actor == f"key:fpk_{record.key_id} ({role})"
    assert record.created_at == T0 and record.created_by == "cli:alice"


def test_the_token_is_long_and_names_its_key_id(store: KeyStore) -> None:
    token, record = _admin(store)
    assert re.fullmatch(r"[0-9a-f]{8}", record.key_id)
    assert token.startswith(f"fpk_{record.key_id}_")
    assert len(token) >= 40
    assert re.fullmatch(r"fpk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", token)
    assert token != _admin(store)[0]


def test_the_table_never_holds_the_token_or_its_secret(store: KeyStore, engine: sa.Engine) -> None:
    tokens = [_admin(store)[0] for _ in range(3)]
    rows = _rows(engine)
    assert len(rows) == 3
    stored = " ".join(str(v) for row in rows for v in row.values())
    for token in tokens:
        secret = token[len("fpk_12345678_") :]
        assert token not in stored and secret not in stored
    hashes = {row["token_hash"] for row in rows}
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "",
        lambda t: "Bearer " + t,
        lambda t: t + "\n",
        lambda t: t + "A",
        lambda t: t[:-1],
        lambda t: t.upper(),
        lambda t: t.replace("fpk_", "fpx_"),
        lambda t: t[:12] + "é" + t[13:],
        lambda t: t.replace("_", "-", 1),
    ],
)
def test_a_malformed_token_is_refused_without_touching_the_database(
    store: KeyStore, engine: sa.Engine, mutate: Any
) -> None:
    token, _ = _admin(store)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(KeyRejectedError) as err:
        store.authenticate(mutate(token))
    assert err.value.reason == "malformed" and err.value.key_id is None
    assert statements == []


def test_a_well_formed_token_of_no_key_is_unknown(store: KeyStore) -> None:
    with pytest.raises(KeyRejectedError) as err:
        store.authenticate("fpk_0123abcd_" + "A" * 43)
    assert (err.value.reason, err.value.key_id) == ("unknown", "0123abcd")


def test_a_right_key_id_with_a_wrong_secret_is_unknown(store: KeyStore) -> None:
    token, record = _admin(store)
    forged = token[:-1] + ("B" if token[-1] != "B" else "C")
    with pytest.raises(KeyRejectedError) as err:
        store.authenticate(forged)
    assert (err.value.reason, err.value.key_id) == ("unknown", record.key_id)
    # The message names the public key id, never the secret.
    assert token[13:] not in str(err.value) and forged[13:] not in str(err.value)


def test_a_key_is_expired_from_its_expiry_on(store: KeyStore, clock: FakeClock) -> None:
    token, _ = _admin(store, expires_in=timedelta(hours=1))
    clock.advance(timedelta(minutes=59))
    assert store.authenticate(token).role == "admin"
    clock.advance(timedelta(minutes=1))
    with pytest.raises(KeyRejectedError) as err:
        store.authenticate(token)
    assert err.value.reason == "expired"


def test_a_revoked_key_is_refused(store: KeyStore) -> None:
    token, record = _admin(store)
    store.revoke(record.key_id, by="cli:bob")
    with pytest.raises(KeyRejectedError) as err:
        store.authenticate(token)
    assert err.value.reason == "revoked"


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "root"}, "role"),
        ({"role": "customer_app"}, "customer_id"),
        ({"role": "customer_app", "customer_id": ""}, "customer_id"),
        ({"role": "customer_app", "customer_id": "cust 42"}, "customer_id"),
        ({"role": "customer_app", "customer_id": "c" * 201}, "customer_id"),
        ({"role": "customer_app", "customer_id": "c1", "parties": [PARTY]}, "parties"),
        ({"role": "customer_app", "customer_id": "c1", "station_id": "s"}, "station_id"),
        ({"role": "supply_chain"}, "parties"),
        ({"role": "supply_chain", "parties": ["berry-farm"]}, "parties"),
        ({"role": "supply_chain", "parties": PARTY}, "parties"),
        ({"role": "supply_chain", "parties": [PARTY], "customer_id": "c1"}, "customer_id"),
        ({"role": "station", "station_id": "dock-3"}, "read_point"),
        ({"role": "station", "read_point": READ_POINT}, "station_id"),
        ({"role": "station", "station_id": "dock-3", "read_point": PARTY}, "read_point"),
        ({"role": "station", "station_id": "dock-3", "read_point": "dock 3"}, "read_point"),
        ({"role": "adjudicator", "customer_id": "c1"}, "customer_id"),
        ({"role": "admin", "parties": [PARTY]}, "parties"),
        ({"role": "auditor", "read_point": READ_POINT}, "read_point"),
        ({"role": "admin", "name": ""}, "name"),
        ({"role": "admin", "name": "   "}, "name"),
        ({"role": "admin", "name": "x" * 101}, "name"),
        ({"role": "admin", "name": "line\nbreak"}, "name"),
        ({"role": "admin", "expires_in": timedelta(0)}, "expires_in"),
        ({"role": "admin", "expires_in": timedelta(seconds=-1)}, "expires_in"),
        ({"role": "admin", "expires_in": timedelta(days=100_000)}, "expires_in"),
        ({"role": "admin", "created_by": ""}, "created_by"),
    ],
)
def test_a_key_spec_is_checked_against_its_role(
    store: KeyStore, engine: sa.Engine, ledger: Ledger, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"name": "k", "created_by": "cli:alice"} | kwargs
    with pytest.raises(InvalidKeySpecError) as err:
        store.create(**args)
    assert err.value.field == field and err.value.reason
    assert _rows(engine) == [] and ledger.size() == 0


def test_duplicate_parties_are_kept_once_in_order(store: KeyStore) -> None:
    token, record = store.create(
        role="supply_chain",
        name="ERP",
        created_by="cli:alice",
        parties=[OTHER_PARTY, PARTY, OTHER_PARTY],
    )
    assert record.parties == (OTHER_PARTY, PARTY)
    assert store.authenticate(token).parties == (OTHER_PARTY, PARTY)


# --- listing and revoking -------------------------------------------------------------------


def test_list_is_newest_first_and_shows_no_secret(store: KeyStore, clock: FakeClock) -> None:
    tokens = []
    for role in ROLES:
        bindings: dict[str, Any] = {
            "customer_app": {"customer_id": "cust-42"},
            "supply_chain": {"parties": [PARTY]},
            "station": {"station_id": "dock-3", "read_point": READ_POINT},
        }.get(role, {})
        tokens.append(store.create(role=role, name=role, created_by="cli:alice", **bindings)[0])
        clock.advance(timedelta(seconds=1))
    listed = store.list()
    assert [r.role for r in listed] == list(reversed(ROLES))
    assert all(r.created_at.tzinfo is not None for r in listed)
    shown = repr(listed) + repr([r.as_dict() for r in listed])
    for token in tokens:
        assert token not in shown and token[13:] not in shown
        assert hashlib.sha256(token.encode()).hexdigest() not in shown
    assert "token_hash" not in shown
    station = next(r for r in listed if r.role == "station").as_dict()
    assert station["bindings"] == {"station_id": "dock-3", "read_point": READ_POINT}
    assert station["created_at"] == "2024-05-02T10:00:02Z"


def test_revoking_twice_keeps_the_first_revocation(
    store: KeyStore, ledger: Ledger, clock: FakeClock
) -> None:
    _, record = _admin(store)
    first = store.revoke(record.key_id, by="cli:bob")
    assert (first.revoked_at, first.revoked_by) == (T0, "cli:bob")
    clock.advance(timedelta(hours=1))
    size = ledger.size()
    again = store.revoke(f"fpk_{record.key_id}", by="cli:carol")
    assert again == first and store.get(record.key_id) == first
    assert ledger.size() == size
    assert store.list()[0].state(clock()) == "revoked"


def test_revoking_an_unknown_key_fails_and_writes_nothing(store: KeyStore, ledger: Ledger) -> None:
    with pytest.raises(UnknownKeyError) as err:
        store.revoke("0123abcd", by="cli:bob")
    assert err.value.key_id == "0123abcd"
    assert ledger.size() == 0


# --- the ledger -----------------------------------------------------------------------------


def test_create_and_revoke_are_in_the_ledger_without_the_token(
    store: KeyStore, ledger: Ledger
) -> None:
    token, record = store.create(
        role="supply_chain", name="ERP", created_by="cli:alice", parties=[PARTY]
    )
    store.revoke(record.key_id, by="key:fpk_00000000 (admin)")
    created, revoked = ledger.entry(0), ledger.entry(1)
    assert created.kind == "key.created" and revoked.kind == "key.revoked"
    assert created.body == {
        "actor": "cli:alice",
        "key_id": record.key_id,
        "role": "supply_chain",
        "name": "ERP",
        "bindings": {"parties": [PARTY]},
        "expires_at": None,
    }
    assert revoked.body["actor"] == "key:fpk_00000000 (admin)"
    assert (revoked.body["key_id"], revoked.body["role"]) == (record.key_id, "supply_chain")
    digest = hashlib.sha256(token.encode()).hexdigest()
    for entry in (created, revoked):
        text = entry.record.decode()
        assert token not in text and token[13:] not in text and digest not in text


def test_the_row_and_its_entry_commit_together(engine: sa.Engine, clock: FakeClock) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("clock stopped")

    store = KeyStore(engine, ledger=Ledger(engine, clock=broken_clock), clock=clock)
    with pytest.raises(RuntimeError):
        _admin(store)
    assert _rows(engine) == []


def test_without_a_ledger_keys_still_work(engine: sa.Engine) -> None:
    store = KeyStore(engine)
    token, record = _admin(store)
    assert store.authenticate(token).key_id == record.key_id
    assert store.revoke(record.key_id, by="cli:bob").revoked_by == "cli:bob"


def test_the_ledger_must_share_the_engine(engine: sa.Engine, tmp_path: Path) -> None:
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(ValueError, match="same engine"):
        KeyStore(engine, ledger=Ledger(other))
    other.dispose()


# --- the first admin ------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bootstrap_makes_one_admin_readable_by_its_owner_only(
    store: KeyStore, ledger: Ledger, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    path = store.bootstrap_admin(data_dir)
    assert path == data_dir / "admin.key"
    assert _mode(path) == 0o600
    token = path.read_text().strip()
    principal = store.authenticate(token)
    assert (principal.role, principal.name) == ("admin", "first admin")
    assert store.list()[0].created_by == "bootstrap"
    assert ledger.entry(0).body["actor"] == "bootstrap"

    assert store.bootstrap_admin(data_dir) is None
    assert path.read_text().strip() == token
    assert [r.role for r in store.list()] == ["admin"]
    assert list(data_dir.iterdir()) == [path]  # no temporary file left behind


def test_bootstrap_replaces_a_lost_admin_and_its_file_safely(
    store: KeyStore, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "admin.key"
    path.write_text("stale\n")
    path.chmod(0o644)
    _admin(store, expires_in=timedelta(days=1))
    _, revoked = _admin(store)
    store.revoke(revoked.key_id, by="cli:bob")
    assert store.bootstrap_admin(tmp_path) is None  # the expiring one is still active
    assert path.read_text() == "stale\n"

    clock.advance(timedelta(days=1))
    assert store.bootstrap_admin(tmp_path) == path
    assert _mode(path) == 0o600
    assert store.authenticate(path.read_text().strip()).name == "first admin"


def test_non_admin_keys_do_not_stop_the_bootstrap(store: KeyStore, tmp_path: Path) -> None:
    store.create(role="auditor", name="audit", created_by="cli:alice")
    assert store.bootstrap_admin(tmp_path) is not None
