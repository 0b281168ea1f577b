"""A pack's public story: what its QR code's page tells anyone, read from the ledger.

``public_story`` finds the lot (or the item, and the lot it came in) a GS1 Digital Link
names, by its EPC URNs and its Digital Link only: never by a bare lot number, which
another GTIN's lot may share. It reads the lot's records as the trace does
(``supplychain.custody``) and keeps what the ``StoryPolicy`` makes public: the origin
(ILMD), the route (custody, each custodian's name and role), the inspections and their
outcome, the temperatures. Customers are never named, and nothing that happened while one
held the goods is told; returns, claims, prices and whatever a supplier marks private are
not read at all.

Each step carries its ledger index and leaf hash; its whole record too when every field in
it is public, so a reader's browser can hash it, prove it into the signed checkpoint and
check that the step shows what the record says (``Step.shown``). A record with anything
non-public in it (another lot, a price, a private field, a shell user's login) is withheld:
its leaf is still proven, its content is only as the page tells it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ledger.log import Ledger
from supplychain.custody import (
    AggregateReading,
    LotEvent,
    Reading,
    UnknownLotError,
    custody,
    lot_events,
)
from supplychain.identifiers.digital_link import PackLink, lot, to_digital_link
from supplychain.projections import event_lots, parties
from supplychain.story_policy import Product, StoryPolicy

__all__ = [
    "FAILED",
    "PASSED",
    "OriginFact",
    "PublicParty",
    "PublicStory",
    "Step",
    "Stretch",
    "UnknownLotError",
    "public_story",
]

# CBV 2.0 dispositions an inspection ends with, read as its outcome.
PASSED = frozenset(
    {"conformant", "sellable_accessible", "sellable_not_accessible", "active", "in_progress"}
)
FAILED = frozenset(
    {
        "non_conformant", "damaged", "expired", "destroyed", "recalled", "non_sellable_other",
        "mismatch_instance", "mismatch_class", "mismatch_quantity", "needs_replacement",
        "stolen", "unknown",
    }
)  # fmt: skip


@dataclass(frozen=True)
class PublicParty:
    """A custodian as the public sees it: its registered name and role (None: a party the
    registry does not know, so neither is told)."""

    name: str | None
    role: str | None


@dataclass(frozen=True)
class Stretch:
    """One leg of the route: ``party`` held the goods from ``start`` to ``end`` (None: to the
    last record). ``party`` None: a shipment named no receiver, so nobody is on record."""

    party: PublicParty | None
    start: datetime
    end: datetime | None
    index: int  # the ledger entry whose event began it


@dataclass(frozen=True)
class Step:
    """One recorded event of the lot, as public as the policy lets it be.

    ``record``: the ledger record, whole, when every field of it is public (None: withheld;
    only the leaf is proven). ``shown``: the record's ``view`` fields this step shows, for
    the browser to compare with the record it hashed.
    """

    index: int
    leaf_hash: str
    time: datetime
    biz_step: str | None
    disposition: str | None
    party: PublicParty | None  # who held the goods after this event
    readings: tuple[Reading, ...]
    aggregates: tuple[AggregateReading, ...]
    record: str | None
    shown: Mapping[str, Any]

    @property
    def inspection(self) -> bool:
        """A quality inspection (CBV ``inspecting``)."""
        return self.biz_step == "inspecting"

    @property
    def outcome(self) -> str | None:
        """An inspection's outcome: ``passed``, ``failed`` or ``recorded`` (no verdict in its
        disposition); None for other steps."""
        if not self.inspection:
            return None
        if self.disposition in PASSED:
            return "passed"
        return "failed" if self.disposition in FAILED else "recorded"


@dataclass(frozen=True)
class OriginFact:
    """One origin fact from the lot's master data (ILMD), e.g. its country of origin."""

    key: str  # the CBV master-data name, e.g. ``cbvmda:countryOfOrigin``
    value: str


@dataclass(frozen=True)
class PublicStory:
    """Everything a pack's public page shows, each step with its ledger entry."""

    link: PackLink
    lot: str  # the lot the story is of (an item's lot, for a serial's page)
    product: Product
    origin: tuple[OriginFact, ...]
    steps: tuple[Step, ...]
    route: tuple[Stretch, ...]

    @property
    def producer(self) -> PublicParty | None:
        """The first custodian on record: who produced or packed the lot."""
        return next((s.party for s in self.route if s.party is not None), None)

    @property
    def inspections(self) -> tuple[Step, ...]:
        """The quality inspections, oldest first."""
        return tuple(s for s in self.steps if s.inspection)

    @property
    def readings(self) -> tuple[Reading, ...]:
        """Every temperature reading, in time order."""
        return tuple(sorted((r for s in self.steps for r in s.readings), key=lambda r: r.time))

    @property
    def aggregates(self) -> tuple[AggregateReading, ...]:
        """Every logger summary (min/max/mean over a period), in time order."""
        return tuple(sorted((a for s in self.steps for a in s.aggregates), key=lambda a: a.start))


# ---------------------------------------------------------------------------- finding it


def _item_lot(ledger: Ledger, link: PackLink) -> str | None:
    """The lot of the same GTIN that the item's records file it under, if any."""
    assert link.serial is not None
    with ledger.engine.connect() as conn:
        hashes = select(event_lots.c.hash_id).where(event_lots.c.lot.in_(link.epc_candidates()))
        keys = conn.execute(
            select(event_lots.c.lot).where(
                event_lots.c.hash_id.in_(hashes), event_lots.c.lot.like("urn:epc:class:lgtin:%")
            )
        ).scalars()
        prefix = f"https://id.gs1.org/01/{link.gtin}/10/"
        lots = sorted(
            {n for k in keys if (to_digital_link(k) or "").startswith(prefix) and (n := lot(k))}
        )
    return lots[0] if lots else None


# ---------------------------------------------------------------------------- privacy


def _private(raw: Mapping[str, Any], policy: StoryPolicy) -> tuple[bool, frozenset[str]]:
    """(the whole event is private, the fields its supplier marked private)."""
    mark = raw.get(policy.private_marker)
    if mark is True:
        return True, frozenset()
    if isinstance(mark, list):
        return False, frozenset(m for m in mark if isinstance(m, str))
    return False, frozenset()


def _strip(e: LotEvent, hidden: frozenset[str]) -> LotEvent:
    """The event without the fields its supplier marked private."""
    changes: dict[str, Any] = {}
    if "bizStep" in hidden:
        changes["biz_step"] = None
    if "disposition" in hidden:
        changes["disposition"] = None
    if "readPoint" in hidden:
        changes["read_point"] = None
    if "sourceList" in hidden:
        changes["source"] = None
    if "destinationList" in hidden:
        changes["destination"] = None
    if "sensorElementList" in hidden:
        changes.update(readings=(), aggregates=(), shocks=())
    return replace(e, **changes) if changes else e


def _publishable(
    body: Mapping[str, Any],
    *,
    keys: frozenset[str],
    public_parties: frozenset[str],
    policy: StoryPolicy,
) -> bool:
    """Whether every field of the record is public, so it may be sent whole."""
    raw = body.get("event") or {}
    view = body.get("view") or {}
    allowed = policy.event_fields | policy.extension_fields
    if policy.private_marker in raw or set(raw) - allowed:
        return False
    if set(raw.get("ilmd") or {}) - set(policy.origin_fields):
        return False
    # Only this pack's own identifiers: a record naming another lot or item stays here.
    named = [*view.get("lots", ()), *view.get("epcs", ())]
    if view.get("parent_id"):
        named.append(view["parent_id"])
    if any(k not in keys for k in named):
        return False
    parties_named = [i for _, i in (*view.get("sources", ()), *view.get("destinations", ()))]
    parties_named += list(body.get("captured_for") or ())
    if any(p not in public_parties for p in parties_named):
        return False
    capturer = body.get("captured_by")
    return capturer is None or capturer.startswith(policy.public_capturers)


# ---------------------------------------------------------------------------- the story


def _text(value: Any) -> str:
    """An ILMD value as people read it: lists and records by their values."""
    if isinstance(value, Mapping):
        return ", ".join(_text(v) for v in value.values())
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)


def _origin(raws: Iterable[Mapping[str, Any]], policy: StoryPolicy) -> tuple[OriginFact, ...]:
    """The first value of each origin field that the lot's master data (ILMD) gives."""
    found: dict[str, str] = {}
    for raw in raws:
        _, hidden = _private(raw, policy)
        ilmd = raw.get("ilmd") if "ilmd" not in hidden else None
        if not isinstance(ilmd, Mapping):
            continue
        for key in policy.origin_fields:
            if key in ilmd and key not in hidden and key not in found:
                found[key] = _text(ilmd[key])
    return tuple(OriginFact(k, found[k]) for k in policy.origin_fields if k in found)


def _registry(ledger: Ledger, ids: set[str]) -> dict[str, tuple[str, str]]:
    if not ids:
        return {}
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(parties).where(parties.c.id.in_(sorted(ids))))
        return {r.id: (r.role, r.name) for r in rows}


def _shown(view: Mapping[str, Any], e: LotEvent) -> dict[str, Any]:
    """The record's view fields the step shows, as the record holds them."""
    shown = {k: view.get(k) for k in ("event_time", "biz_step", "disposition")}
    if e.readings:
        shown["temperatures"] = view.get("temperatures")
    if e.aggregates and "temperature_aggregates" in view:
        shown["temperature_aggregates"] = view["temperature_aggregates"]
    return shown


def public_story(*, ledger: Ledger, link: PackLink, policy: StoryPolicy) -> PublicStory:
    """The public story of the lot (or item) ``link`` names; ``UnknownLotError`` when the
    ledger holds no public record of it."""
    keys = set(link.epc_candidates())
    the_lot = link.lot
    if link.serial is not None:
        the_lot = _item_lot(ledger, link)
        if the_lot is not None:
            keys |= set(PackLink(link.gtin, lot=the_lot).epc_candidates())
    found = lot_events(ledger=ledger, lot=sorted(keys))
    entries = {e.index: ledger.entry(e.index) for e in found}

    # 1. What the policy leaves out whole: private events, returns.
    kept: list[LotEvent] = []
    for e in found:
        raw = entries[e.index].body.get("event") or {}
        whole, fields = _private(raw, policy)
        if whole or (not policy.show_returns and (e.station or (e.item_level and e.inspection))):
            continue
        kept.append(_strip(e, fields))

    # 2. Custody, with nothing while a party of a hidden role (a customer) holds the goods.
    ids = {p for e in kept for p in (e.source, e.destination) if p}
    ids |= {p for e in kept for p in entries[e.index].body.get("captured_for") or ()}
    registry = _registry(ledger, ids)
    hidden = {p for p, (role, _) in registry.items() if role in policy.hidden_roles}
    chain = custody(kept)
    spans = [(h, chain[i + 1].since if i + 1 < len(chain) else None) for i, h in enumerate(chain)]

    # The story ends where a customer takes the goods: from the first handover to one (the
    # stretch before its receipt too, which nobody else confirms), nothing more is told.
    end_of_story = next((e.time for e in kept if e.destination in hidden), None)

    def hidden_at(at: datetime) -> bool:
        if end_of_story is not None and at >= end_of_story:
            return True
        return any(
            h.holder in hidden and h.since <= at and (end is None or at < end) for h, end in spans
        )

    visible = [
        e
        for e in kept
        if e.source not in hidden and e.destination not in hidden and not hidden_at(e.time)
    ]
    spans = [
        (h, end_of_story if end is None or (end_of_story and end > end_of_story) else end)
        for h, end in spans
        if not hidden_at(h.since)
    ]
    if not visible:
        raise UnknownLotError(link.path)

    def party(pid: str | None) -> PublicParty | None:
        if pid is None:
            return None
        role, name = registry.get(pid, (None, None))
        return PublicParty(name, role)

    route = tuple(Stretch(party(h.holder), h.since, end, h.index) for h, end in spans)
    public_parties = frozenset(p for p in registry if p not in hidden)
    keyset = frozenset(keys)
    steps = []
    for e in visible:
        entry = entries[e.index]
        holder = next((h.holder for h, _ in reversed(spans) if h.since <= e.time), None)
        # A record with fields marked private carries the marker: it is never published.
        publish = _publishable(
            entry.body, keys=keyset, public_parties=public_parties, policy=policy
        )
        steps.append(
            Step(
                index=e.index,
                leaf_hash=e.leaf_hash,
                time=e.time,
                biz_step=e.biz_step,
                disposition=e.disposition,
                party=party(holder),
                readings=e.readings,
                aggregates=e.aggregates,
                record=entry.record.decode() if publish else None,
                shown=_shown(entry.body["view"], e) if publish else {},
            )
        )
    return PublicStory(
        link=link,
        lot=the_lot or "",
        product=policy.product(link.gtin),
        origin=_origin((entries[e.index].body.get("event") or {} for e in visible), policy),
        steps=tuple(steps),
        route=route,
    )
