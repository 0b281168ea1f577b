"""A station item left to a person keeps the family its station named:
``station_reviews.family``.

A person's grade of such an item is a labelled photo of a known family (produce, parcel,
can, pouch); ``freshproof feedback export`` carries the family, and
``freshproof models operating-points --feedback`` counts the export's val photos as evidence
for that family's operating points. Items left to a person before this revision have none
(a produce item's family is its kind's only one; a package's is unknown).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``station_reviews.family`` (nullable: the station may not name one)."""
    with op.batch_alter_table("station_reviews") as batch:
        batch.add_column(sa.Column("family", sa.String(12), nullable=True))


def downgrade() -> None:
    """Drop it: people's grades are then evidence of no family but produce."""
    with op.batch_alter_table("station_reviews") as batch:
        batch.drop_column("family")
