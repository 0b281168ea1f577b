"""Who may write about a lot: a record's author took part in the stretch it describes.

The ledger names who captured each event (``captured_by``) and the parties the capturing
key speaks for (``captured_for``); this rule makes that count at capture (issue 22). A
supply-chain key may add an event about a lot only for the part of the lot's history in
which one of its parties took part, read from the lot's records already on the ledger plus
the events before it in the same document (custody by ``supplychain.custody.custody``, the rule
the trace and the verdicts use):

0. An event that names possessing parties must name one the key speaks for: a key never
   speaks for another party's possession (``names-another-party``).
1. The party took part at the event's time: as the **holder** then; as the **sender or
   receiver named by a handover record** within ``slack`` of it (clocks drift); or in the
   stretch a handover opened and nobody confirmed yet (a late receipt, a shipment naming
   no receiver), when that handover named it.
2. The event is at the party's own **read point or business location** (its GS1 company
   prefix, or its GLN, matches the party's) at a time **no party is on record as holding
   the goods** (a stretch a handover left unconfirmed, or a lot with no custody recorded
   yet): the party saw them at its own place. While another party holds them on record, or
   before the recorded custody begins, a read point is the capturer's own word against the
   record, so it does not let it in (an outsider could otherwise name its own site and
   write about any lot, and so read its history).
3. **A new lot** (no custody recorded yet): the event names the party (the supplier's
   commissioning, packing or shipping; a receiver whose records arrive first). **Before the
   recorded custody begins**: only the party the recorded custody begins with (records
   arriving out of order), naming itself, handing the goods to nobody, to itself or to a
   party the history already names (its shipment to the receiver whose receipt is on
   record, recorded more than ``slack`` before it). A party enters a lot's history only
   when the history names it: an earlier sender joins once its receiver records the
   receipt naming it, and a record dated before the history cannot put anyone into it (an
   outsider's "commissioned" a year earlier would read the lot's whole history).
4. **Taking over**: the event names the party as the receiver, from a sender whose own side
   of the handover is on record: a record naming that sender as the source, within
   ``slack`` or opening the unconfirmed stretch the event falls in, that hands the goods to
   this receiver or is a shipment naming no receiver; or that record, or the one that gave
   the sender the goods, cites a business transaction the receiver issued (its purchase
   order: a carrier that records nothing delivers under it). Or from nobody named, in a
   stretch a handover left unconfirmed (not before the recorded custody begins: step 3
   alone decides there). A receipt naming the holder as its sender with nothing on record
   from the holder is the capturer's word against the record: it would make any key a
   custodian whose inspection at receipt counts against the party it names, so the
   receipt is refused until the sender's shipment is on record (the capture holds such a
   document meanwhile, ``awaits_sender`` and ``supplychain.held``). While another
   party holds the goods on record, a receipt from nobody is the capturer's word against
   the record too (as in (2)): it would let any key write itself into any lot, and so read
   the lot's whole history through the EPCIS query and the FSMA export (issue 26).

Otherwise the event is refused (``not-your-custody``), naming the parties who did take part
then to a key one of whose parties the lot's history names (it reads the lot's trace
anyway); an outsider is told no names, or a refusal would tell it who held any lot when,
one probe at a time, the custody the trace keeps from it (``supplychain.query.scope``). An
event naming no party is the capturing party's own observation, so it needs (1), (2) or
(3). An event about several lots or items (its lot URIs, its EPCs) passes only when every
one of them passes; a lot is one lot in any form (``identity``: its URN and its Digital
Link are one history), and a bare lot number is no lot (two companies' "L1"). Pure: histories in,
typed decisions out; ``lot_histories`` reads them from the event index.

**For whom it is captured.** A key may speak for several parties (a farm's and its DC's ERP),
not all of which took part in every event it writes. An allowed event is decided for the first
of the key's parties the rule finds (in the order above), and then for each other party of the
key alone: the ``Allowed`` decisions name every party of the key that took part. Capture
records them (with the key's parties the event names as sender or receiver) as the event's
``captured_for`` (``supplychain.capture``), which lets a party read the lot
(``supplychain.query.scope``) and says whose interest a late record serves (GUIDE §4 rule 6):
the farm's packing of its own lot is captured for the farm, not for the DC the key also
speaks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, select

from supplychain.capture import lot_keys
from supplychain.custody import Handover, LotEvent, custody
from supplychain.epcis import CaptureEvent
from supplychain.errors import SupplyChainError
from supplychain.lot_names import identity
from supplychain.projections import event_lots, event_values, events

__all__ = [
    "HANDOVER_SLACK",
    "Allowed",
    "Basis",
    "NotYourCustodyError",
    "Refused",
    "awaits_sender",
    "bound_to",
    "check_authorship",
    "decide_authorship",
    "identities",
    "issued_by",
    "lot_histories",
    "owns_location",
]

# Parties' clocks drift: a record a few minutes from a handover is part of it (the claims
# timeline reads receipts with the same slack).
HANDOVER_SLACK = timedelta(minutes=5)

Basis = Literal["holder", "handover", "read_point", "before_history", "taking_over"]
Rule = Literal["names-another-party", "not-your-custody"]


@dataclass(frozen=True)
class Allowed:
    """The caller may author event ``event_index`` about ``lot``: ``party`` took part."""

    event_index: int
    lot: str
    party: str
    basis: Basis


@dataclass(frozen=True)
class Refused:
    """The caller may not author event ``event_index`` about ``lot``, by ``rule``.

    ``needs`` are the parties that did take part at ``at`` (one of them may record it),
    empty when ``withheld`` (the caller is named nowhere in the lot's history: who held the
    lot is not its business); ``caller`` the parties the key speaks for; ``misnamed`` the
    caller's parties the event names only under another source or destination type than
    ``possessing_party`` (``(side, type, party)``: custody reads possession alone, so an
    ERP that writes ``owning_party`` is told why its own handover does not count).
    """

    event_index: int
    lot: str
    at: datetime
    rule: Rule
    needs: tuple[str, ...]
    caller: tuple[str, ...]
    withheld: bool = False
    misnamed: tuple[tuple[str, str, str], ...] = ()

    @property
    def reason(self) -> str:
        """The refusal in words, for the problem detail."""
        mine = ", ".join(self.caller) or "no party"
        at = self.at.isoformat().replace("+00:00", "Z")
        if self.rule == "names-another-party":
            return (
                f"event {self.event_index} names the possession of {', '.join(self.needs)}; "
                f"this key speaks for {mine} only (names-another-party)"
            )
        if self.needs:
            who = f"only {', '.join(self.needs)} took part then"
        elif self.withheld:
            who = "its parties are named only to a party on record in it"
        else:
            who = "no party is on record then"
        hint = "".join(
            f"; the event names {party} as its {kind} {side}, which says nothing of "
            f"custody: a handover names its parties as possessing_party {side}s"
            for side, kind, party in self.misnamed
        )
        return (
            f"event {self.event_index} is about lot {self.lot} at {at}, where {who}; this key "
            f"speaks for {mine}, none of which held the lot, handed it over or received it, "
            "nor owns the event's read point (not-your-custody: a key adds records only for "
            f"the part of a lot's history its parties took part in){hint}"
        )


Decision = Allowed | Refused


class NotYourCustodyError(SupplyChainError):
    """An event is about a part of a lot's history none of the caller's parties took part in.

    ``refused`` is the refusal the problem names (the document's first); ``refusals`` every
    refusal of the document, which decides whether it may wait for a sender's record
    (``supplychain.held``).
    """

    def __init__(self, refused: Refused, refusals: Sequence[Refused] = ()) -> None:
        self.refused = refused
        self.refusals = tuple(refusals) or (refused,)
        self.reason = refused.reason
        super().__init__(self.reason)


# --------------------------------------------------------------------------- locations

_URN = re.compile(r"urn:epc:id:(?:sgln|pgln):([0-9]+)\.([0-9]*)(?:\.[!-~]*)?")
_DL = re.compile(r"https://id\.gs1\.org/(?:414|417)/([0-9]{13})(?:/254/[!-~]+)?")


def _gs1(ident: str) -> tuple[str | None, str | None]:
    """(company prefix, GLN without its check digit) of an SGLN/PGLN URN or a DL 414/417.

    A Digital Link does not say where its company prefix ends: only its GLN is known.
    """
    if m := _URN.fullmatch(ident):
        return m.group(1), (m.group(1) + m.group(2))[:12]
    if m := _DL.fullmatch(ident):
        return None, m.group(1)[:12]
    return None, None


def owns_location(party: str, location: str) -> bool:
    """The location is the party's: the same GS1 company prefix, or the same GLN."""
    (p_prefix, p_gln), (l_prefix, l_gln) = _gs1(party), _gs1(location)
    if p_prefix is not None and l_prefix is not None:
        return p_prefix == l_prefix
    return p_gln is not None and len(p_gln) == 12 and p_gln == l_gln


_BT = re.compile(r"urn:epcglobal:cbv:bt:([0-9]{13}):[!-~]+")
_BT_FIELD = "bizTransaction:"  # the query index's field for a typed business transaction


def issued_by(party: str, transaction: str) -> bool:
    """A business transaction id in the CBV URN form (``urn:epcglobal:cbv:bt:<GLN>:<id>``)
    was issued by ``party``: its GLN is the party's."""
    m = _BT.fullmatch(transaction)
    gln = _gs1(party)[1]
    return m is not None and gln is not None and len(gln) == 12 and m.group(1)[:12] == gln


# --------------------------------------------------------------------------- the rule


def _holder_at(chain: Sequence[Handover], at: datetime) -> tuple[int, Handover] | None:
    current = [(i, h) for i, h in enumerate(chain) if h.since <= at]
    return current[-1] if current else None


def _took_part(
    party: str,
    at: datetime,
    history: Sequence[LotEvent],
    chain: Sequence[Handover],
    slack: timedelta,
) -> Basis | None:
    """How ``party`` took part in the lot at ``at`` by the records (step 1), or None."""
    held = _holder_at(chain, at)
    if held is not None and held[1].holder == party:
        return "holder"
    if any(party in (e.source, e.destination) and abs(e.time - at) <= slack for e in history):
        return "handover"
    if held is not None and held[1].holder is None:
        # A stretch nobody confirms: the parties the handover that opened it named.
        opened = next((e for e in history if e.index == held[1].index), None)
        if opened is not None and party in (opened.source, opened.destination):
            return "handover"
    return None


def _handed_over(
    sender: str,
    receiver: str,
    at: datetime,
    history: Sequence[LotEvent],
    chain: Sequence[Handover],
    slack: timedelta,
) -> bool:
    """The history names ``receiver`` as the one ``sender`` hands the goods to at ``at``
    (step 4): a record naming ``sender`` as the source, within ``slack`` of ``at`` or opening
    the unconfirmed stretch ``at`` falls in, hands them to ``receiver`` or to nobody; or that
    record, or the one that gave ``sender`` the goods, cites a business transaction
    ``receiver`` issued (the shipper's bill names the receiver's purchase order; a carrier
    that records nothing delivers it). A record handing them to a third party is not the
    sender's word that the receiver took them."""
    held = _holder_at(chain, at)
    opening = held[1].index if held is not None and held[1].holder is None else None
    gave = held[1].index if held is not None and held[1].holder == sender else None
    for e in history:
        senders = e.source == sender and (abs(e.time - at) <= slack or e.index == opening)
        if senders and (e.destination == receiver or _released(e)):
            return True
        if (senders or e.index == gave) and any(issued_by(receiver, t) for t in e.transactions):
            return True  # shipped under the receiver's own order, through a carrier
    return False


def _released(e: LotEvent) -> bool:
    """A shipment naming no receiver: the sender let the goods go to whoever takes them. Not
    any record naming the sender alone (its own readings on the road hand nothing over)."""
    return e.biz_step == "shipping" and e.destination is None


def _present(
    at: datetime, history: Sequence[LotEvent], chain: Sequence[Handover], slack: timedelta
) -> tuple[str, ...]:
    """The parties that took part in the lot at ``at``: who could author a record of it
    (before the recorded custody, the party it begins with)."""
    named = [p for e in history if abs(e.time - at) <= slack for p in (e.source, e.destination)]
    held = _holder_at(chain, at)
    # Before the recorded custody: the party it begins with (whose record lets others in).
    holder = [held[1].holder] if held is not None else [chain[0].holder] if chain else []
    return tuple(sorted({p for p in [*holder, *named] if p}))


def _decide_one(
    event: CaptureEvent,
    key: str,
    mine: frozenset[str],
    history: Sequence[LotEvent],
    slack: timedelta,
) -> Decision:
    at = event.event_time
    source, destination = event.possessing_party_source(), event.possessing_party_destination()
    named = {p for p in (source, destination) if p}
    caller = tuple(sorted(mine))

    misnamed = tuple(
        (side, kind, party)
        for side, ends in (("source", event.sources), ("destination", event.destinations))
        for kind, party in ends
        if party in mine and kind != "possessing_party" and party not in named
    )

    def refused(rule: Rule, needs: Iterable[str], *, withheld: bool = False) -> Refused:
        return Refused(event.index, key, at, rule, tuple(sorted(needs)), caller, withheld, misnamed)

    if named and not named & mine:  # step 0
        return refused("names-another-party", named)
    chain = custody(history)
    for party in sorted(mine):  # step 1
        if (basis := _took_part(party, at, history, chain, slack)) is not None:
            return Allowed(event.index, key, party, basis)
    held = _holder_at(chain, at)
    for place in (event.read_point, event.biz_location):  # step 2
        if chain and (held is None or held[1].holder is not None):
            break  # held on record, or before the history: the capturer's word against it
        owner = next((p for p in sorted(mine) if place and owns_location(p, place)), None)
        if owner is not None:
            return Allowed(event.index, key, owner, "read_point")
    if (own := sorted(named & mine)) and not chain:  # step 3: a new lot
        return Allowed(event.index, key, own[0], "before_history")
    known = {None, *mine, *(p for e in history for p in (e.source, e.destination))}
    if (
        own and at < chain[0].since and chain[0].holder in mine and destination in known
    ):  # step 3: before the recorded custody, by the party it begins with
        return Allowed(event.index, key, chain[0].holder, "before_history")
    # Nobody holds the goods on record: a stretch a handover left unconfirmed. Before the
    # recorded custody begins is not such a stretch (step 3 alone decides there): a receipt
    # from nobody dated before the history would put any key into any lot.
    unheld = held is not None and held[1].holder is None
    if destination in mine and (  # step 4
        (source is None and unheld)
        or (source is not None and _handed_over(source, destination, at, history, chain, slack))
    ):
        return Allowed(event.index, key, destination, "taking_over")
    if not any(p in mine for e in history for p in (e.source, e.destination)):
        # An outsider: who took part is the lot's history, which it may not read.
        return refused("not-your-custody", (), withheld=bool(history))
    return refused("not-your-custody", _present(at, history, chain, slack))


def awaits_sender(event: CaptureEvent, parties: Collection[str]) -> bool:
    """The event is a receipt from a named sender: it names a possessing source that is none
    of ``parties`` and a possessing destination that is one of them. Step 4 accepts such a
    receipt only once the sender's own side of the handover is on record, which may simply
    not have arrived yet (each party posts on its own schedule): such a document waits for
    it (``supplychain.held``). Decided by the event's shape alone, never by the history."""
    source, destination = event.possessing_party_source(), event.possessing_party_destination()
    return source is not None and source not in parties and destination in parties


def _also_took_part(
    event: CaptureEvent,
    key: str,
    mine: frozenset[str],
    decided: Decision,
    history: Sequence[LotEvent],
    slack: timedelta,
) -> list[Allowed]:
    """The key's other parties that took part in the event about ``key``: each one the rule
    allows on its own (a key for the farm and its DC writing the farm's packing: not the DC)."""
    if not isinstance(decided, Allowed):
        return []
    alone = (
        _decide_one(event, key, frozenset({p}), history, slack)
        for p in sorted(mine - {decided.party})
    )
    return [d for d in alone if isinstance(d, Allowed)]


def _as_lot_event(event: CaptureEvent, position: int) -> LotEvent:
    """A document's event as a lot record, so the events before it count as history."""
    return LotEvent(
        index=-1 - position,  # not on the ledger yet: negative, never a ledger index
        leaf_hash="",
        hash_id=event.hash_id,
        event_type=event.event_type,
        time=event.event_time,
        biz_step=event.biz_step,
        disposition=event.disposition,
        read_point=event.read_point,
        source=event.possessing_party_source(),
        destination=event.possessing_party_destination(),
        transactions=_transactions(event.raw),
    )


def _transactions(raw: Mapping[str, object]) -> tuple[str, ...]:
    items = raw.get("bizTransactionList")
    listed = items if isinstance(items, list) else []
    return tuple(  # typed ones only, as the query index holds them (lot_histories)
        t["bizTransaction"]
        for t in listed
        if isinstance(t, dict)
        and isinstance(t.get("type"), str)
        and isinstance(t.get("bizTransaction"), str)
    )


def identities(event: CaptureEvent) -> set[str]:
    """The identities (``identity``) of the lots and items the event is about (``_keys``)."""
    return {identity(k) for k in _keys(event)}


def _keys(event: CaptureEvent) -> list[str]:
    """The lots and items the event is about, as it names them: its lot URIs, then its EPCs,
    one per identity. Not bare lot numbers: two companies may both have a lot "L1", and
    one company's history of its "L1" says nothing about who may write about another's."""
    named = [*event.lots, *event.epcs]
    return list({identity(k): k for k in reversed(named)}.values())[::-1]


def decide_authorship(
    *,
    parties: Collection[str],
    events_in: Sequence[CaptureEvent],
    history: Mapping[str, Sequence[LotEvent]],
    slack: timedelta = HANDOVER_SLACK,
) -> tuple[Decision, ...]:
    """The decisions per (event, lot or item it names), events in time order.

    For each: the key's decision (an ``Allowed`` for the first of its parties that took part,
    or a ``Refused``), then, when the event is allowed, an ``Allowed`` for each other party of
    the key that took part on its own (the parties the event is captured for).

    ``history`` maps lot keys to their records on the ledger (oldest first; a missing key:
    none); keys naming the same lot in different forms are read as one (``identity``), and
    bare lot numbers name no lot here. An allowed event joins the history of the events
    after it.
    """
    mine = frozenset(parties)
    known: dict[str, list[LotEvent]] = {}
    for k, v in history.items():
        merged = {(e.index, e.hash_id): e for e in [*known.get(identity(k), ()), *v]}
        known[identity(k)] = sorted(merged.values(), key=lambda e: (e.time, e.index))
    out: list[Decision] = []
    order = sorted(range(len(events_in)), key=lambda i: (events_in[i].event_time, i))
    for position in order:
        event = events_in[position]
        keys = _keys(event)
        decided = [
            _decide_one(event, key, mine, known.get(identity(key), ()), slack) for key in keys
        ]
        out += decided
        if all(isinstance(d, Allowed) for d in decided):
            for key, d in zip(keys, decided, strict=True):
                out += _also_took_part(event, key, mine, d, known.get(identity(key), ()), slack)
            for key in keys:
                found = known.setdefault(identity(key), [])
                found.append(_as_lot_event(event, position))
                found.sort(key=lambda e: e.time)  # stable: ties keep ledger order
    return tuple(out)


def check_authorship(
    *,
    parties: Collection[str],
    events_in: Sequence[CaptureEvent],
    history: Mapping[str, Sequence[LotEvent]],
    slack: timedelta = HANDOVER_SLACK,
) -> tuple[Allowed, ...]:
    """``decide_authorship``, raising ``NotYourCustodyError`` for the first refusal.

    Returns the ``Allowed`` decisions: per event, the key's parties that took part in it
    (``capture_events`` records them as its ``captured_for``).
    """
    decided = decide_authorship(parties=parties, events_in=events_in, history=history, slack=slack)
    refused = [d for d in decided if isinstance(d, Refused)]
    if refused:
        # The first event in the document; for it, its lot URI before the looser keys.
        raise NotYourCustodyError(min(refused, key=lambda d: d.event_index), refused)
    return tuple(d for d in decided if isinstance(d, Allowed))


_CHUNK = 500  # keys per query: well under every database's bound-parameter limit


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    """``values`` sorted, ``_CHUNK`` at a time: one ``IN (...)`` per chunk."""
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def lot_histories(conn: Connection, events_in: Iterable[CaptureEvent]) -> dict[str, list[LotEvent]]:
    """Each lot key's records on the ledger, oldest first, read from the event index.

    Only what custody needs (time, step, parties): the index row, not the entry. A bare lot
    number finds the lot's records written under its other forms (its LGTIN URN beside its
    Digital Link); they are filed under the lot and item keys they were recorded with, never
    under the bare number, which names no one company's lot.
    """
    events_in = list(events_in)
    keys = {k for e in events_in for k in lot_keys(e)}
    bare = keys - {k for e in events_in for k in (*e.lots, *e.epcs)}
    out: dict[str, list[LotEvent]] = {}
    for chunk in _chunks(keys):
        rows = conn.execute(
            select(event_lots.c.lot, events)
            .join(events, event_lots.c.hash_id == events.c.hash_id)
            .where(event_lots.c.lot.in_(chunk))
            .order_by(events.c.event_time, events.c.ledger_idx)
        )
        found = list(rows)
        cited = _cited(conn, {r.hash_id for r in found if r.source_party or r.destination_party})
        for r in found:
            out.setdefault(r.lot, []).append(
                LotEvent(
                    index=r.ledger_idx,
                    leaf_hash="",
                    hash_id=r.hash_id,
                    event_type=r.event_type,
                    time=_utc(r.event_time),
                    biz_step=r.biz_step,
                    disposition=r.disposition,
                    read_point=None,
                    source=r.source_party,
                    destination=r.destination_party,
                    transactions=cited.get(r.hash_id, ()),
                )
            )
    found_by_bare = [e for k in bare for e in out.pop(k, [])]
    filed = {k: {e.hash_id for e in found_events} for k, found_events in out.items()}
    # Only what no asked-for URI found (the lot's other forms): usually nothing to read.
    seen = set().union(*filed.values())
    via_bare = {e.hash_id: e for e in found_by_bare if e.hash_id not in seen}
    for hash_id, key in _recorded_under(conn, via_bare):
        if key not in bare and hash_id not in filed.setdefault(key, set()):
            filed[key].add(hash_id)
            out.setdefault(key, []).append(via_bare[hash_id])
    for found_events in out.values():
        found_events.sort(key=lambda e: (e.time, e.index))
    return out


def _recorded_under(conn: Connection, hash_ids: Collection[str]) -> list[tuple[str, str]]:
    """(hash_id, lot key) for every key the events were recorded under."""
    out: list[tuple[str, str]] = []
    for chunk in _chunks(hash_ids):
        rows = conn.execute(
            select(event_lots.c.hash_id, event_lots.c.lot).where(event_lots.c.hash_id.in_(chunk))
        )
        out += [(h, k) for h, k in rows]
    return out


def _cited(conn: Connection, hash_ids: Collection[str]) -> dict[str, tuple[str, ...]]:
    """The business transactions each handover cites, from the query index's rows."""
    out: dict[str, tuple[str, ...]] = {}
    for chunk in _chunks(hash_ids):
        rows = conn.execute(
            select(event_values.c.hash_id, event_values.c.value).where(
                event_values.c.hash_id.in_(chunk),
                event_values.c.field.startswith(_BT_FIELD),
            )
        )
        for hash_id, value in rows:
            out[hash_id] = (*out.get(hash_id, ()), value)
    return out


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes for a timezone-aware column; they were written in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def bound_to(
    parties: Collection[str], *, slack: timedelta = HANDOVER_SLACK
) -> Callable[[Connection, Sequence[CaptureEvent]], tuple[Allowed, ...]]:
    """The check ``capture_events`` runs under its write lock for a key speaking for
    ``parties``: reads the lots' histories on that connection, then ``check_authorship``,
    whose ``Allowed`` decisions say for which of ``parties`` each event is captured."""

    def check(conn: Connection, events_in: Sequence[CaptureEvent]) -> tuple[Allowed, ...]:
        history = lot_histories(conn, events_in)
        return check_authorship(parties=parties, events_in=events_in, history=history, slack=slack)

    return check
