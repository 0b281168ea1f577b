"""Which lot a name means: a lot URI in any of its forms, or a bare lot number companies share.

A lot is recorded under its URIs (an LGTIN URN, a GS1 Digital Link with AI 10) and, for
finding it by what is printed on a pack, under its bare lot number. Two companies may both
print "L1": the bare number then names two lots (two GTINs), and reading it as one would mix
one company's custody and temperatures into the other's. So a bare number is resolved first:

1. The name is a URI (``:`` in it): it names its own lot, read under every URI of that lot
   its records were filed under (those of its lot number whose identity is the name's: a
   Digital Link on the pack finds the records the parties filed by the LGTIN URN).
2. Otherwise, the lot identities (canonical Digital Links, ``identity``) of the lot URIs
   with that lot number that the events filed under it carry. One: the name is that lot.
   Several: ``AmbiguousLotError`` naming them, unless the reader's scope narrows them (a
   supply-chain key to the lots its parties took part in).

``lots_named`` reads by these rules; ``identity_named`` says which one lot a name means, if
one (a claim's lot key, ``claims.lot_keys``).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from supplychain.errors import SupplyChainError
from supplychain.identifiers.digital_link import identity, is_lot_class, lot
from supplychain.projections import event_lots
from supplychain.query.scope import Scope, took_part

__all__ = ["AmbiguousLotError", "identity", "identity_named", "lots_named"]


class AmbiguousLotError(SupplyChainError):
    """A bare lot number names lots of several products (several GTINs): ask by its URI."""

    def __init__(self, name: str, lots: tuple[str, ...]) -> None:
        self.name, self.lots = name, lots
        self.reason = (
            f"lot number {name!r} names {len(lots)} lots of different products: "
            + ", ".join(lots)
            + "; ask by the lot's URI (its LGTIN or its Digital Link)"
        )
        super().__init__(self.reason)


def _lots_numbered(conn: Connection, name: str) -> dict[str, list[str]]:
    """The lots of bare lot number ``name`` on record (rule 2): each lot's identity with the
    lot URIs it was filed under. Empty: no lot of that number (or only items, legacy rows)."""
    under = select(event_lots.c.hash_id).where(event_lots.c.lot == name)
    rows = conn.execute(
        select(event_lots.c.lot).where(event_lots.c.hash_id.in_(under)).distinct()
    ).scalars()
    lots: dict[str, list[str]] = {}
    for key in rows:
        # Only the lots of that number: an event under it may name others (a
        # transformation's inputs and outputs).
        if is_lot_class(key) and lot(key) == name:
            lots.setdefault(identity(key), []).append(key)
    return lots


def _forms_of(conn: Connection, uri: str) -> tuple[str, ...]:
    """``uri`` and the other URIs of the same lot on record (rule 1): an item's EPC or any
    other URI that is no lot class names only itself."""
    number = lot(uri) if is_lot_class(uri) else None
    if number is None:
        return (uri,)
    return tuple(sorted({uri, *_lots_numbered(conn, number).get(identity(uri), ())}))


def identity_named(conn: Connection, name: str) -> str | None:
    """The identity (``identity``) of the one lot ``name`` means: a URI's own; a bare number's
    when exactly one lot of that number is on record. None: a bare number of no lot on record,
    or of several (whose is a person's call, not the machine's)."""
    if ":" in name:
        return identity(name)  # 1
    lots = _lots_numbered(conn, name)
    if len(lots) != 1:
        return None
    (ident,) = lots
    return ident  # 2


def lots_named(conn: Connection, name: str, *, scope: Scope | None = None) -> tuple[str, ...]:
    """The keys to read the lot ``name`` means by: for a lot URI, itself and the lot's other
    URIs its records were filed under (a customer scans the pack's Digital Link, the parties
    record its LGTIN URN); for a bare number of one lot, ``(name,)``; for a bare number of
    several, the keys of the one lot ``scope`` took part in
    (``supplychain.query.scope.took_part``), or ``AmbiguousLotError``. No records under
    ``name``: ``(name,)``."""
    if ":" in name:
        return _forms_of(conn, name)  # 1
    lots = _lots_numbered(conn, name)
    if len(lots) <= 1:
        return (name,)  # 2: one lot (or only items and legacy rows): as before
    kept = {
        ident: keys
        for ident, keys in lots.items()
        if scope is None or took_part(conn, lot=keys, scope=scope)
    }
    if len(kept) == 1:
        (keys,) = kept.values()
        return tuple(sorted(keys))
    if not kept:
        return (name,)  # none of them the reader's: its own check refuses, naming none
    raise AmbiguousLotError(name, tuple(sorted(kept)))
