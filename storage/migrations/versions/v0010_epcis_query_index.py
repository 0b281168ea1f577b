"""The EPCIS query's index (issue 26): ``epcis_event_values``, ``epcis_event_sensors``.

What ``GET /v1/events`` filters on, beside each event (``supplychain.query.index``): the
values its equality and MATCH filters compare (EPCs, classes, locations, parties, ...), and
per sensorReport number and unit the lowest and highest the event reports; and an index on
``epcis_events`` in event-time order for paging. Events captured before are indexed by the
upgrade with the function capture uses afterwards, read from their ledger entries.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.backfills import backfill

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1_000  # events per batch while indexing: bounded memory on a large ledger


def upgrade() -> None:
    """Create the two tables and the time index, and index every event already captured."""
    op.create_table(
        "epcis_event_values",
        sa.Column("hash_id", sa.String(length=120), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("hash_id", "field", "value", name=op.f("epcis_event_values_pkey")),
    )
    op.create_index("ix_event_values_lookup", "epcis_event_values", ["field", "value"])
    op.create_table(
        "epcis_event_sensors",
        sa.Column("hash_id", sa.String(length=120), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("uom", sa.String(length=20), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("hash_id", "field", "uom", name=op.f("epcis_event_sensors_pkey")),
    )
    op.create_index("ix_epcis_events_time", "epcis_events", ["event_time", "ledger_idx"])
    _backfill(op.get_bind())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE epcis_event_values")
        op.execute("ANALYZE epcis_event_sensors")


def _backfill(conn: sa.Connection) -> None:
    # The function capture calls (``supplychain.query.index.write_index``, registered when the
    # table modules are loaded): an indexed event reads as a newly captured one does.
    ids = sa.table("epcis_events", sa.column("hash_id"))
    if conn.execute(sa.select(ids.c.hash_id).limit(1)).first() is None:
        return  # nothing captured yet
    index = backfill("epcis_query_index")
    last = ""
    while True:
        batch = list(
            conn.execute(
                sa.select(ids.c.hash_id)
                .where(ids.c.hash_id > last)
                .order_by(ids.c.hash_id)
                .limit(_BATCH)
            ).scalars()
        )
        if not batch:
            return
        index(conn, batch)
        last = batch[-1]


def downgrade() -> None:
    """Drop them: the query reads nothing else, and code before this has no query."""
    op.drop_index("ix_epcis_events_time", table_name="epcis_events")
    op.drop_index("ix_event_values_lookup", table_name="epcis_event_values")
    op.drop_table("epcis_event_sensors")
    op.drop_table("epcis_event_values")
