"""The one ``MetaData`` every table of the service is defined on, so one migration covers all.

It imports nothing of ours, so any module (ledger, claims, api) can define its tables on it
without an import cycle. Which modules define tables is the composition root's business
(``api.database.load_tables``); the migrations under ``storage/migrations`` create exactly
what those modules define.

Constraint and index names follow one convention, so a migration that drops or alters one
can name it. Primary and unique keys are named as PostgreSQL names unnamed ones
(``<table>_pkey``, ``<table>_<column>_key``): databases created before the migrations,
with unnamed constraints, carry the very same names.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from storage.types import aware_datetimes

__all__ = ["NAMING_CONVENTION", "metadata"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "%(table_name)s_pkey",
}
"""How unnamed constraints and indexes are named (SQLAlchemy naming conventions)."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""Every table of the service: the ledger, its projections, claims, keys, sessions, stations."""

# SQLite reads DateTime(timezone=True) back naive: every such column stores and returns UTC.
aware_datetimes(metadata)
