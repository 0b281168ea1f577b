"""Capture into the log: parties and EPCIS events, deduplicated, with their index rows.

Each call validates everything first and then writes in one ledger transaction: a
malformed document appends nothing, and an event already in the log (same CBV event hash
id) is reported as a duplicate instead of appended twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select, update

from ledger.log import Ledger, LedgerWriter
from supplychain.epcis import CaptureEvent, EPCISDocument, lot
from supplychain.errors import SupplyChainError
from supplychain.identifiers.tds import PARTY_ID_MAX, PARTY_ID_PATTERN, EPCError, check_party_id
from supplychain.projections import (
    PROJECTION_TABLES,
    event_lots,
    events,
    parties,
    projection_metadata,
)
from supplychain.query.index import write_index

__all__ = [
    "PARTY_ID_MAX",
    "PARTY_ID_PATTERN",
    "PARTY_ROLES",
    "CaptureResult",
    "Check",
    "Party",
    "PartyError",
    "RoleChangeRefusedError",
    "TookPart",
    "by_event",
    "capture_events",
    "capture_in",
    "create_projection_tables",
    "event_view",
    "get_party",
    "lot_keys",
    "register_party",
]

# The roles a party plays in a supply chain, the one list every package reads (GUIDE §4).
PARTY_ROLES = ("supplier", "warehouse", "carrier", "customer", "retailer")
# GLN / PGLN as EPC URNs (sgln, pgln) or GS1 Digital Link (AI 414 location, 417 party),
# checked in full (digits, check digit, nothing after) by the one checker, supplychain/identifiers/tds.py.


class PartyError(SupplyChainError):
    """A party registration is not acceptable."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"party {field}: {reason}")


@dataclass(frozen=True)
class Party:
    """A party (GLN/PGLN URN) and its role in the chain; ``ledger_idx`` is the entry that
    registered it (None: not from the registry, e.g. the claiming customer).

    The one party type: the registry returns it and the claims timeline holds it.
    """

    id: str
    role: str
    name: str = ""
    ledger_idx: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "ledger_index": self.ledger_idx,
        }


@dataclass(frozen=True)
class CaptureResult:
    """What a capture appended and what it recognised as already captured."""

    appended: tuple[tuple[str, int], ...]  # (event hash id, ledger index)
    duplicates: tuple[tuple[str, int], ...]  # (event hash id, the index it already had)

    @property
    def indices(self) -> list[int]:
        """The ledger index of every event of the document, appended now or before: what a
        retry after a failed reassessment must assess again (``claims.reassess``)."""
        return sorted({i for _, i in self.appended} | {i for _, i in self.duplicates})


def create_projection_tables(engine: Engine) -> None:
    """Create the registry and index tables if missing (the service migrates instead)."""
    projection_metadata.create_all(engine, tables=list(PROJECTION_TABLES))


def get_party(engine: Engine, party_id: str) -> Party | None:
    """The registered party, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(parties).where(parties.c.id == party_id)).first()
    return Party(row.id, row.role, row.name, row.ledger_idx) if row else None


class RoleChangeRefusedError(SupplyChainError):
    """A caller without the privilege tried to change a registered party's role."""

    def __init__(self, party_id: str, role: str, requested: str) -> None:
        self.party_id, self.role, self.requested = party_id, role, requested
        self.reason = (
            f"party {party_id} is registered as {role}; changing its role to {requested} "
            "needs an admin key (roles decide verdicts)"
        )
        super().__init__(self.reason)


def register_party(
    *,
    ledger: Ledger,
    party_id: str,
    role: str,
    name: str,
    actor: str | None = None,
    may_change_role: bool = True,
) -> tuple[Party, bool]:
    """Register or update a party; returns it and whether a ledger entry was appended.

    The entry names ``actor``, who made the change. Without ``may_change_role`` a party
    registered under another role is refused (``RoleChangeRefusedError``), checked under the
    ledger's write lock so two requests cannot race past it.
    """
    try:
        check_party_id(party_id)
    except EPCError as exc:
        raise PartyError("id", exc.reason) from None
    if role not in PARTY_ROLES:
        raise PartyError("role", f"must be one of {', '.join(sorted(PARTY_ROLES))}")
    name = name.strip()
    if not name or len(name) > 200:
        raise PartyError("name", "must be 1 to 200 characters")
    with ledger.writer() as w:
        row = w.conn.execute(select(parties).where(parties.c.id == party_id)).first()
        if row is not None and (row.role, row.name) == (role, name):
            return Party(row.id, row.role, row.name, row.ledger_idx), False
        if row is not None and row.role != role and not may_change_role:
            raise RoleChangeRefusedError(party_id, row.role, role)
        body: dict[str, Any] = {"id": party_id, "role": role, "name": name, "actor": actor}
        if row is not None:
            body["previous"] = {"role": row.role, "name": row.name, "ledger_idx": row.ledger_idx}
        (entry,) = w.append_many([("party.registered" if row is None else "party.updated", body)])
        values = {"role": role, "name": name, "ledger_idx": entry.index}
        if row is None:
            w.conn.execute(insert(parties).values(id=party_id, **values))
        else:
            w.conn.execute(update(parties).where(parties.c.id == party_id).values(**values))
    return Party(party_id, role, name, entry.index), True


def lot_keys(event: CaptureEvent) -> set[str]:
    """Every key the event is findable by: lot class URIs, bare lot numbers, and the EPCs.

    EPCs are keys too so a claim or a station can trace by the item's RFID tag (an SGTIN) or
    its pallet (an SSCC) when it does not know the lot.
    """
    keys = set(event.lots) | set(event.epcs)
    keys.update(n for uri in event.lots if (n := lot(uri)))
    return keys


# 2: accelerations (shock readings) are read; a version-1 entry's view has none.
# 3: aggregate temperature reports (min/max/mean over a period) are kept whole in
#    ``temperature_aggregates``; a version-2 entry's view held them in ``temperatures`` as
#    one point at their mean (GUIDE §4 rule 5).
VIEW_VERSION = 3


def _utc(at: Any) -> str:
    return str(at.isoformat().replace("+00:00", "Z"))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def event_view(event: CaptureEvent) -> dict[str, Any]:
    """Our normalised reading of an event (UTC times, °C, CBV short names), JSON-ready.

    Stored in the entry beside the raw event so traces and custody read the log directly;
    ``view_version`` says which reading it is if the parser ever changes.
    """
    return {
        "view_version": VIEW_VERSION,
        "event_type": event.event_type,
        "event_time": event.event_time.isoformat().replace("+00:00", "Z"),
        "action": event.action,
        "biz_step": event.biz_step,
        "disposition": event.disposition,
        "epcs": list(event.epcs),
        "lots": list(event.lots),
        "parent_id": event.parent_id,
        "read_point": event.read_point,
        "biz_location": event.biz_location,
        "sources": [list(x) for x in event.sources],
        "destinations": [list(x) for x in event.destinations],
        "temperatures": [
            {
                "time": t.time.isoformat().replace("+00:00", "Z"),
                "celsius": round(t.celsius, 4),
                "value": t.original_value,
                "uom": t.original_uom,
                "device_id": t.device_id,
            }
            for t in event.temperatures
            if not t.aggregate
        ],
        "temperature_aggregates": [
            {
                "time": _utc(t.time),
                "start": _utc(t.start),
                "end": _utc(t.end),
                "min_celsius": _round(t.min_celsius),
                "max_celsius": _round(t.max_celsius),
                "mean_celsius": _round(t.mean_celsius),
                "values": dict(t.original_values),
                "uom": t.original_uom,
                "device_id": t.device_id,
            }
            for t in event.temperatures
            if t.aggregate
        ],
        "accelerations": [
            {
                "time": a.time.isoformat().replace("+00:00", "Z"),
                "mps2": round(a.mps2, 4),
                "value": a.original_value,
                "uom": a.original_uom,
                "device_id": a.device_id,
            }
            for a in event.accelerations
        ],
    }


class TookPart(Protocol):
    """A party of the capturing key that took part in the document's event ``event_index``:
    the check's word (``supplychain.authorship.Allowed``, the authorship rule's decision)."""

    @property
    def event_index(self) -> int:
        """The event's index in its document (``CaptureEvent.index``)."""
        ...

    @property
    def party(self) -> str:
        """The party that took part."""
        ...


# What ``capture_events`` runs under its write lock (``supplychain.authorship.bound_to``):
# raises to refuse the document, else says which of the key's parties took part in each event.
Check = Callable[[Connection, Sequence[CaptureEvent]], Iterable[TookPart]]


def _captured_for(
    event: CaptureEvent, speaks_for: Sequence[str], took_part: Mapping[int, set[str]] | None
) -> list[str]:
    """The parties of ``speaks_for`` the event is captured for.

    With a check (``took_part``): those that took part in it, by the check's decisions, and
    those the event names as handing over or taking over (the parties of its handover). With
    none (the operator's code capturing for parties it vouches for), or for an event the check
    decided nothing about (one about no lot): every party of ``speaks_for``.
    """
    if took_part is None or event.index not in took_part:
        return sorted(set(speaks_for))
    named = {event.possessing_party_source(), event.possessing_party_destination()}
    return sorted(set(speaks_for) & (took_part[event.index] | named))


def _body(event: CaptureEvent, actor: str | None, captured_for: Sequence[str]) -> dict[str, Any]:
    return {
        "captured_by": actor,
        # The parties the capturing key speaks for that took part in the event: a record its
        # own beneficiary captured late weighs less (GUIDE §4 rule 6), and the lot is theirs
        # to read (supplychain.query.scope). Absent when the capturer speaks for none.
        **({"captured_for": list(captured_for)} if captured_for else {}),
        "hash_id": event.hash_id,
        "declared_id": event.declared_id,
        "event": event.raw,
        "view": event_view(event),
    }


def capture_events(
    *,
    ledger: Ledger,
    events_in: Sequence[CaptureEvent] | EPCISDocument,
    actor: str | None = None,
    speaks_for: Sequence[str] = (),
    check: Check | None = None,
) -> CaptureResult:
    """Append the events not yet in the log, with their index rows, in one transaction.

    Each entry names ``actor``, who captured it (an API key, the CLI's user), and the
    parties of ``speaks_for`` it is captured for (``captured_for``). ``check`` (e.g. the
    authorship rule, ``supplychain.authorship.bound_to``) runs first under the write lock, so
    no capture races past it, and says which of those parties took part in each event: only
    they are recorded (a key for a farm and its DC writing the farm's packing: the farm).
    Without a check every party of ``speaks_for`` is. Events already captured keep the entry
    they have.
    """
    with ledger.writer() as w:
        took_part: dict[int, set[str]] | None = None
        if check is not None:
            batch = events_in.events if isinstance(events_in, EPCISDocument) else events_in
            took_part = by_event(check(w.conn, batch))
        return capture_in(w, events_in, actor=actor, speaks_for=speaks_for, took_part=took_part)


def by_event(decisions: Iterable[TookPart]) -> dict[int, set[str]]:
    """A check's decisions as ``capture_in``'s ``took_part``: the parties per event index."""
    took_part: dict[int, set[str]] = {}
    for t in decisions:
        took_part.setdefault(t.event_index, set()).add(t.party)
    return took_part


def capture_in(
    w: LedgerWriter,
    events_in: Sequence[CaptureEvent] | EPCISDocument,
    *,
    actor: str | None = None,
    speaks_for: Sequence[str] = (),
    took_part: Mapping[int, set[str]] | None = None,
) -> CaptureResult:
    """``capture_events`` inside a ledger transaction the caller holds (and may add to);
    ``took_part``: the parties of ``speaks_for`` the check found took part in each event, by
    its index in the document (None: no check ran, every one of them)."""
    batch = list(events_in.events if isinstance(events_in, EPCISDocument) else events_in)
    ids = [e.hash_id for e in batch]
    query = select(events.c.hash_id, events.c.ledger_idx).where(events.c.hash_id.in_(ids))
    stored: dict[str, int] = {h: i for h, i in w.conn.execute(query)} if ids else {}
    fresh: list[CaptureEvent] = []
    repeated: list[str] = []
    seen = set(stored)
    for e in batch:
        if e.hash_id in seen:
            repeated.append(e.hash_id)
        else:
            seen.add(e.hash_id)  # the same event twice in one document counts once
            fresh.append(e)
    bodies = [_body(e, actor, _captured_for(e, speaks_for, took_part)) for e in fresh]
    entries = w.append_many(("epcis.event", b) for b in bodies)
    _index(w.conn, fresh, [x.index for x in entries])
    write_index(w.conn, bodies)  # what the EPCIS query filters on (supplychain.query.index)
    appended = tuple((e.hash_id, x.index) for e, x in zip(fresh, entries, strict=True))
    index_of = stored | dict(appended)
    return CaptureResult(appended, tuple((h, index_of[h]) for h in repeated))


def _index(conn: Any, fresh: Iterable[CaptureEvent], indices: list[int]) -> None:
    rows, lot_rows = [], []
    for e, idx in zip(fresh, indices, strict=True):
        rows.append(
            {
                "hash_id": e.hash_id,
                "ledger_idx": idx,
                "event_time": e.event_time,
                "event_type": e.event_type,
                "biz_step": e.biz_step,
                "disposition": e.disposition,
                "source_party": e.possessing_party_source(),
                "destination_party": e.possessing_party_destination(),
            }
        )
        lot_rows += [{"lot": k, "hash_id": e.hash_id} for k in sorted(lot_keys(e))]
    if rows:
        conn.execute(insert(events), rows)
    if lot_rows:
        conn.execute(insert(event_lots), lot_rows)
