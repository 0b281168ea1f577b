"""A simulated supply chain and its EPCIS 2.0 records. Pure: no I/O, no clock.

A chain is a list of custody legs (supplier, carriers, warehouse), each with the temperature
and acceleration readings its logger took every 15 minutes / hour, handovers between them
(``shipping`` by the sender, ``receiving`` by the receiver a few minutes later, both naming
sender and receiver as possessing parties) and handover inspections (``inspecting`` with a
disposition). The warehouse (the DC) orders the lot from the supplier, so the shipments up to
it cite its purchase order (``purchase_order``). ``Chain.events`` renders what each party
would have posted; fault generators in ``scenarios`` bend the chain (an excursion, a shock,
a silent custodian, a late receipt, a skewed clock) before rendering.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from claims.profiles import DEFAULT_PROFILES
from simulator.spec import PartySpec
from supplychain.epcis.build import (
    EPCIS_CONTEXT,
    ZULU,
    BizTransaction,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    epcis_document,
)
from supplychain.identifiers.tds import check_pgln

__all__ = [
    "CONTEXT",
    "READING_STEP",
    "Chain",
    "Inspection",
    "Leg",
    "degree_minutes",
    "document",
    "epcis_time",
    "lot_class",
    "poster_of",
    "purchase_order",
]

CONTEXT = [EPCIS_CONTEXT]
READING_STEP = timedelta(minutes=15)
_ACCEL_STEP = timedelta(hours=1)
# In-band operating values per category (°C): where a working reefer or cold room sits.
_IN_BAND = {
    "frozen": (-21.5, -19.0),
    "chilled": (2.0, 4.5),
    "chilled_produce": (3.0, 7.0),
    "ambient_produce": (11.0, 18.0),
}


def _shelf_life(category: str) -> timedelta:
    return timedelta(hours=DEFAULT_PROFILES[category].shelf_life_hours)


def epcis_time(at: datetime) -> str:
    """RFC 3339 in UTC with a Z, as EPCIS documents write it."""
    return ZULU.render(at)


def lot_class(lot: str) -> str:
    """The LGTIN class URI that names the lot in a quantityList."""
    return f"urn:epc:class:lgtin:4000001.012345.{lot}"


def purchase_order(lot: str, buyer: str) -> str:
    """The buyer's purchase order for the lot: a CBV business transaction URN under the
    buyer's GLN (``urn:epcglobal:cbv:bt:<GLN-13>:PO-<lot>``); ``buyer`` is a PGLN URN."""
    return f"urn:epcglobal:cbv:bt:{check_pgln(buyer)}:PO-{lot}"


def document(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An EPCIS 2.0 document holding the events; created one minute after the latest."""
    latest = max(
        (datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00")) for e in events),
        default=None,
    )
    created = latest + timedelta(minutes=1) if latest else datetime(2024, 1, 1, tzinfo=UTC)
    return epcis_document(events, creation_date=created, context=CONTEXT, times=ZULU)


def degree_minutes(
    readings: Sequence[tuple[datetime, float]], *, category: str, in_transport: bool
) -> float:
    """°C·min outside the category's band (trapezoid between readings), GUIDE §4's metric."""
    lo, hi = DEFAULT_PROFILES[category].band(in_transport=in_transport)

    def excess(t: float) -> float:
        if hi is not None and t > hi:
            return t - hi
        if lo is not None and t < lo:
            return lo - t
        return 0.0

    rs = sorted(readings)
    return sum(
        (b[0] - a[0]).total_seconds() / 60 * (excess(a[1]) + excess(b[1])) / 2
        for a, b in itertools.pairwise(rs)
    )


@dataclass
class Leg:
    """One custodian's possession: from the handover in (``start``) to the handover out.

    ``key`` names the leg's place in the chain (``supplier``, ``first_leg``, ``warehouse``,
    ``last_mile``); ``silent``: the custodian posted nothing of its own (no receipt, no
    readings, no shipment).
    """

    key: str
    party: PartySpec
    start: datetime
    end: datetime
    temps: list[tuple[datetime, float]] = field(default_factory=list)
    accel: list[tuple[datetime, float]] = field(default_factory=list)
    silent: bool = False

    @property
    def in_transport(self) -> bool:
        """Carriers get the transport tolerance (frozen goods)."""
        return self.party.role == "carrier"

    def excursion(
        self, start: datetime, duration: timedelta, peak: float, rng: random.Random
    ) -> None:
        """The reefer or cold room fails: readings in [start, start + duration] near ``peak``,
        the readings either side half-way there (the temperature ramps)."""
        end = start + duration
        out = []
        for t, v in self.temps:
            if start <= t <= end:
                v = peak + rng.uniform(-0.6, 0.6)
            elif start - READING_STEP <= t < start or end < t <= end + READING_STEP:
                v = (v + peak) / 2
            out.append((t, round(v, 1)))
        self.temps = out

    def gap(self, start: datetime, end: datetime) -> None:
        """The logger recorded nothing in [start, end)."""
        self.temps = [(t, v) for t, v in self.temps if not start <= t < end]
        self.accel = [(t, v) for t, v in self.accel if not start <= t < end]


@dataclass(frozen=True)
class Inspection:
    """A handover inspection: who looked, when, and the CBV disposition recorded."""

    time: datetime
    by: PartySpec
    disposition: str


@dataclass
class Chain:
    """Legs in custody order, the receipt delays of the handovers between them, inspections.

    Handover ``k`` is between ``legs[k]`` and ``legs[k + 1]``: the sender ships at
    ``legs[k].end`` (= ``legs[k + 1].start``), the receiver confirms ``receipt_delays[k]``
    later. The goods reach the customer at ``legs[-1].end``.
    """

    lot: str
    category: str
    legs: list[Leg]
    receipt_delays: list[timedelta]
    inspections: list[Inspection] = field(default_factory=list)
    skew: dict[str, timedelta] = field(default_factory=dict)
    # Handovers whose shipment names no receiver (only the receipt says who took the goods).
    unnamed_receivers: set[int] = field(default_factory=set)
    # The use-by date the maker prints and records with the lot (its first event's ILMD,
    # ``cbvmda:itemExpirationDate``); None: the maker records none.
    use_by: date | None = None

    @classmethod
    def build(
        cls,
        rng: random.Random,
        *,
        lot: str,
        category: str,
        parties: Sequence[tuple[str, PartySpec, timedelta]],
        delivered_at: datetime,
    ) -> Chain:
        """Legs of the given (key, party, duration), ending at delivery, with clean readings."""
        legs: list[Leg] = []
        end = delivered_at
        for key, party, duration in reversed(parties):
            legs.insert(0, Leg(key, party, end - duration, end))
            end -= duration
        chain = cls(
            lot,
            category,
            legs,
            [timedelta(minutes=rng.randint(2, 8)) for _ in legs[1:]],
            # The profile's shelf life from packing: later than any delivery of a standard
            # chain, so only a generator that means it sells a pack past its date.
            use_by=(legs[0].start + _shelf_life(category)).date(),
        )
        for leg in legs:
            chain._fill(leg, rng)
        return chain

    def _fill(self, leg: Leg, rng: random.Random) -> None:
        lo, hi = _IN_BAND[self.category]
        t = leg.start + timedelta(minutes=rng.randint(0, 10))
        v = rng.uniform(lo, hi)
        while t < leg.end - timedelta(minutes=2):
            v = min(hi, max(lo, v + rng.gauss(0, 0.3)))
            leg.temps.append((t, round(v, 1)))
            t += READING_STEP
        t = leg.start + timedelta(minutes=rng.randint(5, 30))
        while t < leg.end - timedelta(minutes=2):
            leg.accel.append((t, round(rng.uniform(5.0, 20.0), 1)))
            t += _ACCEL_STEP

    # ------------------------------------------------------------------ lookups

    @property
    def delivered_at(self) -> datetime:
        """When the last custodian handed the goods to the customer."""
        return self.legs[-1].end

    def index(self, key: str) -> int:
        """The position of the leg named ``key``."""
        return next(i for i, leg in enumerate(self.legs) if leg.key == key)

    def leg(self, key: str) -> Leg:
        """The leg named ``key``."""
        return self.legs[self.index(key)]

    def receipt_time(self, k: int) -> datetime:
        """When the receiver of handover ``k`` confirmed receipt."""
        return self.legs[k].end + self.receipt_delays[k]

    @property
    def parties(self) -> tuple[PartySpec, ...]:
        """Every custodian, in custody order."""
        return tuple(leg.party for leg in self.legs)

    # ------------------------------------------------------------------ inspections

    def receipt_inspection(
        self, k: int, disposition: str, rng: random.Random, minutes: tuple[int, int] = (10, 50)
    ) -> Inspection:
        """The receiver of handover ``k`` inspects the goods on arrival, minutes after receipt."""
        at = self.receipt_time(k) + timedelta(minutes=rng.randint(*minutes))
        return self.inspect(at, self.legs[k + 1].party, disposition)

    def preship_inspection(
        self, k: int, disposition: str, rng: random.Random, minutes: tuple[int, int] = (5, 30)
    ) -> Inspection:
        """The sender of handover ``k`` inspects the goods shortly before shipping them."""
        at = self.legs[k].end - timedelta(minutes=rng.randint(*minutes))
        return self.inspect(at, self.legs[k].party, disposition)

    def delivery_inspection(self, disposition: str, rng: random.Random) -> Inspection:
        """The last-mile driver's proof-of-delivery inspection at the door."""
        at = self.delivered_at - timedelta(minutes=rng.randint(2, 10))
        return self.inspect(at, self.legs[-1].party, disposition)

    def inspect(self, at: datetime, by: PartySpec, disposition: str) -> Inspection:
        """Record an inspection."""
        found = Inspection(at, by, disposition)
        self.inspections.append(found)
        return found

    # ------------------------------------------------------------------ rendering

    def orders(self, k: int) -> tuple[str, ...]:
        """The purchase orders the shipment of handover ``k`` cites: the warehouse's, up to
        the warehouse (it ordered the lot from the supplier; a carrier delivers under it).
        None after it: the customer's order is the shop's own, not a GS1 business
        transaction, and the last-mile carrier issues none."""
        dc = next((i for i, leg in enumerate(self.legs) if leg.key == "warehouse"), None)
        if dc is None or k >= dc:
            return ()
        return (purchase_order(self.lot, self.legs[dc].party.id),)

    def events(self) -> list[dict[str, Any]]:
        """Every party's EPCIS events (clock skews applied), oldest first."""
        out: list[tuple[datetime, dict[str, Any]]] = []

        def add(party: PartySpec, at: datetime, step: str, **kw: Any) -> None:
            shift = self.skew.get(party.id, timedelta(0))
            out.append((at + shift, self._event(at + shift, step, shift=shift, **kw)))

        first = self.legs[0]
        if not first.silent:
            # The maker's packing creates the lot (action ADD), so it carries the lot's
            # master data: the use-by date it prints.
            made = {"cbvmda:itemExpirationDate": self.use_by.isoformat()} if self.use_by else {}
            add(first.party, first.start, "packing", src=first.party.id, ilmd=made)
        for leg in self.legs:
            if leg.silent or not (leg.temps or leg.accel):
                continue
            last = max(t for t, _ in leg.temps + leg.accel)
            at = min(last + timedelta(minutes=1), leg.end - timedelta(minutes=1))
            step = "transporting" if leg.in_transport else "storing"
            add(leg.party, at, step, src=leg.party.id, temps=leg.temps, accel=leg.accel)
        for k, (sender, receiver) in enumerate(zip(self.legs, self.legs[1:], strict=False)):
            ends = {"src": sender.party.id, "dst": receiver.party.id}
            if not sender.silent:
                shipped = {"src": ends["src"]} if k in self.unnamed_receivers else ends
                add(sender.party, sender.end, "shipping", orders=self.orders(k), **shipped)
            if not receiver.silent:
                add(receiver.party, self.receipt_time(k), "receiving", **ends)
        for i in self.inspections:
            add(i.by, i.time, "inspecting", src=i.by.id, disposition=i.disposition)
        out.sort(key=lambda pair: pair[0])
        return [e for _, e in out]

    def _event(
        self,
        at: datetime,
        biz_step: str,
        *,
        shift: timedelta,
        src: str | None = None,
        dst: str | None = None,
        disposition: str | None = None,
        orders: Sequence[str] = (),
        temps: Sequence[tuple[datetime, float]] = (),
        accel: Sequence[tuple[datetime, float]] = (),
        ilmd: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        device = (src or "").rsplit(":", 1)[-1].replace(".", "")
        loggers = (("T", "gs1:Temperature", "CEL", temps), ("A", "gs1:Acceleration", "MSK", accel))
        sensors = tuple(
            _sensor(f"urn:epc:id:giai:4000001.{letter}{device}", kind, uom, readings, shift)
            for letter, kind, uom, readings in loggers
            if readings
        )
        return ObjectEvent(
            event_time=at,
            biz_step=biz_step,
            action="ADD" if ilmd else "OBSERVE",
            disposition=disposition or None,
            quantities=(Quantity(lot_class(self.lot), 10, "KGM"),),
            sources=(SourceDestination(src),) if src else (),
            destinations=(SourceDestination(dst),) if dst else (),
            biz_transactions=tuple(BizTransaction(o, "po") for o in orders),
            sensors=sensors,
            times=ZULU,
            ilmd=ilmd or {},
        ).to_json()


def _sensor(
    device: str,
    kind: str,
    uom: str,
    readings: Sequence[tuple[datetime, float]],
    shift: timedelta,
) -> SensorElement:
    return SensorElement(
        device_id=device,
        reports=tuple(
            SensorReport(kind, value=v, uom=uom, time=t + shift) for t, v in sorted(readings)
        ),
    )


def poster_of(event: dict[str, Any], fallback: str) -> str:
    """Who posts an event: the receiver posts its receipt, everyone else their own events."""
    src = next((x["source"] for x in event.get("sourceList", [])), None)
    dst = next((x["destination"] for x in event.get("destinationList", [])), None)
    if event.get("bizStep") == "receiving" and dst:
        return str(dst)
    return str(src or dst or fallback)
