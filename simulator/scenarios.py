"""Scenarios: fault kind + seed + clock → parties, EPCIS documents, claim, photos and truth.

Pure and deterministic: the same (kind, seed, index, now) always gives the same scenario,
byte for byte, so a bench run can be repeated and a surprising verdict rebuilt. Times are
laid back from ``now`` (all in the past: the API refuses events from the future), with
deliveries 30 minutes to 6 hours ago, or days ago for late claims.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime

from simulator.builder import REGISTRY, Built, Gen
from simulator.chain import document
from simulator.faults import GENERATORS
from simulator.spec import ClaimSpec, PartySpec, Scenario

__all__ = [
    "DECIDED_KINDS",
    "KINDS",
    "MISSING_DATA_KINDS",
    "REGISTRY",
    "ROBUSTNESS_KINDS",
    "generate",
    "scenario_seed",
    "suite",
]

KINDS: tuple[str, ...] = tuple(GENERATORS)
"""Every fault kind, in report order."""
MISSING_DATA_KINDS = frozenset(
    {
        "no_records",
        "missing_leg",
        "sensor_gap",
        "unregistered_party",
        "contradictory_inspections",
        "custody_gap",
    }
)
"""Kinds whose truth is ``undetermined``: the records cannot carry a decision."""
ROBUSTNESS_KINDS = frozenset({"clock_skew", "duplicate_events", "out_of_order", "mixed_photos"})
"""Kinds that wrap a base fault in messy records or photos and keep its truth."""
DECIDED_KINDS = frozenset(KINDS) - MISSING_DATA_KINDS - ROBUSTNESS_KINDS

_ABBR = {
    "clean_chain_inherent": "CLEAN",
    "reefer_failure": "REEFER",
    "two_abusers": "TWO",
    "shock_swelling": "SHOCK",
    "seal_swelling": "SEAL",
    "handover_damage": "HAND",
    "ledger_only_defect": "LEDGER",
    "late_claim": "LATE",
    "sold_past_use_by": "USEBY",
    "supplier_quality": "SUPQ",
    "no_records": "NOREC",
    "missing_leg": "MISS",
    "sensor_gap": "SGAP",
    "unregistered_party": "UNREG",
    "contradictory_inspections": "CONTRA",
    "custody_gap": "CGAP",
    "clock_skew": "SKEW",
    "duplicate_events": "DUP",
    "out_of_order": "OOO",
    "mixed_photos": "MIX",
}


def scenario_seed(seed: int, kind: str, index: int) -> int:
    """A scenario's own seed: stable across Python processes (no salted ``hash``)."""
    digest = hashlib.sha256(f"{seed}:{kind}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def generate(kind: str, *, seed: int, index: int, now: datetime) -> Scenario:
    """The ``index``-th scenario of ``kind`` for the run seed, laid back from ``now``."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
    own = scenario_seed(seed, kind, index)
    rng = random.Random(own)
    lot = f"SIM{seed % 10000:04d}-{_ABBR[kind]}-{index:03d}"
    built = GENERATORS[kind](Gen(rng=rng, now=now, lot=lot))
    return _scenario(kind, index, own, lot, built, rng)


def suite(
    *, per_kind: int, seed: int, now: datetime, kinds: tuple[str, ...] = KINDS
) -> list[Scenario]:
    """``per_kind`` scenarios of each kind, kinds in report order."""
    return [generate(k, seed=seed, index=i, now=now) for k in kinds for i in range(per_kind)]


def _scenario(
    kind: str, index: int, seed: int, lot: str, built: Built, rng: random.Random
) -> Scenario:
    parties: tuple[PartySpec, ...] = ()
    documents: tuple[dict[str, object], ...] = ()
    if built.chain is not None:
        parties = tuple(
            dict.fromkeys(p for p in built.chain.parties if p.id not in built.unregistered)
        )
        docs = built.documents if built.documents is not None else [document(built.chain.events())]
        documents = tuple(docs)
    defect = next((p.subject for p in built.photos if p.defective), "nothing visible")
    claim = ClaimSpec(
        order_id=f"ORD-{lot}",
        customer_id=f"CUST-{rng.randrange(10000):04d}",
        lot=lot,
        category=built.category,
        delivered_at=built.delivered_at,
        line_value=f"{rng.randrange(300, 4500) / 100:.2f}",
        currency="EUR",
        description=f"Simulated claim ({kind}): the photo shows {defect.replace('_', ' ')}.",
    )
    return Scenario(
        name=f"{kind}-{index:03d}",
        kind=kind,
        variant=built.variant,
        seed=seed,
        category=built.category,
        parties=parties,
        documents=documents,
        claim=claim,
        photos=tuple(built.photos),
        truth=built.truth,
        note=built.note,
    )
