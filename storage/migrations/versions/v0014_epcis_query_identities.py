"""The EPCIS query finds an identifier in either form: the index's identity rows.

Capture now writes, beside each identifier of the EPC and class fields (``epc``,
``parentID``, ``inputEPC``, ``outputEPC``, ``epcClass``, ``inputEPCClass``,
``outputEPCClass``), its canonical GS1 Digital Link under ``<field>:identity`` when it was
captured in another form (``supplychain.query.index``). Events captured before have none:
each is indexed again here, its rows dropped and written by the function capture uses
(the ``epcis_query_index`` backfill, as v0010 did), read from its ledger entry.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.backfills import backfill

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1_000  # events per batch: bounded memory on a large ledger
# The fields this revision adds rows under (supplychain.query.index.identity_field).
_IDENTITY_FIELDS = tuple(
    f"{field}:identity"
    for field in (
        "epc",
        "parentID",
        "inputEPC",
        "outputEPC",
        "epcClass",
        "inputEPCClass",
        "outputEPCClass",
    )
)
_values = sa.table("epcis_event_values", sa.column("hash_id"), sa.column("field"))
_sensors = sa.table("epcis_event_sensors", sa.column("hash_id"))


def upgrade() -> None:
    """Index every event already captured again, with the identities of its identifiers."""
    conn = op.get_bind()
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
            break
        # Written whole again rather than topped up: the backfill inserts an event's rows.
        conn.execute(sa.delete(_values).where(_values.c.hash_id.in_(batch)))
        conn.execute(sa.delete(_sensors).where(_sensors.c.hash_id.in_(batch)))
        index(conn, batch)
        last = batch[-1]
    if conn.dialect.name == "postgresql":
        op.execute("ANALYZE epcis_event_values")


def downgrade() -> None:
    """Drop the identity rows: the index is again the one 0013's code writes."""
    op.execute(sa.delete(_values).where(_values.c.field.in_(_IDENTITY_FIELDS)))
