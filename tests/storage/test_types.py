"""Times in the database: stored as UTC instants, read back aware (issue 21, item 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from storage.db import make_engine
from storage.schema import metadata
from storage.types import UtcDateTime, aware_datetimes


def test_a_table_on_the_shared_metadata_gets_aware_utc_times(tmp_path: Path) -> None:
    table = sa.Table(
        "test_times_shared",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("naive", sa.DateTime()),
    )
    try:
        assert isinstance(table.c.at.type, UtcDateTime)
        assert not isinstance(table.c.naive.type, UtcDateTime)  # only timezone=True columns
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        table.create(engine)
        plus2 = timezone(timedelta(hours=2))
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "at": datetime(2024, 5, 2, 10, tzinfo=plus2)}])
            conn.execute(table.insert(), [{"id": 2, "at": datetime(2024, 5, 2, 9)}])
            rows = dict(conn.execute(sa.select(table.c.id, table.c.at)).all())
            later = conn.execute(
                sa.select(table.c.id).where(table.c.at > datetime(2024, 5, 2, 8, 30, tzinfo=UTC))
            ).scalars()
        assert rows == {
            1: datetime(2024, 5, 2, 8, tzinfo=UTC),
            2: datetime(2024, 5, 2, 9, tzinfo=UTC),
        }
        assert list(later) == [2]  # compared as instants
        engine.dispose()
    finally:
        metadata.remove(table)


def test_tables_defined_before_are_converted_too() -> None:
    other = sa.MetaData()
    table = sa.Table("t", other, sa.Column("at", sa.DateTime(timezone=True)))
    aware_datetimes(other)
    assert isinstance(table.c.at.type, UtcDateTime)
