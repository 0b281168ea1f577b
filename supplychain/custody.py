"""Who held a lot when: its events as typed objects, and the one rule that derives custody.

The lot's trace (what the API shows) and the claims timeline (what a verdict rests on) both
read custody from ``custody``, so they can never name different custodians. The rule:
the first party an event names holds the lot from that event; after that, custody passes to
an event's possessing-party destination (a ``shipping`` or ``receiving`` event, CBV 2.0
source/destination type ``possessing_party``) as soon as one names a party other than the
holder. A shipment names its receiver before the receipt confirms it, so the receiver holds
the lot from the shipment on: a record that only says "shipped to B" still tells who took it.
A ``shipping`` event in which the holder names itself as the source but names no receiver
releases the lot: nobody is recorded holding it (``holder`` None) until a later event names
one, and the rules read that stretch as a custody gap rather than as the shipper's. So does
a shipment whose receiver records its receipt more than ``RECEIPT_LAG`` later: between the
two records nobody confirms who had the goods, so the receiver holds them from its receipt.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ledger.log import Ledger
from ledger.record import parse_record
from supplychain.epcis import stored_temperatures
from supplychain.epcis.vocabulary import USE_BY_NAMES, local_name, use_by_date
from supplychain.errors import SupplyChainError
from supplychain.projections import event_lots, events

__all__ = [
    "RECEIPT_LAG",
    "AggregateReading",
    "Handover",
    "LotEvent",
    "Reading",
    "Shock",
    "UnknownLotError",
    "custody",
    "lot_events",
]


# A receipt recorded this long after the shipment naming the receiver leaves a stretch
# nobody confirms; handovers are logged minutes apart.
RECEIPT_LAG = timedelta(minutes=30)


class UnknownLotError(SupplyChainError):
    """No captured event names this lot."""

    def __init__(self, lot: str) -> None:
        self.lot = lot
        super().__init__(f"no events are recorded for lot {lot!r}")


@dataclass(frozen=True)
class Reading:
    """One temperature reading an event carried, in °C, with what the sensor reported."""

    time: datetime
    celsius: float
    value: float | None = None
    uom: str | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class AggregateReading:
    """A logger's summary of a period (EPCIS min/max/mean without a point ``value``), in °C.

    Any of the three numbers may be missing; ``values`` holds them as captured (by report
    key, in ``uom``). Never a temperature at one moment: the peak happened somewhere in
    ``start``..``end`` for an unknown time (GUIDE §4 rule 5).
    """

    time: datetime
    start: datetime
    end: datetime
    min_celsius: float | None
    max_celsius: float | None
    mean_celsius: float | None
    values: tuple[tuple[str, float], ...] = ()
    uom: str | None = None
    device_id: str | None = None


def _aggregate(t: dict[str, Any]) -> AggregateReading:
    def num(key: str) -> float | None:
        return None if t.get(key) is None else float(t[key])

    values = t.get("values") or {}
    return AggregateReading(
        _time(t["time"]),
        _time(t["start"]),
        _time(t["end"]),
        num("min_celsius"),
        num("max_celsius"),
        num("mean_celsius"),
        # Canonical JSON sorts the keys; keep the report's own order: min, max, mean.
        tuple((k, float(values[k])) for k in ("minValue", "maxValue", "meanValue") if k in values),
        t.get("uom"),
        t.get("device_id"),
    )


def _temperatures(
    view: dict[str, Any], raw: dict[str, Any]
) -> tuple[list[dict[str, Any]], tuple[AggregateReading, ...]]:
    """The view's point readings (as stored) and its aggregate reports.

    A view before version 3 held each aggregate report as a point at its mean; the raw event
    is read again to tell them apart, so old entries count as new ones do (GUIDE §4 rule 5).
    """
    if view.get("view_version", 1) >= 3:
        stored = tuple(_aggregate(t) for t in view.get("temperature_aggregates", ()))
        return list(view["temperatures"]), stored
    again = stored_temperatures(raw, event_time=_time(view["event_time"]))
    if len(again) != len(view["temperatures"]):
        return list(view["temperatures"]), ()  # cannot pair them up: read as stored
    points = [t for t, r in zip(view["temperatures"], again, strict=True) if not r.aggregate]
    summaries = tuple(
        AggregateReading(
            r.time,
            r.start or r.time,
            r.end or r.time,
            r.min_celsius,
            r.max_celsius,
            r.mean_celsius,
            r.original_values,
            r.original_uom,
            r.device_id,
        )
        for r in again
        if r.aggregate
    )
    return points, summaries


@dataclass(frozen=True)
class Shock:
    """One acceleration an event carried, in m/s² (the logger's peak where it gave one)."""

    time: datetime
    mps2: float
    device_id: str | None = None


@dataclass(frozen=True)
class LotEvent:
    """A captured EPCIS event of the lot, with the ledger entry that holds it."""

    index: int
    leaf_hash: str
    hash_id: str
    event_type: str
    time: datetime
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    source: str | None  # possessing party handing over
    destination: str | None  # possessing party taking over
    readings: tuple[Reading, ...] = ()
    shocks: tuple[Shock, ...] = ()
    # Aggregate temperature reports (min/max/mean over a period); entries captured before
    # view version 3 have none (they held such a report as a point at its mean).
    aggregates: tuple[AggregateReading, ...] = ()
    # Single items (SGTIN EPCs) the event names, rather than a lot quantity.
    items: tuple[str, ...] = ()
    # The warehouse station that graded a returned item (our ``fp:station`` extension).
    station: str | None = None
    # How sure the grader was: 1.0 for a person, the model's confidence for the model.
    grade_confidence: float | None = None
    # When the ledger captured the event (its record's ``ts``), who captured it, and the
    # parties the capturing key speaks for (GUIDE §4 rule 6: who recorded it, and when).
    captured_at: datetime | None = None
    captured_by: str | None = None
    captured_for: tuple[str, ...] = ()
    # The business transactions the event cites (CBV ``bizTransaction`` ids: a purchase
    # order, a bill of lading); read by the authorship rule, not by the verdicts.
    transactions: tuple[str, ...] = ()
    # The lot's use-by as the event's master data (ILMD) records it: CBV
    # ``itemExpirationDate`` (GS1 AI 17, the expiry a perishable may not be sold after).
    use_by: date | None = None

    @property
    def inspection(self) -> bool:
        """An inspection (CBV ``inspecting``): of a handover, or of returned items."""
        return self.biz_step == "inspecting"

    @property
    def item_level(self) -> bool:
        """The event is about single identified items, not the lot as a whole."""
        return bool(self.items)


@dataclass(frozen=True)
class Handover:
    """``holder`` holds the lot from ``since``, by the event at ledger ``index``.

    ``holder`` None: the lot was shipped without a named receiver; nobody is on record.
    """

    holder: str | None
    since: datetime
    index: int
    leaf_hash: str


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_SGTIN = "urn:epc:id:sgtin:"


def _grade_confidence(raw: dict[str, Any]) -> float | None:
    grade = raw.get("fp:grade")
    if not isinstance(grade, dict):
        return None
    if grade.get("graded_by"):
        return 1.0
    value = grade.get("confidence")
    return float(value) if isinstance(value, int | float) else None


def _use_by(raw: dict[str, Any]) -> date | None:
    """The use-by date the event's ILMD records (``USE_BY_NAMES``); None when it records none
    (capture refuses one that is not a date)."""
    ilmd = raw.get("ilmd")
    if not isinstance(ilmd, dict):
        return None
    for key, value in ilmd.items():
        if local_name(key) in USE_BY_NAMES:
            return use_by_date(value)
    return None


def lot_events(*, ledger: Ledger, lot: str | Collection[str]) -> tuple[LotEvent, ...]:
    """The lot's events, oldest first (ties by ledger index); ``UnknownLotError`` if none.

    ``lot`` is one key or several the same lot may be recorded under (its EPC URN for each
    company prefix length, its Digital Link): an event under two of them comes once.
    """
    keys = [lot] if isinstance(lot, str) else list(lot)
    with ledger.engine.connect() as conn:
        indices = conn.execute(
            select(events.c.ledger_idx)
            .where(
                events.c.hash_id.in_(select(event_lots.c.hash_id).where(event_lots.c.lot.in_(keys)))
            )
            .order_by(events.c.event_time, events.c.ledger_idx)
        ).scalars()
        found = list(indices)
    if not found:
        raise UnknownLotError(keys[0] if keys else "")
    out = []
    for idx in found:
        entry = ledger.entry(idx)
        view = entry.body["view"]
        raw = entry.body.get("event") or {}
        ts = parse_record(entry.record, index=entry.index).ts
        points, aggregates = _temperatures(view, raw)
        out.append(
            LotEvent(
                index=entry.index,
                leaf_hash=entry.leaf_hash.hex(),
                hash_id=entry.body["hash_id"],
                event_type=view["event_type"],
                time=_time(view["event_time"]),
                biz_step=view["biz_step"],
                disposition=view["disposition"],
                read_point=view["read_point"],
                source=next((i for t, i in view["sources"] if t == "possessing_party"), None),
                destination=next(
                    (i for t, i in view["destinations"] if t == "possessing_party"), None
                ),
                readings=tuple(
                    Reading(
                        _time(t["time"]),
                        float(t["celsius"]),
                        t.get("value"),
                        t.get("uom"),
                        t.get("device_id"),
                    )
                    for t in points
                ),
                shocks=tuple(
                    Shock(_time(a["time"]), float(a["mps2"]), a.get("device_id"))
                    for a in view.get("accelerations", ())
                ),
                aggregates=aggregates,
                items=tuple(
                    e
                    for e in raw.get("epcList") or ()
                    if isinstance(e, str) and e.startswith(_SGTIN)
                ),
                station=raw.get("fp:station") if isinstance(raw.get("fp:station"), str) else None,
                grade_confidence=_grade_confidence(raw),
                captured_at=_time(ts),
                captured_by=entry.body.get("captured_by"),
                captured_for=tuple(entry.body.get("captured_for") or ()),
                use_by=_use_by(raw),
            )
        )
    return tuple(out)


def custody(
    lot_events: Sequence[LotEvent], *, until: datetime | None = None
) -> tuple[Handover, ...]:
    """Every change of holder, oldest first; events at or after ``until`` are not read."""
    chain: list[Handover] = []
    for i, e in enumerate(lot_events):
        if until is not None and e.time >= until:
            break
        if not chain and (e.source or e.destination):
            first = e.source or e.destination
            chain.append(Handover(first, e.time, e.index, e.leaf_hash))  # type: ignore[arg-type]
        if not chain:
            continue
        holder = chain[-1].holder
        if e.destination and e.destination != holder:
            if e.biz_step == "shipping" and _received_late(e, lot_events[i + 1 :]):
                chain.append(Handover(None, e.time, e.index, e.leaf_hash))
            else:
                chain.append(Handover(e.destination, e.time, e.index, e.leaf_hash))
        elif (
            e.biz_step == "shipping"
            and not e.destination
            and holder is not None
            and e.source == holder
        ):
            chain.append(Handover(None, e.time, e.index, e.leaf_hash))
    return tuple(chain)


def _received_late(shipment: LotEvent, later: Sequence[LotEvent]) -> bool:
    """The shipment's receiver records its receipt more than ``RECEIPT_LAG`` after it.

    Read up to the next event that names another receiver: that one takes over anyway.
    """
    for e in later:
        if e.destination and e.destination != shipment.destination:
            return False
        if e.biz_step == "receiving" and e.destination == shipment.destination:
            return e.time - shipment.time > RECEIPT_LAG
    return False
