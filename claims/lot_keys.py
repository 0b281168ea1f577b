"""A claim's lot key: the one name its lot goes by, whatever name the customer filed it by.

One lot has several names: its LGTIN URN, its GS1 Digital Link (on any host) and the
bare lot number printed on the pack. A customer scanning the pack's QR code, another typing
the number and a third pasting the URN all claim on the same lot, and the lot alert must
count them together. So each claim is keyed at filing by ``supplychain.lot_names``:

1. A lot URI: its identity (the canonical Digital Link).
2. A bare lot number of exactly one lot on record: that lot's identity.
3. A bare number of no lot on record, or of several (two companies' "L1"): the number
   itself. Several are not pooled: which company's lot the pack was is a person's call, and
   such a claim already goes to one (``AMBIGUOUS_LOT``); claims by that same bare number
   still count together.

The key is fixed at filing: records captured later do not re-key a claim.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select

from claims.tables import claim_lot_keys, claims
from storage.backfills import register_backfill
from supplychain.lot_names import identity_named

__all__ = ["fill_lot_keys", "lot_key"]


def lot_key(conn: Connection, lot: str) -> str:
    """The key of a claim filed on ``lot`` (rules 1 to 3 above)."""
    return identity_named(conn, lot) or lot


def fill_lot_keys(conn: Connection, claim_ids: Sequence[str]) -> None:
    """Key the claims ``claim_ids`` by their lots as the ledger knows them now, in ``conn``'s
    transaction (migration v0012 keys the claims filed before it)."""
    ids = list(dict.fromkeys(claim_ids))
    if not ids:
        return
    rows = conn.execute(
        select(claims.c.id, claims.c.lot, claims.c.created_at).where(claims.c.id.in_(ids))
    ).all()
    keys = {lot: lot_key(conn, lot) for lot in sorted({r.lot for r in rows})}
    conn.execute(delete(claim_lot_keys).where(claim_lot_keys.c.claim_id.in_(ids)))
    if rows:
        conn.execute(
            insert(claim_lot_keys),
            [{"claim_id": r.id, "lot_key": keys[r.lot], "created_at": r.created_at} for r in rows],
        )


register_backfill("claim_lot_keys", fill_lot_keys)
