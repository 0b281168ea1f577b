"""Column types every table shares: times stored and read back as aware UTC.

SQLite has no time zone type: SQLAlchemy writes a ``DateTime(timezone=True)`` as its wall
clock digits (an offset is dropped, so 10:00+02:00 is stored as 10:00) and reads it back
naive. ``UtcDateTime`` converts to UTC before storing and returns aware UTC datetimes on
every engine, so what the API answers always carries an offset, as its input must.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, event
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UtcDateTime", "aware_datetimes"]


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and reads back aware UTC on any engine.

    A naive value (written before this type existed, or by code that forgot the offset) is
    taken as UTC, as every writer here means it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware values converted to UTC; naive ones taken as UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Always aware, in UTC."""
        if value is None:
            return None
        if isinstance(value, str):  # a raw SQLite text the dialect did not parse
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aware_datetimes(metadata: MetaData) -> None:
    """Give every ``DateTime(timezone=True)`` column of ``metadata``'s tables ``UtcDateTime``,
    those defined already and those defined later (tables name the plain SQLAlchemy type)."""

    def swap(column: Column[Any]) -> None:
        if isinstance(column.type, DateTime) and column.type.timezone:
            column.type = UtcDateTime()

    for table in metadata.tables.values():
        for column in table.columns:
            swap(column)

    @event.listens_for(Column, "after_parent_attach")
    def _attached(column: Column[Any], table: Any) -> None:
        if isinstance(table, Table) and table.metadata is metadata:
            swap(column)
