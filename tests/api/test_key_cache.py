"""Key lookups cached in process (issue 24): a revocation still holds everywhere within 1 s.

Two key stores on two engines over one database stand for two processes; each has its own
cache and a cache clock the test moves. The app-level check (two apps, one database, a
revocation through the API) is in ``test_shared_state.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.auth.key_cache import KeyCache
from api.auth.keys import KeyRejectedError, KeyStore, create_key_tables
from api.settings import Settings
from storage.db import make_engine
from tests.conftest import postgres_schema, schema_url

T0 = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class CountingEngine:
    """How many connections a store opened: each lookup that reads the table opens one."""

    def __init__(self, engine: sa.Engine) -> None:
        self.opened = 0
        sa.event.listen(engine, "checkout", self._checkout)

    def _checkout(self, *_: object) -> None:
        self.opened += 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keys.db'}"
        return
    with postgres_schema("key_cache") as schema:
        yield schema_url(schema)


@pytest.fixture
def engines(url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """Two engines on the one database, as two processes would have."""
    a, b = make_engine(url), make_engine(url)
    create_key_tables(a)
    yield a, b
    a.dispose()
    b.dispose()


def _store(engine: sa.Engine, clock: Clock, *, now: datetime = T0) -> KeyStore:
    return KeyStore(engine, clock=lambda: now, cache_seconds=1.0, cache_clock=clock)


def test_a_key_revoked_in_one_process_is_refused_by_another_within_a_second(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    clock = Clock()
    here, there = _store(engines[0], clock), _store(engines[1], clock)
    token, record = here.create(role="auditor", name="a", created_by="tests")
    assert there.authenticate(token).key_id == record.key_id  # read, and cached there
    here.authenticate(token)

    here.revoke(record.key_id, by="tests")
    # The revoking process refuses at once, whatever it had cached.
    with pytest.raises(KeyRejectedError) as refused:
        here.authenticate(token)
    assert refused.value.reason == "revoked"
    # The other one still has the row it read; once that is a second old, it reads again.
    clock.now += 0.999
    assert there.authenticate(token).key_id == record.key_id
    clock.now += 0.001
    with pytest.raises(KeyRejectedError) as refused:
        there.authenticate(token)
    assert refused.value.reason == "revoked"


def test_a_cached_key_is_not_read_again_within_its_time(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    clock = Clock()
    store = _store(engines[0], clock)
    token, _ = store.create(role="auditor", name="a", created_by="tests")
    reads = CountingEngine(engines[0])
    for _ in range(10):
        store.authenticate(token)
    assert reads.opened == 1
    clock.now += 1.0
    store.authenticate(token)
    assert reads.opened == 2


def test_a_wrong_secret_for_a_cached_key_is_refused(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    store = _store(engines[0], Clock())
    token, _ = store.create(role="auditor", name="a", created_by="tests")
    store.authenticate(token)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(KeyRejectedError) as refused:
        store.authenticate(forged)
    assert refused.value.reason == "unknown"


def test_expiry_is_judged_on_every_call_not_cached(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    now = [T0]
    store = KeyStore(engines[0], clock=lambda: now[0], cache_seconds=1.0, cache_clock=Clock())
    token, _ = store.create(
        role="auditor", name="a", created_by="tests", expires_in=timedelta(hours=1)
    )
    store.authenticate(token)
    now[0] = T0 + timedelta(hours=1)
    with pytest.raises(KeyRejectedError) as refused:
        store.authenticate(token)  # the cached row, judged against the clock now
    assert refused.value.reason == "expired"


def test_without_a_cache_every_call_reads_the_table(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    store = KeyStore(engines[0])  # the shell's store: no cache
    token, _ = store.create(role="auditor", name="a", created_by="tests")
    reads = CountingEngine(engines[0])
    store.authenticate(token)
    store.authenticate(token)
    assert reads.opened == 2


def test_a_key_is_never_cached_longer_than_a_second() -> None:
    with pytest.raises(ValueError, match="0 to 1 s"):
        KeyCache(1.5)
    with pytest.raises(ValueError, match="key_cache_seconds"):
        Settings(key_cache_seconds=2)
