"""Fixtures for the ledger tests: SQLite and PostgreSQL engines, a fixed clock, keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import Ledger, generate_key
from tests.conftest import POSTGRES_URL, postgres_schema

KEY_NAME = "test.freshproof.local/ledger"


class StepClock:
    """A deterministic clock: each call is one second after the previous one."""

    def __init__(self) -> None:
        self._now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


@dataclass(frozen=True)
class DbSpec:
    """How to reach a test database: a URL plus driver connect_args."""

    url: str
    connect_args: dict[str, str] = field(default_factory=dict)

    def engine(self) -> sa.Engine:
        """Create an engine for this database."""
        return sa.create_engine(self.url, connect_args=self.connect_args)


@contextmanager
def _postgres_schema() -> Iterator[DbSpec]:
    """A throwaway schema as a spec confined to it (search_path), dropped afterwards."""
    with postgres_schema("ledger_test") as schema:
        yield DbSpec(POSTGRES_URL, {"options": f"-c search_path={schema}"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbSpec]:
    """An empty database: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield DbSpec(f"sqlite:///{tmp_path / 'ledger.db'}")
        return
    with _postgres_schema() as spec:
        yield spec


@pytest.fixture
def db(db_spec: DbSpec) -> Iterator[sa.Engine]:
    """An engine on the empty database of `db_spec`."""
    engine = db_spec.engine()
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty SQLite database in tmp_path."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> StepClock:
    """A deterministic clock."""
    return StepClock()


@pytest.fixture
def ledger(db: sa.Engine, clock: StepClock) -> Ledger:
    """A Ledger on an empty database (SQLite and PostgreSQL)."""
    return Ledger(db, clock=clock)


@pytest.fixture
def sqlite_ledger(sqlite_db: sa.Engine, clock: StepClock) -> Ledger:
    """A Ledger on an empty SQLite database."""
    return Ledger(sqlite_db, clock=clock)


@pytest.fixture(scope="session")
def keys() -> tuple[str, str]:
    """(signer key, verifier key) for checkpoint signing."""
    return generate_key(KEY_NAME)


Items = list[tuple[str, dict[str, object]]]


def _bodies(n: int, start: int = 0) -> Items:
    return [
        ("claim.opened", {"claim": f"c-{i:06d}", "n": i, "ok": i % 2 == 0})
        for i in range(start, start + n)
    ]


@pytest.fixture
def bodies() -> Callable[..., Items]:
    """Factory of n distinct (kind, body) pairs: bodies(n, start=0)."""
    return _bodies
