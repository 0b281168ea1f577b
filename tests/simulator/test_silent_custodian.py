"""A shop week's lots with a custodian that records nothing, posted party by party through
the API: the planner expects exactly the refusals the authorship rule gives.

The supplier ships under the warehouse's purchase order, so a silent first carrier still
delivers under it and the warehouse and the last mile are let in; a silent warehouse locks
the last-mile carrier out (``simulator.week._after_a_silent_custodian``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from simulator.chain import purchase_order
from simulator.week import LotPlan, Posting, plan_week
from tests.api.access import grant


@dataclass(frozen=True)
class Answer:
    """What the service answered one posting."""

    posting: Posting
    status: int
    problem: str


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[LotPlan, list[Answer]]]:
    """Six missing-leg lots planned and posted, each party with its own key, in plan order."""
    now = datetime.now(UTC) - timedelta(minutes=2)
    week = plan_week(
        seed=7, now=now, lots=6, claims=0, batches=0, aggregate_share=0.0, late_share=0.0,
        kinds=("missing_leg",),
    )  # fmt: skip
    tmp: Path = tmp_path_factory.mktemp("silent")
    app = create_app(Settings(data_dir=tmp / "var", anchor_backend="none"))
    out: list[tuple[LotPlan, list[Answer]]] = []
    with TestClient(app) as client:
        admin = grant(app, "supply_chain", parties=week.parties)
        for p in dict.fromkeys(p for lot in week.lots for p in lot.scenario.parties):
            body = {"id": p.id, "role": p.role, "name": p.name}
            assert client.post("/v1/parties", json=body, headers=admin).status_code in (200, 201)
        keys = {p: grant(app, "supply_chain", parties=[p]) for p in week.parties}
        for lot in week.lots:
            answers = []
            for posting in lot.postings:
                r = client.post("/v1/events", json=posting.document, headers=keys[posting.party])
                problem = r.json().get("type", "") if r.status_code >= 400 else ""
                answers.append(Answer(posting, r.status_code, problem))
            out.append((lot, answers))
    return out


def _first(
    answered: list[tuple[LotPlan, list[Answer]]], variant: str
) -> tuple[LotPlan, list[Answer]]:
    return next(pair for pair in answered if pair[0].scenario.variant == variant)


def _expected(answers: list[Answer]) -> list[tuple[str, int]]:
    return [(a.posting.party, _planned(a.posting)) for a in answers]


def _planned(posting: Posting) -> int:
    if not posting.refused:
        return 201
    return 202 if posting.held else 403


def _got(answers: list[Answer]) -> list[tuple[str, int]]:
    return [(a.posting.party, a.status) for a in answers]


def test_a_silent_first_carrier_locks_nobody_out(
    answered: list[tuple[LotPlan, list[Answer]]],
) -> None:
    lot, answers = _first(answered, "first_leg silent")
    _, _, warehouse, last_mile = (p.id for p in lot.scenario.parties)
    # The warehouse's receipt from the silent carrier and everything after it: accepted.
    downstream = [a.status for a in answers if a.posting.party in (warehouse, last_mile)]
    assert len(downstream) >= 2 and set(downstream) == {201}
    shipments = [
        e
        for a in answers
        for e in a.posting.document["epcisBody"]["eventList"]
        if e["bizStep"] == "shipping" and a.posting.party != warehouse
    ]
    # The supplier's shipment to the carrier cites the warehouse's order: what lets it in.
    assert [t["bizTransaction"] for e in shipments for t in e.get("bizTransactionList", ())] == [
        purchase_order(lot.lot, warehouse)
    ]
    assert not any(a.posting.refused for a in answers)
    assert _got(answers) == _expected(answers)


def test_a_silent_warehouse_still_locks_the_last_mile_out(
    answered: list[tuple[LotPlan, list[Answer]]],
) -> None:
    lot, answers = _first(answered, "warehouse silent")
    refused = [a for a in answers if a.posting.refused]
    last_mile = lot.scenario.parties[-1].id
    assert [a.posting.party for a in refused] == [last_mile]
    # Its receipt from the silent warehouse waits for the warehouse's record (held, 202),
    # which never comes: nothing of it reaches the ledger.
    assert all(a.posting.held for a in refused)
    assert _got(answers) == _expected(answers)


def test_every_planned_refusal_is_the_services(
    answered: list[tuple[LotPlan, list[Answer]]],
) -> None:
    """Whichever custodian is silent (a silent last mile has nobody after it)."""
    silent = {lot.scenario.variant for lot, _ in answered}
    assert silent == {"first_leg silent", "warehouse silent", "last_mile silent"}
    for _, answers in answered:
        assert _got(answers) == _expected(answers)
