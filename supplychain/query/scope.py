"""Which events a caller may read: those of the lots its parties took part in.

**Took part.** A party took part in a lot when an event on the ledger that is about the lot
(findable by one of its lot URIs or EPCs, ``supplychain.capture.lot_keys``) either

1. names the party as a possessing party, as the source or the destination of a handover
   (the sender, the receiver), or
2. was captured for the party (``captured_for``): by a key speaking for it, which the
   authorship rule (``supplychain.authorship``) found took part in the event (it held,
   handed over, received or saw the goods). A key's other parties are not recorded: a key
   for a farm and its DC writing the farm's packing opens the lot to the farm alone.

The party then reads **every** event about that lot, whoever captured it (the temperature
log an admin imported, the inspection of the next holder), and every event that names it by
(1) or (2) even when the event is about no lot. Bare lot numbers ("L1") do not join lots:
two companies' lot "L1" are two lots, so only URIs (which carry a company prefix) do.

Nothing else lets a key in: a party that is named nowhere sees nothing, however many events
the ledger holds. A key with no parties sees nothing. Staff keys (admin, auditor, adjudicator)
read everything: ``Scope.everything()``. The rule is SQL over the query index
(``supplychain.query.index``: the ``lotKey`` and ``party`` rows), so a page costs the same
however large the ledger outside the caller's lots grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, exists, or_, select, true
from sqlalchemy.orm import aliased

from supplychain.projections import event_lots, event_values
from supplychain.query.errors import NotYourLotError
from supplychain.query.index import LOT_KEY, PARTY

__all__ = ["Scope", "check_took_part", "took_part", "visible"]


@dataclass(frozen=True)
class Scope:
    """The parties a caller speaks for, or ``None`` for staff who read every event."""

    parties: frozenset[str] | None

    @classmethod
    def everything(cls) -> Scope:
        """Every event (admin, auditor, adjudicator)."""
        return cls(None)

    @classmethod
    def of_parties(cls, parties: Iterable[str]) -> Scope:
        """The events of the lots these parties took part in."""
        return cls(frozenset(parties))

    @property
    def fingerprint(self) -> str:
        """A short stable name of the scope: a page token is only good for the same scope."""
        text = "*" if self.parties is None else "\n".join(sorted(self.parties))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _names(parties: list[str], hash_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The event names one of ``parties`` (rule 1 or 2 above: its ``party`` index rows)."""
    mine = aliased(event_values, name="mine")
    return exists().where(
        and_(mine.c.hash_id == hash_id, mine.c.field == PARTY, mine.c.value.in_(parties))
    )


def visible(scope: Scope, hash_id: ColumnElement[str]) -> ColumnElement[bool]:
    """A condition on an event's ``hash_id``: the scope may read it (the rule above)."""
    if scope.parties is None:
        return true()
    parties = sorted(scope.parties)
    if not parties:
        return ~true()
    theirs = aliased(event_values, name="theirs")
    same = aliased(event_values, name="same")
    named = aliased(event_values, name="named")
    names_them = _names(parties, hash_id)
    # One of the event's lot keys is a key of an event naming one of the parties. Correlated,
    # per event: a few index lookups for each, however many lots the parties took part in.
    about_their_lot = exists().where(
        and_(
            theirs.c.hash_id == hash_id,
            theirs.c.field == LOT_KEY,
            same.c.field == LOT_KEY,
            same.c.value == theirs.c.value,
            named.c.hash_id == same.c.hash_id,
            named.c.field == PARTY,
            named.c.value.in_(parties),
        )
    )
    return or_(names_them, about_their_lot)


def took_part(conn: Connection, *, lot: str | Collection[str], scope: Scope) -> bool:
    """``scope`` took part in ``lot`` itself (any of the keys it is recorded under), by the
    rule above: an event recorded under the lot names one of its parties or was captured
    for one."""
    if scope.parties is None:
        return True
    keys = [lot] if isinstance(lot, str) else sorted(lot)
    hit = conn.execute(
        select(event_lots.c.hash_id)
        .where(event_lots.c.lot.in_(keys), _names(sorted(scope.parties), event_lots.c.hash_id))
        .limit(1)
    ).first()
    return hit is not None


def check_took_part(conn: Connection, *, lot: str | Collection[str], scope: Scope) -> None:
    """Raise ``NotYourLotError`` unless ``scope`` took part in ``lot`` itself by the rule above:
    an event recorded under the lot names one of its parties or was captured for one.

    Stricter than ``visible``, which also shows a party the events that merely touch its lot
    (the packing that consumed a farm's harvest lot): a farm reads that event, but the
    packed lot's own records are the packer's. The FSMA export of a lot asks this.

    A bare lot number ("L1") that several companies' lots share is resolved before this
    check (``supplychain.lot_names``: the caller's own lot of them, its URIs as ``lot``).
    """
    if scope.parties is not None and not took_part(conn, lot=lot, scope=scope):
        name = lot if isinstance(lot, str) else min(lot)
        raise NotYourLotError(name, scope.parties)
