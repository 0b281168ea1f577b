"""The key tables: one row per API key, one per key request (names and columns are the
schema's; ``storage/migrations`` creates them)."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Integer, Numeric, String, Table, Text

from storage.schema import metadata

__all__ = ["api_key_requests", "api_keys", "create_key_tables", "keys_metadata"]

_NAME_MAX = 100
_ID_MAX = 200
_STATION_MAX = 100


keys_metadata = metadata
"""The MetaData the key table is defined on: the shared one (``storage.schema``)."""

api_keys = Table(
    "api_keys",
    keys_metadata,
    Column("key_id", String(8), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(_NAME_MAX), nullable=False),
    Column("customer_id", String(_ID_MAX)),
    Column("parties", Text, nullable=False),  # JSON array of party ids
    Column("station_id", String(_STATION_MAX)),
    Column("read_point", String(_ID_MAX)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(_ID_MAX), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(_ID_MAX)),
    # adjudicator: the most it approves as the second person (null: nothing above the limit).
    Column("approval_limit", Numeric(12, 2)),
)
"""One row per key: its public id, the SHA-256 of its token, role, bindings and history."""

api_key_requests = Table(
    "api_key_requests",
    keys_metadata,
    Column("request_id", String(8), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("name", String(_NAME_MAX), nullable=False),
    Column("customer_id", String(_ID_MAX)),
    Column("parties", Text, nullable=False),  # JSON array of party ids
    Column("station_id", String(_STATION_MAX)),
    Column("read_point", String(_ID_MAX)),
    Column("expires_in_s", Integer),  # the key's lifetime once issued; null: never expires
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("requested_by", String(_ID_MAX), nullable=False),
    Column("answer", String(10)),  # approve | reject; null while pending
    Column("answered_at", DateTime(timezone=True)),
    Column("answered_by", String(_ID_MAX)),
    Column("note", Text),
    Column("key_id", String(8)),  # the key issued on approval
)
"""One row per key request waiting for (or answered by) a second admin; never a secret."""


def create_key_tables(engine: sa.Engine) -> None:
    """Create the key tables if missing (tests; the service migrates: ``api.database``)."""
    keys_metadata.create_all(engine, tables=[api_keys, api_key_requests])


def free_id(conn: sa.Connection, column: sa.Column[str]) -> str:
    # 32 bits: a clash is rare but possible in a big table; pick again rather than fail.
    while True:
        new_id = secrets.token_hex(4)
        if conn.execute(sa.select(column).where(column == new_id)).first() is None:
            return new_id
