"""Queued station batches keep their progress (issue 22): ``station_jobs.progress``.

Each item a run grades is kept on the job's row as it is graded (its grade, photos, lot),
so a run that dies part way leaves its work behind: the next run grades only the rest, and
the ledger still gets the batch's events in one transaction at the end. ``attempts`` then
counts the runs in a row that died without grading an item: a batch whose runs keep dying
at the same item fails, one that a crash interrupts does not.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``station_jobs.progress`` (JSON: position → the item's graded result)."""
    with op.batch_alter_table("station_jobs") as batch:
        batch.add_column(sa.Column("progress", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it: a pending job grades every item again."""
    with op.batch_alter_table("station_jobs") as batch:
        batch.drop_column("progress")
