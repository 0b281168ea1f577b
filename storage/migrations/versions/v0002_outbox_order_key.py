"""Webhook deliveries carry an order key (a claim's id) so a claim's events arrive in order.

Existing rows get no key: they are delivered as before, each on its own backoff.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``outbox.order_key`` and its index."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("order_key", sa.String(length=200), nullable=True))
        batch.create_index("ix_outbox_order_key", ["order_key"])


def downgrade() -> None:
    """Drop them again (deliveries keep going, unordered)."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_order_key")
        batch.drop_column("order_key")
