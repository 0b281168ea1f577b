"""One generator per fault kind: a chain bent the way the fault bends it, and the true party.

Each takes a ``Gen`` (the scenario's seeded choices) and returns a ``Built``. The truth is
GUIDE §4's, not the engine's: latent defects (spoilage, mold, swelling) go to the custodian
whose cold-chain excess dominates, even behind a later clean inspection; visible damage to
whoever held the goods between the last clean and the first damaged observation, a receipt
inspection counting against the party that delivered; missing or contradictory records are
``undetermined``. Robustness kinds wrap a base fault and keep its truth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from simulator.builder import CLEAN, HELD_KEYS, Built, Gen, unregistered_party
from simulator.chain import Chain, document, poster_of
from simulator.spec import SELLER, UNDETERMINED, PartySpec, Truth

__all__ = ["GENERATORS", "ROBUSTNESS_BASES"]


def _owner(chain: Chain, key: str) -> Truth:
    party = chain.leg(key).party
    return Truth(party.role, party.id)


def _undetermined() -> Truth:
    return Truth(UNDETERMINED)


def _abused(g: Gen) -> tuple[str, str, float, float]:
    """(category, leg key, peak, hours) of a single failure."""
    category = g.category()
    key = g.rng.choice(HELD_KEYS)
    peak, hours = g.excursion_plan(category, key)
    return category, key, peak, hours


# ---------------------------------------------------------------------- decided kinds


def clean_chain_inherent(g: Gen) -> Built:
    """No abuse, claim inside the window: the product's own quality, the supplier's."""
    category = g.category()
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    if g.rng.random() < 0.5:
        chain.receipt_inspection(chain.index("warehouse") - 1, CLEAN, g.rng)
    if g.rng.random() < 0.5:
        chain.delivery_inspection(CLEAN, g.rng)
    return Built(
        chain, category, delivered, [g.photo("rotten")], _owner(chain, "supplier"), "no abuse"
    )


def reefer_failure(g: Gen) -> Built:
    """One leg's reefer or cold room fails; sometimes a clean inspection follows (latent)."""
    category, key, peak, hours = _abused(g)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered, min_hours={key: hours + 1.5})
    dm = g.apply_excursion(chain, key, peak, hours)
    variant = f"{key} at {peak:.0f} °C for {hours:.1f} h ({dm:.0f} °C·min)"
    if g.rng.random() < 0.5:
        if key == "last_mile":
            chain.delivery_inspection(CLEAN, g.rng)
        else:
            chain.receipt_inspection(chain.index(key), CLEAN, g.rng)
        variant += ", clean inspection at the next handover"
    return Built(chain, category, delivered, [g.photo("rotten")], _owner(chain, key), variant)


def two_abusers(g: Gen) -> Built:
    """Two legs abused, one at least twice the other's excess: the worse one."""
    rng = g.rng
    category = g.category()
    worse, lesser = rng.sample(HELD_KEYS, 2)
    peak_l, hours_l = g.excursion_plan(category, lesser, severity=(0.0, 0.5), hours=(1.0, 1.5))
    peak_w, _ = g.excursion_plan(category, worse, severity=(0.5, 1.0), min_peak=peak_l)
    # At least 2.6x the lesser's °C·min (discrete readings shave a little off either).
    ratio = g.excess(category, lesser, peak_l) / g.excess(category, worse, peak_w)
    hours_w = round(max(2.2 * hours_l, 2.6 * ratio * hours_l, rng.uniform(2.5, 5.0)), 2)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered, min_hours={worse: hours_w + 1.5, lesser: hours_l + 1.5})
    dm_l = g.apply_excursion(chain, lesser, peak_l, hours_l)
    dm_w = g.apply_excursion(chain, worse, peak_w, hours_w)
    variant = f"{worse} {dm_w:.0f} °C·min vs {lesser} {dm_l:.0f} °C·min"
    return Built(
        chain,
        category,
        delivered,
        [g.photo("rotten")],
        _owner(chain, worse),
        variant,
        extra={"degree_minutes": {worse: dm_w, lesser: dm_l}},
    )


def shock_swelling(g: Gen) -> Built:
    """A swollen pack, clean cold chain, a shock in one custodian's segment: that custodian."""
    category = g.category(("chilled", "frozen"))
    key = g.rng.choice(HELD_KEYS)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    leg = chain.leg(key)
    value = round(g.rng.uniform(200.0, 600.0), 1)
    leg.accel = sorted([*leg.accel, (g.moment_in(chain, key), value)])
    return Built(
        chain,
        category,
        delivered,
        [g.photo("swollen_pack")],
        _owner(chain, key),
        f"shock {value:.0f} m/s² in {key}",
    )


def seal_swelling(g: Gen) -> Built:
    """A swollen pack, clean cold chain, no shock: a seal defect, the supplier's."""
    category = g.category(("chilled", "frozen"))
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    return Built(
        chain,
        category,
        delivered,
        [g.photo("swollen_pack")],
        _owner(chain, "supplier"),
        "no shock",
    )


def _damage_between(g: Gen, chain: Chain, variant: str, *, seen: str) -> Truth:
    """Inspections for a visible-damage variant; ``seen`` the disposition that finds it."""
    rng = g.rng
    w = chain.index("warehouse")
    if variant == "between_warehouse":
        chain.receipt_inspection(w - 1, CLEAN, rng)
        chain.preship_inspection(w, seen, rng)
        return _owner(chain, "warehouse")
    if variant == "receipt_first_leg":
        if rng.random() < 0.5:
            chain.preship_inspection(0, CLEAN, rng, minutes=(2, 10))
        else:
            chain.receipt_inspection(0, CLEAN, rng, minutes=(5, 20))
        chain.receipt_inspection(w - 1, seen, rng)
        return _owner(chain, "first_leg")
    if variant == "receipt_warehouse":
        chain.receipt_inspection(w - 1, CLEAN, rng)
        chain.receipt_inspection(w, seen, rng)
        return _owner(chain, "warehouse")
    if variant == "last_mile":
        if rng.random() < 0.5:
            chain.preship_inspection(w, CLEAN, rng, minutes=(2, 10))
        else:
            chain.receipt_inspection(w, CLEAN, rng, minutes=(5, 20))
        return _owner(chain, "last_mile")
    if variant == "delivery":
        chain.receipt_inspection(w, CLEAN, rng, minutes=(5, 20))
        chain.delivery_inspection(seen, rng)
        return _owner(chain, "last_mile")
    raise ValueError(variant)


def handover_damage(g: Gen) -> Built:
    """Package damage first seen at a handover (or, last mile, by the customer)."""
    variant = g.rng.choice(
        ["between_warehouse", "receipt_first_leg", "receipt_warehouse", "last_mile"]
    )
    category = g.category()
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    truth = _damage_between(g, chain, variant, seen="damaged")
    return Built(chain, category, delivered, [g.photo("damaged_package")], truth, variant)


def ledger_only_defect(g: Gen) -> Built:
    """The photo shows nothing; an inspection on the ledger recorded the damage."""
    variant = g.rng.choice(["delivery", "between_warehouse", "receipt_first_leg"])
    category = g.category()
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    truth = _damage_between(g, chain, variant, seen="damaged")
    return Built(chain, category, delivered, [g.photo("intact_package")], truth, variant)


def late_claim(g: Gen) -> Built:
    """Clean chain, clean delivery, photo taken well past the window: the customer's."""
    category = g.category()
    delivered = g.delivered(category, late=True)
    chain = g.chain(category, delivered)
    chain.delivery_inspection(CLEAN, g.rng)
    hours = (g.now - delivered).total_seconds() / 3600
    return Built(
        chain,
        category,
        delivered,
        [g.photo("rotten")],
        Truth("customer"),
        f"claim {hours:.0f} h after delivery",
    )


def sold_past_use_by(g: Gen) -> Built:
    """A short-dated pack (use by the day after packing, as its maker records) held in the
    warehouse for days and delivered after that date: the seller's, whatever the readings."""
    category = g.category(("chilled", "chilled_produce"))
    delivered = g.delivered(category)
    days = g.rng.randint(1, 2)
    # At least days + 1 whole days between packing and delivery: the date is past by `days`.
    chain = g.chain(category, delivered, min_hours={"warehouse": 24.0 * (days + 1)})
    chain.use_by = chain.legs[0].start.date() + timedelta(days=1)
    assert chain.use_by < delivered.date()
    if g.rng.random() < 0.5:
        chain.delivery_inspection(CLEAN, g.rng)
    late = (delivered.date() - chain.use_by).days
    return Built(
        chain,
        category,
        delivered,
        [g.photo("rotten")],
        Truth(SELLER),
        f"use by {chain.use_by.isoformat()}, delivered {late} day(s) after",
    )


def supplier_quality(g: Gen) -> Built:
    """The first receipt after the supplier (direct to the warehouse) finds the defect."""
    rng = g.rng
    category = g.category()
    delivered = g.delivered(category)
    chain = g.chain(category, delivered, direct=True)
    if rng.random() < 0.5:
        disposition, subject = rng.choice(["non_conformant", "expired"]), "rotten"
    else:
        disposition, subject = "damaged", "damaged_package"
    chain.receipt_inspection(0, disposition, rng)
    return Built(
        chain,
        category,
        delivered,
        [g.photo(subject)],
        _owner(chain, "supplier"),
        f"{disposition} on arrival from the supplier",
    )


# ---------------------------------------------------------------------- missing data


def no_records(g: Gen) -> Built:
    """The lot was never captured."""
    category = g.category()
    subject = g.rng.choice(["rotten", "damaged_package"])
    return Built(
        None, category, g.delivered(category), [g.photo(subject)], _undetermined(), subject
    )


def missing_leg(g: Gen) -> Built:
    """One custodian recorded nothing of its own (no receipt, readings or shipment)."""
    category = g.category()
    key = g.rng.choice(HELD_KEYS)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    chain.leg(key).silent = True
    return Built(chain, category, delivered, [g.photo("rotten")], _undetermined(), f"{key} silent")


def sensor_gap(g: Gen) -> Built:
    """Hours of one leg without readings; a latent defect."""
    category = g.category()
    key = g.rng.choice(HELD_KEYS)
    hours = round(g.rng.uniform(3.0, 6.0), 2)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered, min_hours={key: hours + 2.0})
    leg = chain.leg(key)
    room = int((leg.end - leg.start).total_seconds() // 60 - hours * 60 - 60)
    start = leg.start + timedelta(minutes=30 + g.rng.randint(0, max(0, room)))
    leg.gap(start, start + timedelta(minutes=round(hours * 60)))
    return Built(
        chain,
        category,
        delivered,
        [g.photo("rotten")],
        _undetermined(),
        f"{hours:.1f} h gap in {key}",
    )


def unregistered_party_kind(g: Gen) -> Built:
    """A custodian whose id was never registered."""
    category = g.category()
    key = g.rng.choice(HELD_KEYS)
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    leg = chain.leg(key)
    leg.party = unregistered_party(g.rng, leg.party.role)
    return Built(
        chain,
        category,
        delivered,
        [g.photo("rotten")],
        _undetermined(),
        f"{key} unregistered",
        unregistered=frozenset({leg.party.id}),
    )


def contradictory_inspections(g: Gen) -> Built:
    """Two inspections of the same handover, minutes apart, disagree."""
    rng = g.rng
    category = g.category()
    delivered = g.delivered(category)
    chain = g.chain(category, delivered)
    k = rng.randrange(len(chain.legs) - 1)
    first, second = rng.choice([(CLEAN, "damaged"), ("damaged", CLEAN)])
    sender, receiver = chain.legs[k].party, chain.legs[k + 1].party
    variant = rng.choice(["sender_vs_receiver", "double_record"])
    if variant == "sender_vs_receiver":
        chain.receipt_delays[k] = timedelta(minutes=1)
        chain.inspect(chain.legs[k].end - timedelta(minutes=1), sender, first)
        chain.inspect(chain.receipt_time(k) + timedelta(minutes=1), receiver, second)
    else:
        at = chain.receipt_time(k) + timedelta(minutes=rng.randint(5, 20))
        chain.inspect(at, receiver, first)
        chain.inspect(at + timedelta(minutes=rng.randint(2, 4)), receiver, second)
    return Built(
        chain,
        category,
        delivered,
        [g.photo("damaged_package")],
        _undetermined(),
        f"{variant} at {chain.legs[k].key}→{chain.legs[k + 1].key}",
    )


def custody_gap(g: Gen) -> Built:
    """Shipped, then received hours later, nothing recorded between: nobody held the goods.

    ``late_receipt``: the shipment names the receiver, whose receipt comes hours later;
    ``unnamed_receiver``: the shipment names nobody, the receipt hours later says who.
    """
    rng = g.rng
    category = g.category()
    k = rng.randrange(3)  # supplier→carrier, carrier→warehouse, warehouse→carrier
    keys = ("supplier", "first_leg", "warehouse", "last_mile")
    hours = round(rng.uniform(3.0, 6.0), 2)
    shape = rng.choice(["late_receipt", "unnamed_receiver"])
    delivered = g.delivered(category)
    chain = g.chain(category, delivered, min_hours={keys[k + 1]: hours + 1.5})
    chain.receipt_delays[k] = timedelta(minutes=round(hours * 60))
    if shape == "unnamed_receiver":
        chain.unnamed_receivers.add(k)
    chain.legs[k + 1].gap(chain.legs[k + 1].start, chain.receipt_time(k))
    if rng.random() < 0.5:
        subject = "rotten"
    else:
        subject = "damaged_package"
        chain.preship_inspection(k, CLEAN, rng, minutes=(2, 10))
        chain.receipt_inspection(k, "damaged", rng, minutes=(10, 30))
    return Built(
        chain,
        category,
        delivered,
        [g.photo(subject)],
        _undetermined(),
        f"{shape}: {hours:.1f} h from {keys[k]}'s shipment to {keys[k + 1]}'s receipt, {subject}",
    )


# ---------------------------------------------------------------------- robustness

ROBUSTNESS_BASES = (
    "reefer_failure",
    "handover_damage",
    "clean_chain_inherent",
    "supplier_quality",
    "two_abusers",
)
"""Faults the robustness kinds wrap (no swelling: model mode has no real swollen photo)."""


def _base(g: Gen, choices: tuple[str, ...] = ROBUSTNESS_BASES) -> Built:
    kind = g.rng.choice(choices)
    built = GENERATORS[kind](g)
    built.base_kind = kind
    return built


def clock_skew(g: Gen) -> Built:
    """One party's clock runs 2 to 4 minutes off; the truth is the base fault's."""
    built = _base(g)
    assert built.chain is not None
    party: PartySpec = g.rng.choice(built.chain.parties)
    minutes = g.rng.choice([-1, 1]) * g.rng.randint(2, 4)
    built.chain.skew[party.id] = timedelta(minutes=minutes)
    built.variant = f"{built.base_kind}: {built.variant}; {party.name} clock {minutes:+d} min"
    return built


def duplicate_events(g: Gen) -> Built:
    """The same document posted twice."""
    built = _base(g)
    assert built.chain is not None
    doc = document(built.chain.events())
    built.documents = [doc, doc]
    built.variant = f"{built.base_kind}: {built.variant}; posted twice"
    return built


def out_of_order(g: Gen) -> Built:
    """The events in several documents, the newest posted first.

    Each document is one party's batch (each party's system sends its own records, a few
    at a time): a key adds records to a lot's history only where the history names its
    party (``supplychain.authorship``), so a party's late upstream records follow the
    downstream receipt that names it, not another party's batch cut through the middle.
    """
    built = _base(g)
    assert built.chain is not None
    events = built.chain.events()
    parties = built.chain.parties
    fallback = parties[0].id if parties else ""
    chunks, i = [], 0
    while i < len(events):
        poster, most, n = poster_of(events[i], fallback), g.rng.randint(1, 4), 1
        while n < most and i + n < len(events) and poster_of(events[i + n], fallback) == poster:
            n += 1
        chunks.append(events[i : i + n])
        i += n
    built.documents = [document(c) for c in reversed(chunks)]
    built.variant = f"{built.base_kind}: {built.variant}; {len(chunks)} documents, newest first"
    return built


def mixed_photos(g: Gen) -> Built:
    """One defective photo among clean ones."""
    built = _base(g, (*ROBUSTNESS_BASES, "late_claim"))
    (defective,) = built.photos
    clean = "intact_package" if defective.subject == "damaged_package" else "fresh_produce"
    photos = [g.photo(clean) for _ in range(g.rng.randint(1, 3))]
    photos.insert(g.rng.randint(0, len(photos)), defective)
    built.photos = photos
    built.variant = f"{built.base_kind}: {built.variant}; {len(photos)} photos"
    return built


GENERATORS: dict[str, Callable[[Gen], Built]] = {
    "clean_chain_inherent": clean_chain_inherent,
    "reefer_failure": reefer_failure,
    "two_abusers": two_abusers,
    "shock_swelling": shock_swelling,
    "seal_swelling": seal_swelling,
    "handover_damage": handover_damage,
    "ledger_only_defect": ledger_only_defect,
    "late_claim": late_claim,
    "sold_past_use_by": sold_past_use_by,
    "supplier_quality": supplier_quality,
    "no_records": no_records,
    "missing_leg": missing_leg,
    "sensor_gap": sensor_gap,
    "unregistered_party": unregistered_party_kind,
    "contradictory_inspections": contradictory_inspections,
    "custody_gap": custody_gap,
    "clock_skew": clock_skew,
    "duplicate_events": duplicate_events,
    "out_of_order": out_of_order,
    "mixed_photos": mixed_photos,
}
"""Every fault kind's generator, in the order reports list them."""
