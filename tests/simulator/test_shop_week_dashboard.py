"""The operations dashboard of a short simulated shop week, checked against the simulator.

A small week (7 lots, one with no records at all; 14 claims; 2 station batches) is played
through the public HTTP API by every user at once (``simulator.shopweek.play``, as
``bench/shop.py`` does at full size). Then the dashboard's figures, as the workbench serves
them (``/review/operations.json`` behind an auditor's session), are compared with numbers
computed here from the simulator's own records: the plan (lots, categories, the EPCIS
documents each party posted, with their quantities), what each customer's filing was
answered (priority and route), what the simulated people decided, and each claim as the
API shows it at the end (its party, payment, ticket history).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.shopweek import WeekResult
from simulator.week import Week, plan_week
from supplychain.identifiers.digital_link import lot as lot_of
from supplychain.lot_names import identity
from tests.api.access import grant
from tests.simulator.played import played_week
from tests.web.test_session import _log_in

SECRET = "shop-week-dashboard-secret"
KINDS = (
    "reefer_failure",
    "clean_chain_inherent",
    "handover_damage",
    "supplier_quality",
    "no_records",
    "two_abusers",
    "late_claim",
)


@pytest.fixture(scope="module")
def played(pools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """The week played once; yields its result and the dashboard's JSON after it (the last
    two UTC days: the week is played in well under one)."""
    data = tmp_path_factory.mktemp("shop-week-dashboard")
    week = plan_week(
        seed=5,
        now=datetime.now(UTC) - timedelta(minutes=2),
        lots=7,
        claims=14,
        batches=2,
        customers=6,
        fraud_share=0.0,
        high_value_share=0.1,
        kinds=KINDS,
    )
    app, result = played_week(week, data=data, pools=pools, photo_seed=5, secret=SECRET)
    with TestClient(app, base_url="https://testserver") as browser:
        _log_in(browser, grant(app, "auditor"))
        answer = browser.get("/review/operations.json", params={"days": 2})
        assert answer.status_code == 200, answer.text
        yield result, answer.json()


def _rows(slices: list[dict[str, Any]]) -> dict[str, int]:
    return {s["key"]: s["claims"] for s in slices}


def _keys(week: Week) -> dict[str, str]:
    """Each lot's key as the claims filed on it by number are keyed (``claims.lot_keys``):
    the canonical Digital Link of the lot class its parties posted records by before the
    claims, the bare number of a lot with none."""
    out: dict[str, str] = {}
    for lot in week.lots:
        named = {
            identity(q["epcClass"])
            for posting in lot.postings
            for event in posting.document["epcisBody"]["eventList"]
            for q in event.get("quantityList") or ()
            if lot_of(q["epcClass"]) == lot.lot
        }
        assert len(named) <= 1, named  # one company's lot of each number in this week
        out[lot.lot] = named.pop() if named else lot.lot
    return out


def _delivered(week: Week) -> dict[str, float]:
    """Each lot's delivered quantity read from the documents its parties posted: the latest
    receiving event's amount, else the latest shipping event's."""
    out: dict[str, float] = {}
    for lot in week.lots:
        found: dict[str, tuple[str, float]] = {}
        for posting in lot.postings + lot.late_postings:
            for event in posting.document["epcisBody"]["eventList"]:
                step = str(event.get("bizStep") or "").rsplit(":", 1)[-1]
                amounts = [
                    q["quantity"]
                    for q in event.get("quantityList") or ()
                    if q["epcClass"].endswith("." + lot.lot) and "quantity" in q
                ]
                if step in ("receiving", "shipping") and amounts:
                    when = event["eventTime"]
                    if step not in found or found[step][0] < when:
                        found[step] = (when, float(sum(amounts)))
        if found:
            out[lot.lot] = (found.get("receiving") or found["shipping"])[1]
    return out


def _first_response_s(claim: dict[str, Any]) -> float | None:
    """From filing to the first acknowledgement, wait or resolution in the ticket history."""
    created = datetime.fromisoformat(claim["created_at"])
    for e in claim["ticket"]["history"]:
        if e["action"] in ("acknowledge", "wait_on_customer", "resolve"):
            return (datetime.fromisoformat(e["at"]) - created).total_seconds()
    return None


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_the_dashboard_counts_what_the_simulator_filed_and_decided(
    played: tuple[WeekResult, dict[str, Any]],
) -> None:
    result, board = played
    filed = result.seen.by_id()
    seen = result.views.adjudicator
    assert len(filed) == 14 and set(seen) == set(filed), result.seen.errors[:5]
    total = board["total"]
    assert total["claims"] == len(filed)
    assert _rows(board["by_category"]) == Counter(f.plan.claim.category for f in filed.values())
    keys = _keys(result.week)
    assert _rows(board["by_lot"]) == Counter(keys[f.plan.lot] for f in filed.values())
    # Route and priority as each customer's filing was answered.
    assert _rows(board["by_route"]) == Counter(f.body["ticket"]["route"] for f in filed.values())
    assert _rows(board["by_priority"]) == Counter(
        f.body["ticket"]["priority"] for f in filed.values()
    )
    # The party as the claim stands at the end (a person's decision over the machine's).
    assert _rows(board["by_party"]) == Counter(c["responsible_party"] for c in seen.values())
    # Decided by a person: every claim a simulated person's decision was accepted on (a
    # proposal above the limit is decided once the second person approves it).
    decided = {
        c
        for c, answers in result.seen.decisions.items()
        if any(status == 200 for _, status, _ in answers)
    }
    outcome = {c for c, v in seen.items() if v["outcome"] is not None}
    assert decided - set(result.seen.proposed) <= outcome
    assert total["decided_by_person"] == len(outcome)
    resolved = [c for c in seen.values() if c["ticket"]["state"] == "resolved"]
    assert total["resolved"] == len(resolved)
    paid = [c["compensation"] for c in seen.values() if c["compensation"]["paid"]]
    by_currency: Counter[str] = Counter()
    amounts: dict[str, Decimal] = {}
    for comp in paid:
        by_currency[comp["currency"]] += 1
        amounts[comp["currency"]] = amounts.get(comp["currency"], Decimal(0)) + Decimal(
            comp["amount"]
        )
    assert {p["currency"]: Decimal(p["amount"]) for p in board["paid"]} == amounts
    assert {p["currency"]: p["claims"] for p in board["paid"]} == dict(by_currency)
    auto = sum(c["payment"]["decided_by"] == "auto" for c in paid)
    assert total["automated"] == auto
    assert total["automation_rate"] == auto / len(filed)
    # Time to first response, from each claim's own ticket history as the API shows it.
    first = [s for c in seen.values() if (s := _first_response_s(c)) is not None]
    if first:
        assert total["first_response_p50_s"] == pytest.approx(_nearest_rank(first, 0.5))
        assert total["first_response_p90_s"] == pytest.approx(_nearest_rank(first, 0.9))
    # Every day of the window counts each claim once per category.
    assert sum(sum(v) for v in board["per_day_category"]["counts"].values()) == len(filed)


def test_the_early_warning_list_reads_the_posted_quantities(
    played: tuple[WeekResult, dict[str, Any]],
) -> None:
    result, board = played
    week = result.week
    keys = _keys(week)  # the list names each lot by its key
    delivered = {keys[lot]: units for lot, units in _delivered(week).items()}
    claims = Counter(keys[f.plan.lot] for f in result.seen.by_id().values())
    category = {keys[f.plan.lot]: f.plan.claim.category for f in result.seen.by_id().values()}
    rows = {w["lot"]: w for w in board["warnings"]}
    assert set(rows) == set(claims)
    no_records = next(keys[p.lot] for p in week.lots if p.scenario.kind == "no_records")
    assert no_records not in delivered
    assert (
        rows[no_records]["units"] is None
        and "no delivered quantity" in rows[no_records]["sentence"]
    )
    assert board["warnings"][-1]["lot"] == no_records or rows[no_records]["claims"] < max(
        claims.values()
    )
    for lot, w in rows.items():
        assert w["claims"] == claims[lot], lot
        if lot == no_records:
            continue
        assert w["units"] == delivered[lot], lot
        # The baseline: the other lots of its category with a quantity (else every other lot).
        same = [o for o in delivered if o != lot and category[o] == category[lot]]
        pool = same or [o for o in delivered if o != lot]
        base = sum(claims[o] for o in pool) / sum(delivered[o] for o in pool)
        assert w["baseline"]["rate"] == pytest.approx(base), lot
        # Prior worth one claim: Gamma(1 + c, 1/b + u); P(rate > 2b) is a Poisson sum.
        x = (1 / base + delivered[lot]) * 2 * base
        tail = math.exp(-x) * sum(x**i / math.factorial(i) for i in range(1 + claims[lot]))
        assert w["probability"] == pytest.approx(tail), lot
        assert w["sentence"].startswith(f"lot {lot}: {claims[lot]} claim"), w["sentence"]
    ranked = [w["probability"] for w in board["warnings"] if w["probability"] is not None]
    assert ranked == sorted(ranked, reverse=True)
