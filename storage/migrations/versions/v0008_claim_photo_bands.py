"""Copied-photo search by index, not by a scan of every stored hash (issue 24):
``claim_photo_bands``.

One row per ``claim_photo_hashes`` row: the 64-bit pHash (as a signed BIGINT) and its three
bands (bits 63..42, 41..21 and 20..0), each band indexed together with the hash and the
id, so a claim's photos are looked up by band values
(multi-index hashing, ``claims.hash_bands``) instead of reading every stored hash. The ``id`` is given out in commit order: a search made
before the ledger's write lock re-checks under it only the rows above the highest id it
saw. Existing hashes are copied in by the upgrade, so searches find exactly what the
scan found.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BANDS = ("band0", "band1", "band2")
_SPLIT = ((42, 22), (21, 21), (0, 21))  # each band's (shift, width), as claims.hash_bands
_BATCH = 10_000  # rows per page while copying: bounded memory on a large database


def _bands_table() -> sa.Table:
    return sa.Table(
        "claim_photo_bands",
        sa.MetaData(),
        sa.Column("claim_id", sa.String(32)),
        sa.Column("position", sa.Integer()),
        sa.Column("phash", sa.BigInteger()),
        *(sa.Column(name, sa.Integer()) for name in _BANDS),
    )


def _signed(value: int) -> int:
    """A 64-bit hash as a signed BIGINT holds it (two's complement)."""
    return value - (1 << 64) if value >> 63 else value


def _backfill() -> None:
    """Cut every stored hash in bands, a page at a time (keyset, by primary key)."""
    conn = op.get_bind()
    hashes = sa.table(
        "claim_photo_hashes", sa.column("claim_id"), sa.column("position"), sa.column("phash")
    )
    key = sa.tuple_(hashes.c.claim_id, hashes.c.position)
    page = sa.select(hashes.c.claim_id, hashes.c.position, hashes.c.phash).order_by(
        hashes.c.claim_id, hashes.c.position
    )
    target = _bands_table()
    after: tuple[str, int] | None = None
    while True:
        query = page if after is None else page.where(key > sa.tuple_(*after))
        rows = conn.execute(query.limit(_BATCH)).all()
        if not rows:
            return
        conn.execute(
            target.insert(),
            [
                {
                    "claim_id": claim_id,
                    "position": position,
                    "phash": _signed(value),
                    **{
                        name: (value >> shift) & ((1 << width) - 1)
                        for name, (shift, width) in zip(_BANDS, _SPLIT, strict=True)
                    },
                }
                for claim_id, position, value in ((r[0], r[1], int(r[2], 16)) for r in rows)
            ],
        )
        after = (rows[-1].claim_id, rows[-1].position)


def upgrade() -> None:
    """Create ``claim_photo_bands``, copy every stored hash in, then index the bands."""
    op.create_table(
        "claim_photo_bands",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("phash", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _BANDS),
        sa.PrimaryKeyConstraint("id", name=op.f("claim_photo_bands_pkey")),
        sqlite_autoincrement=True,
    )
    _backfill()
    # Indexed after the copy: one sort per index instead of a million index inserts. Each
    # holds the hash and the id, so a lookup never reads the table (an index-only scan).
    for name in _BANDS:
        columns = [name, "phash", "id"]
        op.create_index(op.f(f"ix_claim_photo_bands_{name}"), "claim_photo_bands", columns)


def downgrade() -> None:
    """Drop it: copied photos are found by scanning ``claim_photo_hashes`` again."""
    for name in reversed(_BANDS):
        op.drop_index(op.f(f"ix_claim_photo_bands_{name}"), table_name="claim_photo_bands")
    op.drop_table("claim_photo_bands")
