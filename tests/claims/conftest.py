"""Fixtures for the claims tests: the claims tables on SQLite, or on a PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import make_engine
from storage.schema import metadata


@pytest.fixture
def claims_db(store_db: sa.Engine) -> sa.Engine:
    """An engine with the claims tables: SQLite in tmp_path, or a fresh PostgreSQL schema
    (``tests.conftest.store_db``)."""
    return store_db


@pytest.fixture
def sqlite_claims_db(tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine with the claims tables on SQLite only."""
    engine = make_engine(f"sqlite:///{tmp_path / 'claims.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
