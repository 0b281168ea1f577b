"""The operations figures on a hand-built set of claims: every number worked out by hand.

Now is 2026-12-05 12:00 UTC; the window is the last 3 days (from 2026-12-03 00:00 UTC).

| claim | filed | category | lot | defect | ticket | history | party now | paid |
| c1 | 05 08:00 | chilled_produce | STRAW-1 | mold | P0 | ack 08:20, resolve 09:30 | carrier (a person; the machine said supplier) | 12.50 by a person |
| c2 | 05 06:00 | chilled_produce | STRAW-1 | spoilage | P1 | none (first response due 10:00: breached) | carrier | 8.00 auto |
| c3 | 04 10:00 | chilled | BEEF-7 | swelling | P0 | wait 10:10, resume 12:10, resolve 13:30 (due 12:00 + 2 h paused: met) | supplier | none |
| c4 | 03 09:00 | ambient_produce | APPLE-3 | none | P3 | resolve 05 11:00 (first response 50 h > 48 h) | customer (a person) | none |
| c5 | 12-01 | chilled_produce | STRAW-1 | spoilage | outside the window, in the baseline |
| c6 | 12-02 06:00 | chilled_produce | STRAW-2 | spoilage | outside the window, in the baseline |

Delivered: STRAW-1 received 100 units (shipped 120 before: receiving wins), STRAW-2 received
400, BEEF-7 only shipped 50 (no receiving on record), APPLE-3 has no records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.log import Ledger
from operations.dashboard import operations_dashboard, percentile, summarise
from operations.errors import InvalidWindowError
from operations.facts import NO_DEFECT, claim_facts, lot_counts, paid_totals
from operations.warning import LotCounts, WarningPolicy, rank_lots, upper_gamma
from storage.db import make_engine
from storage.schema import metadata
from supplychain.quantities import LotQuantity, delivered_quantities
from tests.operations.handbuilt import NOW, at, seed_days


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Ledger]:
    """The hand-built days, on SQLite."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    metadata.create_all(engine)
    ledger = Ledger(engine)
    seed_days(engine, ledger)
    yield ledger
    engine.dispose()


def test_each_claims_facts_follow_the_tickets_own_clock(shop: Ledger) -> None:
    with shop.engine.connect() as conn:
        facts = {f.claim_id: f for f in claim_facts(conn, since=at(3, 0), until=NOW, now=NOW)}
    assert sorted(facts) == ["c1", "c2", "c3", "c4"]
    c1, c2, c3, c4 = (facts[c] for c in ("c1", "c2", "c3", "c4"))
    assert (c1.responsible_party, c1.defects, c1.route) == ("carrier", ("mold",), "quality+legal")
    assert (c1.first_response_s, c1.resolution_s) == (1200, 5400)
    assert (c1.first_response, c1.resolution, c1.automated) == ("met", "met", False)
    assert (c2.first_response, c2.resolution, c2.state) == ("breached", "due", "new")
    assert (c2.automated, c2.paid, c2.first_response_s) == (True, Decimal("8.00"), None)
    # Resolved 3.5 h after filing against a 2 h SLA, but 2 h waited on the customer: met.
    assert (c3.first_response_s, c3.resolution_s, c3.resolution) == (600, 12600, "met")
    assert (c4.defects, c4.responsible_party) == ((NO_DEFECT,), "customer")
    assert (c4.first_response, c4.resolution, c4.first_response_s) == ("breached", "met", 180000)


def test_the_dashboard_of_the_hand_built_days(shop: Ledger) -> None:
    d = operations_dashboard(engine=shop.engine, ledger=shop, now=NOW, days=3)
    assert d.since == at(3, 0)
    t = d.total
    assert (t.claims, t.resolved, t.automated, t.decided_by_person) == (4, 3, 1, 2)
    assert (t.first_response_met, t.first_response_breached, t.first_response_due) == (2, 2, 0)
    assert (t.resolution_met, t.resolution_breached, t.resolution_due) == (3, 0, 1)
    assert t.breached == 2 and t.automation_rate == 0.25
    # Nearest rank over [600, 1200, 180000] and [5400, 12600, 180000].
    assert (t.first_response_p50_s, t.first_response_p90_s) == (1200, 180000)
    assert (t.resolution_p50_s, t.resolution_p90_s) == (12600, 180000)
    assert [(m.currency, m.amount) for m in t.paid] == [("EUR", Decimal("20.50"))]
    assert [(p.currency, p.amount, p.claims, p.automated) for p in d.paid] == [
        ("EUR", Decimal("20.50"), 2, 1)
    ]
    days = ("2026-12-03", "2026-12-04", "2026-12-05")
    assert d.per_day_category.days == days
    assert list(d.per_day_category.counts.items()) == [
        ("chilled_produce", (0, 0, 2)),
        ("ambient_produce", (1, 0, 0)),
        ("chilled", (0, 1, 0)),
    ]
    assert d.per_day_defect.counts == {
        "mold": (0, 0, 1),
        NO_DEFECT: (1, 0, 0),
        "spoilage": (0, 0, 1),
        "swelling": (0, 1, 0),
    }
    assert [(s.key, s.claims) for s in d.by_party] == [
        ("carrier", 2),
        ("customer", 1),
        ("supplier", 1),
    ]
    carrier = d.by_party[0]
    assert (carrier.automated, carrier.first_response_breached, carrier.resolution_due) == (1, 1, 1)
    assert [(m.amount) for m in carrier.paid] == [Decimal("20.50")]
    assert [(s.key, s.claims, s.breached) for s in d.by_lot] == [
        ("STRAW-1", 2, 1),
        ("APPLE-3", 1, 1),
        ("BEEF-7", 1, 0),
    ]
    assert [(s.key, s.claims) for s in d.by_route] == [
        ("quality+legal", 2),
        ("customer_care", 1),
        ("logistics", 1),
    ]
    assert [s.key for s in d.by_priority] == ["P0", "P1", "P3"]
    p0 = d.by_priority[0]
    assert (p0.claims, p0.resolution_met, p0.resolution_p50_s) == (2, 2, 5400)
    as_json = d.as_dict()
    assert as_json["total"]["paid"] == [{"currency": "EUR", "amount": "20.50", "voucher": "0.00"}]
    assert as_json["total"]["automation_rate"] == 0.25
    json.dumps(as_json)  # JSON all the way down


def test_the_early_warning_list_by_hand(shop: Ledger) -> None:
    d = operations_dashboard(engine=shop.engine, ledger=shop, now=NOW, days=3)
    assert [w.lot for w in d.warnings] == ["STRAW-1", "BEEF-7", "APPLE-3"]
    straw, beef, apple = d.warnings
    # STRAW-1: 2 recent claims on 100 units against STRAW-2's 1 claim on 400 (0.25%).
    assert (straw.claims, straw.units, straw.rate) == (2, 100, 0.02)
    assert straw.baseline is not None and straw.baseline.source == "category"
    assert straw.baseline.rate == 0.0025 and straw.ratio == pytest.approx(8.0)
    # Posterior Gamma(1 + 2, 400 + 100); P(rate > 0.005) = Q(3, 2.5), a Poisson sum.
    assert straw.probability == pytest.approx(math.exp(-2.5) * (1 + 2.5 + 2.5**2 / 2))
    assert straw.sentence == (
        "lot STRAW-1: 2 claims on 100 units in 3 days, 8.0\u00d7 the chilled produce "
        "baseline of 0.25%; 54% likely above 2\u00d7"
    )
    # BEEF-7 has no other chilled lot: every other lot's 4 claims on 500 units (0.8%).
    assert beef.baseline is not None and beef.baseline.source == "all lots"
    assert beef.baseline.rate == pytest.approx(0.008) and beef.ratio == pytest.approx(2.5)
    assert beef.probability == pytest.approx(math.exp(-2.8) * (1 + 2.8))
    assert "50 units" in beef.sentence and "all-lots baseline" in beef.sentence
    assert apple.ranked_by_claims_alone and apple.probability is None
    assert apple.sentence == (
        "lot APPLE-3: 1 claim in 3 days; no delivered quantity on record, "
        "so it is ranked by its claims alone"
    )


def test_sql_aggregates_and_delivered_quantities(shop: Ledger) -> None:
    with shop.engine.connect() as conn:
        rows = lot_counts(conn, recent_since=at(2, 12), baseline_since=at(1, 0), until=NOW)
        paid = paid_totals(conn, since=at(1, 0), until=NOW)
    assert rows == [
        LotCounts("APPLE-3", "ambient_produce", 1, 1),
        LotCounts("BEEF-7", "chilled", 1, 1),
        LotCounts("STRAW-1", "chilled_produce", 2, 3),
        LotCounts("STRAW-2", "chilled_produce", 0, 1),
    ]
    assert [(p.amount, p.claims) for p in paid] == [(Decimal("20.50"), 2)]
    units = delivered_quantities(ledger=shop, lots=["STRAW-1", "STRAW-2", "BEEF-7", "APPLE-3"])
    assert {k: (v.quantity, v.biz_step) for k, v in units.items()} == {
        "STRAW-1": (100, "receiving"),
        "STRAW-2": (400, "receiving"),
        "BEEF-7": (50, "shipping"),
    }


def test_the_model_pieces() -> None:
    # Q(a, x) against the closed form for whole a, and a configured baseline winning.
    for a in (1, 3, 9):
        for x in (0.3, 2.0, 11.0):
            exact = math.exp(-x) * sum(x**i / math.factorial(i) for i in range(a))
            assert upper_gamma(a, x) == pytest.approx(exact, rel=1e-12)
    rows = [LotCounts("L1", "mango", 3, 3), LotCounts("L2", "mango", 0, 5)]
    units = {"L1": LotQuantity("L1", 300, None, "receiving", 1)}
    policy = WarningPolicy(baselines={"mango": 0.006})
    (w,) = rank_lots(rows, units, policy)
    assert w.baseline is not None and w.baseline.source == "configured"
    assert w.sentence.startswith(
        "lot L1: 3 claims on 300 units in 3 days, 1.7\u00d7 the configured"
    )
    assert percentile([], 0.5) is None and percentile([5.0], 0.9) == 5.0
    with pytest.raises(InvalidWindowError):
        WarningPolicy(recent_days=30, baseline_days=7)


def test_an_empty_window() -> None:
    d = summarise([], since=at(3, 0), until=NOW, now=NOW)
    assert d.total.claims == 0 and d.total.automation_rate is None
    assert d.per_day_category.counts == {} and len(d.per_day_category.days) == 3
