"""Tenancy and jobs that outlive their process (issue 22): idempotency keys per customer,
batch ids per station, and leases on queued station jobs.

- ``claims``: the idempotency key is unique per customer, ``(customer_id, idempotency_key)``,
  not globally. Existing keys were globally unique, so they stay unique under the new key.
- ``station_batches`` and ``station_jobs`` are keyed ``(station_id, batch_id)``,
  ``station_reviews`` ``(station_id, batch_id, position)``: a batch id is its station's.
- ``station_jobs`` gains ``owner``, ``lease_until`` and ``attempts``. A job pending from
  before has no lease: the next process to start takes it over and grades it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPED = "claims_customer_idempotency_key"
_GLOBAL = "claims_idempotency_key_key"
# SQLite keeps no name for a unique key made without one (databases from before the
# migrations): batch mode names such a reflected key by this convention, to drop it.
_UNNAMED = {"uq": "%(table_name)s_%(column_0_name)s_key"}
_KEYS = {
    "station_batches": (["batch_id"], ["station_id", "batch_id"]),
    "station_jobs": (["batch_id"], ["station_id", "batch_id"]),
    "station_reviews": (["batch_id", "position"], ["station_id", "batch_id", "position"]),
}


def _rekey(table: str, columns: list[str]) -> None:
    """Make ``columns`` the table's primary key (named ``<table>_pkey``, as before)."""
    name = f"{table}_pkey"
    if op.get_bind().dialect.name == "sqlite":
        # SQLite changes a key by copying the table; a reflected key made without a name
        # (before the migrations) is named by the convention, so it can be dropped.
        with op.batch_alter_table(
            table, recreate="always", naming_convention={"pk": "%(table_name)s_pkey"}
        ) as batch:
            batch.drop_constraint(name, type_="primary")
            batch.create_primary_key(name, columns)
    else:
        op.drop_constraint(name, table, type_="primary")
        op.create_primary_key(name, table, columns)


def _global_keys() -> list[str]:
    """The names of ``claims``' unique keys on the idempotency key alone (one, or none)."""
    found = sa.inspect(op.get_bind()).get_unique_constraints("claims")
    return [u["name"] or _GLOBAL for u in found if u["column_names"] == ["idempotency_key"]]


def upgrade() -> None:
    """Scope the keys to their tenant; add the job leases."""
    with op.batch_alter_table("claims", naming_convention=_UNNAMED) as batch:
        for name in _global_keys():
            batch.drop_constraint(name, type_="unique")
        batch.create_unique_constraint(_SCOPED, ["customer_id", "idempotency_key"])
    for table, (_, columns) in _KEYS.items():
        _rekey(table, columns)
    with op.batch_alter_table("station_jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Global keys again: refused (an IntegrityError) while two tenants share a key or id."""
    with op.batch_alter_table("station_jobs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
        batch.drop_column("owner")
    for table, (columns, _) in _KEYS.items():
        _rekey(table, columns)
    with op.batch_alter_table("claims") as batch:
        batch.drop_constraint(_SCOPED, type_="unique")
        batch.create_unique_constraint(_GLOBAL, ["idempotency_key"])
