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
(``supplychain.query.index``: the ``lotKey`` and ``party`` rows): the events naming the
parties' lot keys are found once per query through the index, and each event the query
walks is checked by a few index probes, so a page costs a lookup per event walked: a party's
page stops at its page size, and an outsider's query walks every event once to find none
(10,000 in a few hundredths of a second), never a scan of the ledger per event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, or_, select, true
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


def _naming(parties: list[str]) -> Select[tuple[str]]:
    """The events that name one of ``parties`` (rule 1 or 2 above: their ``party`` rows)."""
    named = aliased(event_values, name="named")
    return select(named.c.hash_id).where(named.c.field == PARTY, named.c.value.in_(parties))


def _names(parties: list[str], hash_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The event names one of ``parties`` (rule 1 or 2 above: its ``party`` index rows)."""
    naming = _naming(parties)
    return naming.where(naming.selected_columns.hash_id == hash_id).exists()


def visible(scope: Scope, hash_id: ColumnElement[str]) -> ColumnElement[bool]:
    """A condition on an event's ``hash_id``: the scope may read it (the rule above)."""
    if scope.parties is None:
        return true()
    parties = sorted(scope.parties)
    if not parties:
        return ~true()
    # The lot keys of the events naming the parties: one uncorrelated set, which the
    # database computes once per query through the index. Each event the query walks (in
    # the order asked, up to the page) is then checked by a few index probes: its own
    # ``party`` rows, and its ``lotKey`` rows against that set. (Joining the lot keys inside
    # the correlated test instead, SQLite started from every lotKey row of the ledger for
    # each event walked: an outsider's query was quadratic in the ledger's size.)
    same = aliased(event_values, name="same")
    their_lot_keys = select(same.c.value).where(
        same.c.field == LOT_KEY, same.c.hash_id.in_(_naming(parties))
    )
    theirs = aliased(event_values, name="theirs")
    about_their_lot = exists().where(
        and_(
            theirs.c.hash_id == hash_id,
            theirs.c.field == LOT_KEY,
            theirs.c.value.in_(their_lot_keys),
        )
    )
    return or_(_names(parties, hash_id), about_their_lot)


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
