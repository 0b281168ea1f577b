"""Fixtures for the claims tests: the claims tables on SQLite, or on a PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import make_engine
from storage.schema import metadata
from tests.conftest import POSTGRES_URL, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def claims_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine with the claims tables: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        # make_engine: the production SQLite settings (WAL, busy timeout, any-thread use).
        engine = make_engine(f"sqlite:///{tmp_path / 'claims.db'}")
        metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    with postgres_schema("claims_test") as schema:
        engine = sa.create_engine(
            POSTGRES_URL, connect_args={"options": f"-c search_path={schema}"}
        )
        metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def sqlite_claims_db(tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine with the claims tables on SQLite only."""
    engine = make_engine(f"sqlite:///{tmp_path / 'claims.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
