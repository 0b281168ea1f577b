"""A shop's week as a plan: lots, the records each party posts, claims, returns, late records.

Pure and deterministic (seed + clock → the same week). Each lot is a fault scenario of
``scenarios`` (its chain, records and the party GUIDE §4 holds responsible); the week adds
what a real shop mixes in: several customers claiming on the same lot, a few fraudulent
claims reusing another claim's photo, claims above the adjudicator's limit, loggers that
report a leg as one aggregate (min/max/mean) instead of points, a leg's readings that arrive
only after the first claims, and stations grading returned items of the same lots. Each
party posts its own events with its own key, so the records are split per poster here.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import fmean
from typing import Any

from simulator.chain import document, poster_of, purchase_order
from simulator.scenarios import MISSING_DATA_KINDS, generate
from simulator.spec import ClaimSpec, PhotoSpec, Scenario, Truth
from supplychain.epcis.build import SensorReport

__all__ = [
    "LOT_KINDS",
    "BatchPlan",
    "ClaimPlan",
    "LotPlan",
    "Posting",
    "StationSpec",
    "Week",
    "plan_week",
]

LOT_KINDS = (
    "reefer_failure",
    "clean_chain_inherent",
    "handover_damage",
    "two_abusers",
    "supplier_quality",
    "ledger_only_defect",
    "late_claim",
    "sold_past_use_by",
    "out_of_order",
    "duplicate_events",
    "clock_skew",
    "sensor_gap",
    "missing_leg",
    "no_records",
    "custody_gap",
)
"""Fault kinds a week's lots cycle through: every one whose photos exist as real held-out
photos (no swollen packs), decided and missing-data alike."""

FRAUD = "fraud"
"""The truth's variant of a claim whose photo was copied from another claim."""
_PRODUCE = frozenset({"rotten", "fresh_produce"})
_GTIN = "4000001.012345"


@dataclass(frozen=True)
class Posting:
    """One EPCIS document a party posts with its own key (``party``: the id it speaks for)."""

    party: str
    document: dict[str, Any]
    # The authorship rule does not let it in: the party comes after a custodian that
    # recorded nothing, so its receipt names a sender with nothing on record
    # (``supplychain.authorship`` step 4) and the lot stays with that custodian on record;
    # not when the goods went to that custodian under the receiver's purchase order. The
    # service holds it (202) when it carries that receipt, waiting for the sender's record
    # that never comes (``supplychain.held``), and refuses it (403) otherwise (``held``).
    refused: bool = False

    @property
    def held(self) -> bool:
        """A refused posting the service holds instead: it carries a receipt from a named
        sender (what such a document waits for is the sender's own record)."""
        return self.refused and any(
            e.get("bizStep") == "receiving" and e.get("sourceList")
            for e in self.document["epcisBody"]["eventList"]
        )


@dataclass(frozen=True)
class LotPlan:
    """A lot: its scenario, the records posted before claims, those posted after the first.

    ``aggregate``: the party whose leg's readings are one min/max/mean report; ``late``: the
    party whose leg's readings arrive after the lot's first claim (None: neither).
    """

    scenario: Scenario
    postings: tuple[Posting, ...]
    late_postings: tuple[Posting, ...]
    epcs: tuple[str, ...]
    aggregate: str | None = None
    late: str | None = None
    # Late readings wait until a claim on the lot is settled (a flag, never a change), or
    # come right after the first claim (a re-assessment of claims still open).
    late_after_settled: bool = False

    @property
    def lot(self) -> str:
        """The lot number."""
        return self.scenario.lot

    @property
    def truth(self) -> Truth:
        """Who is responsible for the lot's defect."""
        return self.scenario.truth


@dataclass(frozen=True)
class ClaimPlan:
    """One customer's claim on a lot; ``copy_of``: the claim whose photo it reuses (fraud).

    ``after_grades``: filed only once the lot's returns were graded at a station.
    """

    name: str
    lot: str
    claim: ClaimSpec
    photos: tuple[PhotoSpec, ...]
    truth: Truth
    copy_of: str | None = None
    after_grades: bool = False

    @property
    def fraud(self) -> bool:
        """The photo is another claim's: it must not be paid without a person."""
        return self.copy_of is not None


@dataclass(frozen=True)
class StationSpec:
    """A returns station: its id and SGLN read point (what its key is bound to)."""

    station_id: str
    read_point: str


@dataclass(frozen=True)
class BatchPlan:
    """Returned items of one lot graded at a station: (EPC, item kind, photo subject)."""

    batch_id: str
    station: StationSpec
    lot: str
    items: tuple[tuple[str, str, PhotoSpec], ...]


@dataclass(frozen=True)
class Week:
    """Everything the week's users do, before any of it is done."""

    lots: tuple[LotPlan, ...]
    claims: tuple[ClaimPlan, ...]
    batches: tuple[BatchPlan, ...]
    stations: tuple[StationSpec, ...]

    def lot(self, lot: str) -> LotPlan:
        """The plan of ``lot``."""
        return next(p for p in self.lots if p.lot == lot)

    @property
    def parties(self) -> tuple[str, ...]:
        """Every party id that posts something (each gets its own supply-chain key)."""
        named = {p.party for lot in self.lots for p in lot.postings + lot.late_postings}
        return tuple(sorted(named))

    @property
    def customers(self) -> tuple[str, ...]:
        """Every customer id that files a claim (each app gets its own key)."""
        return tuple(sorted({c.claim.customer_id for c in self.claims}))


def plan_week(
    *,
    seed: int,
    now: datetime,
    lots: int,
    claims: int,
    batches: int,
    stations: int = 2,
    customers: int = 40,
    fraud_share: float = 0.05,
    high_value_share: float = 0.03,
    aggregate_share: float = 0.25,
    late_share: float = 0.2,
    kinds: Sequence[str] = LOT_KINDS,
) -> Week:
    """A week of ``lots`` lots, ``claims`` claims spread over them and ``batches`` returns."""
    rng = random.Random(seed)
    station_specs = tuple(
        StationSpec(f"DOCK-{n + 1}", f"urn:epc:id:sgln:4000001.0000{n + 1}.0")
        for n in range(stations)
    )
    people = [f"CUST-{seed % 1000:03d}-{n:03d}" for n in range(customers)]
    scenarios = [generate(kinds[i % len(kinds)], seed=seed, index=i, now=now) for i in range(lots)]
    # The twists go to chosen lots (counts, not chance, so even a small week has each):
    # aggregate reports only where the records can carry a verdict (min/max/mean over a leg
    # would paper over the very gap a missing-data lot is about).
    has_readings = [
        i for i, sc in enumerate(scenarios) if _reading_events([dict(d) for d in sc.documents])
    ]
    can_aggregate = [i for i in has_readings if scenarios[i].kind not in MISSING_DATA_KINDS]
    aggregated = set(
        rng.sample(can_aggregate, min(len(can_aggregate), round(lots * aggregate_share)))
    )
    can_be_late = [
        i for i in has_readings if i not in aggregated and scenarios[i].kind != "duplicate_events"
    ]
    late = sorted(rng.sample(can_be_late, min(len(can_be_late), round(lots * late_share))))
    lot_plans = [
        _lot(sc, i, rng=rng, aggregate=i in aggregated, late=i in late,
             after_settled=i in late[1::2])
        for i, sc in enumerate(scenarios)
    ]  # fmt: skip
    # Station lots: the ones whose supplier's packing event names the items (EPCs known).
    graded = [p for p in lot_plans if p.epcs]
    batch_plans = [
        _batch(graded[n % len(graded)], n, station_specs[n % stations], rng)
        for n in range(batches if graded else 0)
    ]
    graded_lots = {b.lot for b in batch_plans}
    claim_plans: list[ClaimPlan] = []
    # Catering orders above the adjudicator's limit: a chosen few, not left to chance.
    high = set(rng.sample(range(claims), min(claims, max(1, round(claims * high_value_share)))))
    for n in range(claims):
        plan = lot_plans[n % lots]
        k = n // lots
        s = plan.scenario
        value = (
            f"{rng.randrange(60000, 90000) / 100:.2f}"
            if n in high
            else f"{rng.randrange(300, 4500) / 100:.2f}"
        )
        spec = replace(
            s.claim,
            order_id=f"ORD-{s.lot}-{k:02d}",
            customer_id=rng.choice(people),
            line_value=value,
        )
        photos = tuple(PhotoSpec(p.subject, p.findings, rng.randrange(2**31)) for p in s.photos)
        claim_plans.append(
            ClaimPlan(
                name=f"{s.lot}/{k:02d}",
                lot=s.lot,
                claim=spec,
                photos=photos,
                truth=s.truth,
                after_grades=s.lot in graded_lots and k % 2 == 1,
            )
        )
    _make_frauds(claim_plans, rng, fraud_share)
    return Week(tuple(lot_plans), tuple(claim_plans), tuple(batch_plans), station_specs)


def _make_frauds(plans: list[ClaimPlan], rng: random.Random, share: float) -> None:
    """Turn a share of the later claims into copies of an earlier claim's photo."""
    count = round(len(plans) * share)
    later = list(range(len(plans) // 2, len(plans)))
    for n in rng.sample(later, min(count, len(later))):
        victim = plans[rng.randrange(0, len(plans) // 2)]
        if victim.lot == plans[n].lot or victim.fraud:
            continue
        plans[n] = replace(
            plans[n],
            photos=victim.photos[:1],
            truth=Truth("customer"),
            copy_of=victim.name,
        )


def _lot(
    s: Scenario,
    index: int,
    *,
    rng: random.Random,
    aggregate: bool,
    late: bool,
    after_settled: bool,
) -> LotPlan:
    docs = [copy.deepcopy(d) for d in s.documents]
    readers = _reading_events(docs)
    aggregate_party = late_party = None
    if aggregate and readers:
        aggregate_party = _pick(readers, s.truth, rng)
        for e in readers[aggregate_party]:
            _aggregate(e)
    late_docs: list[dict[str, Any]] = []
    if late and readers:
        late_party = _pick(readers, s.truth, rng)
        moved = readers[late_party]
        for d in docs:
            d["epcisBody"]["eventList"] = [
                e for e in d["epcisBody"]["eventList"] if all(e is not m for m in moved)
            ]
        late_docs = [document(moved)]
    epcs = _name_items(docs, s.lot, index)
    locked_out = _after_a_silent_custodian([*docs, *late_docs], s)
    return LotPlan(
        scenario=s,
        postings=tuple(_split(docs, s, locked_out)),
        late_postings=tuple(_split(late_docs, s, locked_out)),
        epcs=epcs,
        aggregate=aggregate_party,
        late=late_party,
        late_after_settled=after_settled,
    )


def _pick(readers: dict[str, list[dict[str, Any]]], truth: Truth, rng: random.Random) -> str:
    """The responsible party's leg when it has readings (the interesting case), else any."""
    if truth.party_id in readers:
        return truth.party_id
    return rng.choice(sorted(readers))


def _reading_events(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events carrying temperature readings, per the party whose logger took them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        for e in d["epcisBody"]["eventList"]:
            temps = [
                el
                for el in e.get("sensorElementList", [])
                if any(r.get("type") == "gs1:Temperature" for r in el["sensorReport"])
            ]
            src = next((x["source"] for x in e.get("sourceList", [])), None)
            if temps and src and e.get("bizStep") in ("transporting", "storing"):
                out.setdefault(src, []).append(e)
    return out


def _aggregate(event: dict[str, Any]) -> None:
    """The logger reports the leg as min/max/mean over its period instead of each reading."""
    for el in event["sensorElementList"]:
        reports = el["sensorReport"]
        if not any(r.get("type") == "gs1:Temperature" for r in reports):
            continue
        values = [float(r["value"]) for r in reports]
        times = sorted(r["time"] for r in reports)
        el["sensorMetadata"] = {
            **el["sensorMetadata"],
            "startTime": times[0],
            "endTime": times[-1],
        }
        summary = SensorReport(
            "gs1:Temperature",
            min_value=min(values),
            max_value=max(values),
            mean_value=round(fmean(values), 2),
            uom="CEL",
        )
        el["sensorReport"] = [summary.to_json()]


def _name_items(docs: list[dict[str, Any]], lot: str, index: int) -> tuple[str, ...]:
    """The supplier's packing event lists the lot's items (SGTINs), so stations find the lot."""
    for d in docs:
        for e in d["epcisBody"]["eventList"]:
            if e.get("bizStep") == "packing":
                epcs = tuple(f"urn:epc:id:sgtin:{_GTIN}.{index + 1}{n:03d}" for n in range(12))
                e["epcList"] = list(epcs)
                return epcs
    return ()


def _fallback(s: Scenario) -> str:
    return s.parties[0].id if s.parties else "urn:epc:id:pgln:4000001.00000"


def _split(
    docs: list[dict[str, Any]], s: Scenario, locked_out: frozenset[str] = frozenset()
) -> list[Posting]:
    """Each document cut into one per poster, in the original order."""
    fallback = _fallback(s)
    out = []
    for d in docs:
        per: dict[str, list[dict[str, Any]]] = {}
        for e in d["epcisBody"]["eventList"]:
            per.setdefault(poster_of(e, fallback), []).append(e)
        out += [Posting(p, document(events), p in locked_out) for p, events in per.items()]
    return out


def _after_a_silent_custodian(docs: list[dict[str, Any]], s: Scenario) -> frozenset[str]:
    """The posters whose records come after a custodian that recorded nothing of its own:
    a shipment names it, it posts nothing, so the next receipt names a sender with nothing
    on record and every record after it is refused (the lot stays with the silent one on
    record; the operator would record its handover). Empty when every custodian posts.

    The one exception: the shipment to the silent custodian cites the purchase order of the
    party that received the goods from it (a carrier that records nothing delivers under
    its receiver's order). So a silent first carrier locks nobody out (the supplier ships
    under the warehouse's order); a silent warehouse still locks the last-mile carrier out
    (the shipment to the warehouse cites the warehouse's own order, and the carrier after
    it issued none: nothing on record says the goods were to go to it).
    """
    fallback = _fallback(s)
    events = [e for d in docs for e in d["epcisBody"]["eventList"]]
    posters = {poster_of(e, fallback) for e in events}
    handed = [
        (
            e["eventTime"],
            x["destination"],
            [t["bizTransaction"] for t in e.get("bizTransactionList", ())],
        )
        for e in events
        if e.get("bizStep") == "shipping"
        for x in e.get("destinationList", ())
    ]
    took = {  # whom each party's goods went to, by the receipts naming it as the sender
        x["source"]: y["destination"]
        for e in events
        if e.get("bizStep") == "receiving"
        for x in e.get("sourceList", ())
        for y in e.get("destinationList", ())
    }
    silent = [
        t
        for t, dst, cited in handed
        if dst not in posters and not (dst in took and purchase_order(s.lot, took[dst]) in cited)
    ]
    if not silent:
        return frozenset()
    since = _instant(min(silent, key=_instant))
    first: dict[str, datetime] = {}
    for e in events:
        who, at = poster_of(e, fallback), _instant(e["eventTime"])
        first[who] = min(first.get(who, at), at)
    return frozenset(p for p, at in first.items() if at > since)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _batch(plan: LotPlan, n: int, station: StationSpec, rng: random.Random) -> BatchPlan:
    """Four to eight returned items of the lot, some sound and some not."""
    produce = any(p.subject in _PRODUCE for p in plan.scenario.photos)
    kind = "produce" if produce else "package"
    good, bad = ("fresh_produce", "rotten") if produce else ("intact_package", "damaged_package")
    count = rng.randint(4, 8)
    start = (n * 5) % max(1, len(plan.epcs) - count)
    items = tuple(
        (
            epc,
            kind,
            PhotoSpec(bad if rng.random() < 0.5 else good, (), rng.randrange(2**31)),
        )
        for epc in plan.epcs[start : start + count]
    )
    return BatchPlan(f"{station.station_id}/{plan.lot}/{n:03d}", station, plan.lot, items)
