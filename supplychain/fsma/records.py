"""Reading what an FSMA export needs from the log: the events a query selects, the whole
history of every lot they name, and the party registry.

Plan, then fetch: the event index (``supplychain.projections``) says which ledger entries to
read; the entries themselves are the source of every value (the raw EPCIS event as captured
and our reading of it), so each KDE can cite the entry it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from ledger.log import Ledger
from supplychain.capture import Party
from supplychain.custody import UnknownLotError
from supplychain.errors import SupplyChainError
from supplychain.identifiers.digital_link import gtin, is_lot_class, lot, to_digital_link
from supplychain.projections import event_lots, events, parties

__all__ = [
    "ExportQueryError",
    "FSMAQuery",
    "Record",
    "Selection",
    "lot_classes",
    "parse_bound",
    "records_of",
    "select_records",
]

_CHUNK = 500  # keys per IN (...): well under every database's bound-parameter limit
_GTIN_RE = re.compile(r"^(?:\d{8}|\d{12,14})$")

# The lists of an event that name its lots: what it observed, and a transformation's sides.
OBSERVED = ("epcList", "quantityList", "childEPCs", "childQuantityList")
INPUTS = ("inputEPCList", "inputQuantityList")
OUTPUTS = ("outputEPCList", "outputQuantityList")


class ExportQueryError(SupplyChainError):
    """An FSMA export query that cannot be run as asked."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class FSMAQuery:
    """What a regulator asked for: a lot, an event-time range ``[start, end)``, a product
    (a GTIN, or words of its description), or several of them together."""

    lot: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    product: str | None = None

    def __post_init__(self) -> None:
        if not any((self.lot, self.start, self.end, self.product)):
            raise ExportQueryError("query", "name a lot, a date range or a product")
        for name in ("start", "end"):
            at = getattr(self, name)
            if at is not None and at.tzinfo is None:
                raise ExportQueryError(name, "a time needs its UTC offset")
        if self.start and self.end and self.end <= self.start:
            raise ExportQueryError("end", "the range ends before it starts")

    @property
    def gtin(self) -> str | None:
        """The product as a GTIN-14, when it is given as a GTIN."""
        text = (self.product or "").strip()
        return text.rjust(14, "0") if _GTIN_RE.match(text) else None

    def describe(self) -> str:
        """The query in words, for the spreadsheet's notes."""
        parts = [f"lot {self.lot}"] if self.lot else []
        if self.start:
            parts.append(f"from {self.start.isoformat()}")
        if self.end:
            parts.append(f"to (before) {self.end.isoformat()}")
        if self.product:
            parts.append(f"product {self.product}")
        return ", ".join(parts)


def parse_bound(text: str, *, end: bool) -> datetime:
    """An ISO 8601 date or date-time as a range bound; a date is a whole UTC day (an end
    bound is the next midnight), a time without an offset is UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day, time(0), tzinfo=UTC)
            return at + timedelta(days=1) if end else at
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ExportQueryError(
            "to" if end else "from", f"{text!r} is not an ISO 8601 date"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Record:
    """One captured EPCIS event as the export reads it, with its ledger entry."""

    index: int
    leaf_hash: str
    hash_id: str
    event: Mapping[str, Any]  # the raw EPCIS event as captured
    event_type: str
    time: datetime  # UTC
    offset: str  # eventTimeZoneOffset: the date of a CTE is the date where it happened
    action: str | None
    biz_step: str | None
    read_point: str | None
    biz_location: str | None
    sources: tuple[tuple[str, str], ...]  # (CBV source type, id)
    destinations: tuple[tuple[str, str], ...]
    captured_for: tuple[str, ...]

    @property
    def local_date(self) -> date:
        """The event's date at the place it happened."""
        sign = -1 if self.offset.startswith("-") else 1
        hours, _, minutes = self.offset.lstrip("+-").partition(":")
        shift = timedelta(hours=int(hours or 0), minutes=int(minutes or 0)) * sign
        return (self.time + shift).date()

    def party(
        self, side: str, kinds: Sequence[str] = ("possessing_party", "owning_party")
    ) -> str | None:
        """The first party of ``side`` (``sources`` or ``destinations``) of the given types."""
        named = self.sources if side == "sources" else self.destinations
        return next((i for k in kinds for t, i in named if t == k), None)


def lot_classes(event: Mapping[str, Any], lists: Sequence[str]) -> tuple[str, ...]:
    """The lot classes (LGTIN, Digital Link with a lot) the event's ``lists`` name, in order."""
    found: list[str] = []
    for name in lists:
        for item in event.get(name) or ():
            uri = item.get("epcClass") if isinstance(item, dict) else item
            if isinstance(uri, str) and is_lot_class(uri):
                found.append(uri)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Selection:
    """The events a query selected (each with the lot classes it was selected for, oldest
    first), every record of each lot class they name, and the party registry."""

    query: FSMAQuery
    selected: tuple[tuple[Record, tuple[str, ...]], ...]
    histories: Mapping[str, tuple[Record, ...]]
    parties: Mapping[str, Party]
    ledger_size: int


def _record(entry: Any) -> Record:
    view, raw = entry.body["view"], entry.body.get("event") or {}
    return Record(
        index=entry.index,
        leaf_hash=entry.leaf_hash.hex(),
        hash_id=entry.body["hash_id"],
        event=raw,
        event_type=view["event_type"],
        time=datetime.fromisoformat(view["event_time"].replace("Z", "+00:00")),
        offset=str(raw.get("eventTimeZoneOffset") or "+00:00"),
        action=view.get("action"),
        biz_step=view.get("biz_step"),
        read_point=view.get("read_point"),
        biz_location=view.get("biz_location"),
        sources=tuple((t, i) for t, i in view.get("sources") or ()),
        destinations=tuple((t, i) for t, i in view.get("destinations") or ()),
        captured_for=tuple(entry.body.get("captured_for") or ()),
    )


def _same_lot(key: str, uri: str) -> bool:
    """The lot class ``uri`` is what the lot key names: itself, its Digital Link, or its lot."""
    if key == uri:
        return True
    dl = to_digital_link(uri)
    return (dl is not None and dl == to_digital_link(key)) or lot(uri) == key


def _matching(conn: Connection, query: FSMAQuery) -> list[tuple[int, str]]:
    """(ledger index, lot key) of every indexed event the query's lot and range select."""
    stmt = select(events.c.ledger_idx, event_lots.c.lot).join(
        event_lots, event_lots.c.hash_id == events.c.hash_id
    )
    if query.lot is not None:
        stmt = stmt.where(event_lots.c.lot == query.lot)
    else:
        # Lot classes only; an EPC key (an SSCC, a single item) is no traceability lot.
        stmt = stmt.where(
            or_(event_lots.c.lot.like("urn:epc:class:lgtin:%"), event_lots.c.lot.like("http%"))
        )
    if query.start is not None:
        stmt = stmt.where(events.c.event_time >= query.start)
    if query.end is not None:
        stmt = stmt.where(events.c.event_time < query.end)
    return [(r.ledger_idx, r.lot) for r in conn.execute(stmt.order_by(events.c.ledger_idx))]


def _indices_of(conn: Connection, keys: Iterable[str]) -> dict[str, list[int]]:
    wanted = sorted(set(keys))
    out: dict[str, list[int]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(event_lots.c.lot, events.c.ledger_idx)
            .join(events, event_lots.c.hash_id == events.c.hash_id)
            .where(event_lots.c.lot.in_(wanted[start : start + _CHUNK]))
        )
        for r in rows:
            out.setdefault(r.lot, []).append(r.ledger_idx)
    return out


def select_records(*, ledger: Ledger, query: FSMAQuery) -> Selection:
    """Read what the query selects; ``UnknownLotError`` if it names a lot no event names."""
    size = ledger.size()
    with ledger.engine.connect() as conn:
        matched = _matching(conn, query)
        if query.lot is not None and not matched:
            if conn.execute(
                select(event_lots.c.hash_id).where(event_lots.c.lot == query.lot)
            ).first():
                matched = []  # the lot is known; the range selects none of its events
            else:
                raise UnknownLotError(query.lot)
        registry = {
            r.id: Party(r.id, r.role, r.name, r.ledger_idx) for r in conn.execute(select(parties))
        }
        cache: dict[int, Record] = {}

        def read(indices: Iterable[int]) -> list[Record]:
            for i in indices:
                if i not in cache and i < size:
                    cache[i] = _record(ledger.entry(i))
            return [cache[i] for i in indices if i in cache]

        by_index: dict[int, list[str]] = {}
        for idx, key in matched:
            by_index.setdefault(idx, []).append(key)
        selected: list[tuple[Record, tuple[str, ...]]] = []
        for record in read(sorted(by_index)):
            named = lot_classes(record.event, OBSERVED + INPUTS + OUTPUTS)
            if query.lot is not None:
                keys = tuple(c for c in named if _same_lot(query.lot, c)) or (query.lot,)
            else:
                keys = tuple(c for c in named if c in by_index[record.index])
            if query.gtin is not None:
                keys = tuple(k for k in keys if gtin(k) == query.gtin)
            if keys:
                selected.append((record, keys))
        # One hop out: every lot class the selected events name, so a transformation's inputs
        # and outputs, and a packed lot's harvest, are read with their own histories.
        wanted = {
            c
            for record, _ in selected
            for c in lot_classes(record.event, OBSERVED + INPUTS + OUTPUTS)
        }
        histories = {
            key: tuple(sorted(read(indices), key=lambda r: (r.time, r.index)))
            for key, indices in _indices_of(conn, wanted).items()
        }
    selected.sort(key=lambda pair: (pair[0].time, pair[0].index))
    return Selection(query, tuple(selected), histories, registry, size)


def records_of(selection: Selection, keys: Iterable[str]) -> tuple[Record, ...]:
    """Every record of the given lot classes, oldest first, each once."""
    seen: dict[int, Record] = {}
    for key in keys:
        for r in selection.histories.get(key, ()):
            seen.setdefault(r.index, r)
    return tuple(sorted(seen.values(), key=lambda r: (r.time, r.index)))
