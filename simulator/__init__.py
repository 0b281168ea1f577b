"""A supply-chain simulator that measures how well the responsibility engine decides claims.

Scenarios (``scenarios``) are pure: a fault kind, a seed and a clock give the parties, the
EPCIS 2.0 documents each party would post, the customer's claim and photos, and the party
GUIDE §4 holds responsible. The runner (``runner``) drives the public HTTP API with them and
collects the verdicts; ``report`` scores them. ``bench/responsibility.py`` puts it together
against a real server; ``photos`` supplies generated photos with given findings (to judge
the rules alone) or real held-out photos (to judge model and rules together).

Modules: ``spec`` (the dataclasses), ``chain`` (a chain and its EPCIS events), ``builder``
(party registry, seeded choices), ``faults`` (one generator per fault kind).

A shop's week (``bench/shop.py``, ``tests/simulator/test_shop_week.py``) builds on the same
scenarios: ``week`` plans lots, claims, returns, aggregate and late records; ``users`` plays
every user at once over HTTP with its own key, keeping what they saw in ``observed``;
``decisions`` is how the simulated people read and decide a claim; ``views`` collects every
view of every claim at the end; ``receiver`` is the webhook endpoint; ``invariants`` judges
what they saw and gives the figures; ``shopweek`` puts it together.

Not shipped: the wheel leaves this package out (benches and tests use it from the checkout).
"""

from simulator.report import KindScore, confident_on_missing_data, format_table, score
from simulator.runner import Runner
from simulator.scenarios import KINDS, MISSING_DATA_KINDS, REGISTRY, generate, suite
from simulator.spec import Outcome, PartySpec, PhotoSpec, Scenario, SeenVerdict, Truth

__all__ = [
    "KINDS",
    "MISSING_DATA_KINDS",
    "REGISTRY",
    "KindScore",
    "Outcome",
    "PartySpec",
    "PhotoSpec",
    "Runner",
    "Scenario",
    "SeenVerdict",
    "Truth",
    "confident_on_missing_data",
    "format_table",
    "generate",
    "score",
    "suite",
]
