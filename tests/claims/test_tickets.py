"""Ticket priority, route, deadlines and SLA state (GUIDE §4), on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from claims.errors import ClaimsError, InvalidPolicyError, NaiveDatetimeError
from claims.responsibility import Reason, Verdict
from claims.tickets import (
    DEFAULT_TICKET_POLICY,
    SLA,
    TicketPlan,
    TicketPolicy,
    plan_ticket,
    sla_state,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def verdict(party: str = "carrier", *codes: str, confidence: float = 0.9) -> Verdict:
    return Verdict(
        party,
        None if party == "undetermined" else "urn:epc:id:pgln:0614141.00001",
        confidence,
        tuple(Reason(c, c.lower()) for c in codes),
    )


def plan(
    v: Verdict,
    defects: set[str],
    *,
    category: str = "chilled",
    lot_alert: bool = False,
    line_value: str = "10.00",
    policy: TicketPolicy = DEFAULT_TICKET_POLICY,
) -> TicketPlan:
    return plan_ticket(
        verdict=v,
        defects=frozenset(defects),
        category=category,
        line_value=Decimal(line_value),
        now=NOW,
        lot_alert=lot_alert,
        policy=policy,
    )


@pytest.mark.parametrize(
    ("v", "defects", "category", "lot_alert", "want"),
    [
        pytest.param(
            verdict("supplier", "INHERENT_QUALITY"),
            {"mold"},
            "chilled_produce",
            False,
            ("P0", "quality+legal", "food_safety"),
            id="mold-on-food",
        ),
        pytest.param(
            verdict("supplier", "SEAL_DEFECT"),
            {"swelling"},
            "chilled",
            False,
            ("P0", "quality+legal", "food_safety"),
            id="swollen-sealed-pack",
        ),
        pytest.param(
            verdict("supplier", "INHERENT_QUALITY"),
            {"spoilage"},
            "ambient_produce",
            True,
            ("P0", "quality+legal", "lot_alert"),
            id="lot-alert",
        ),
        pytest.param(
            verdict("carrier", "TEMPERATURE_ABUSE"),
            {"spoilage"},
            "chilled",
            False,
            ("P1", "logistics", "cold_chain"),
            id="temperature-abuse",
        ),
        pytest.param(
            verdict("warehouse", "COMPARABLE_ABUSERS"),
            {"spoilage"},
            "frozen",
            False,
            ("P1", "logistics", "cold_chain"),
            id="comparable-abusers",
        ),
        pytest.param(
            verdict("carrier", "DELIVERED_DAMAGED"),
            {"package_damage"},
            "chilled",
            False,
            ("P2", "carrier_claims", "package_damage"),
            id="package-damage",
        ),
        pytest.param(
            verdict("supplier", "INHERENT_QUALITY"),
            {"spoilage"},
            "ambient_produce",
            False,
            ("P2", "supplier_qa", "supplier_quality"),
            id="supplier-quality",
        ),
        pytest.param(
            verdict("undetermined", "MISSING_TEMPERATURE_DATA", confidence=0.0),
            {"spoilage"},
            "chilled",
            False,
            ("P1", "adjudication", "undetermined"),
            id="undetermined",
        ),
        pytest.param(
            verdict("customer", "LATE_CLAIM_AFTER_CLEAN_DELIVERY"),
            {"spoilage"},
            "chilled",
            False,
            ("P3", "customer_care", "default"),
            id="otherwise",
        ),
    ],
)
def test_each_rule_sets_priority_and_route(
    v: Verdict, defects: set[str], category: str, lot_alert: bool, want: tuple[str, str, str]
) -> None:
    p = plan(v, defects, category=category, lot_alert=lot_alert)
    assert (p.priority, p.route) == want[:2]
    assert want[2] in [r.rule for r in p.reasons]


def test_highest_priority_wins_and_every_rule_is_listed() -> None:
    p = plan(
        verdict("carrier", "TEMPERATURE_ABUSE", "SEAL_DEFECT"),
        {"mold", "package_damage"},
        lot_alert=True,
    )
    assert (p.priority, p.route) == ("P0", "quality+legal")
    assert [(r.rule, r.priority, r.route) for r in p.reasons] == [
        ("food_safety", "P0", "quality+legal"),
        ("lot_alert", "P0", "quality+legal"),
        ("cold_chain", "P1", "logistics"),
        ("package_damage", "P2", "carrier_claims"),
        ("supplier_quality", "P2", "supplier_qa"),
    ]
    # A lower-priority pair on its own: the P1 rule beats both P2 rules.
    p = plan(verdict("carrier", "TEMPERATURE_ABUSE"), {"package_damage"})
    assert (p.priority, p.route) == ("P1", "logistics")


def test_equal_priorities_go_to_the_adjudicator_first() -> None:
    # Undetermined and cold-chain abuse are both P1: nobody can act before responsibility is set.
    p = plan(verdict("undetermined", "TEMPERATURE_ABUSE", confidence=0.0), {"spoilage"})
    assert (p.priority, p.route) == ("P1", "adjudication")
    assert [r.rule for r in p.reasons] == ["undetermined", "cold_chain"]


def test_food_safety_outranks_fault_and_loose_goods_do_not_swell() -> None:
    # Whoever is at fault, mould on food is a safety case.
    assert plan(verdict("customer"), {"mold"}).priority == "P0"
    # Loose produce is not a sealed pack: swelling there is not the gas-in-a-pack risk.
    p = plan(verdict("supplier", "INHERENT_QUALITY"), {"swelling"}, category="ambient_produce")
    assert (p.priority, p.route) == ("P2", "supplier_qa")
    # A category nobody configured is treated as sealed: the safe side.
    assert plan(verdict("supplier"), {"swelling"}, category="ready_meals").priority == "P0"


@pytest.mark.parametrize(
    ("defects", "codes", "first", "resolution"),
    [
        ({"mold"}, (), timedelta(minutes=30), timedelta(hours=2)),
        ({"spoilage"}, ("TEMPERATURE_ABUSE",), timedelta(hours=4), timedelta(hours=24)),
        ({"package_damage"}, (), timedelta(hours=24), timedelta(hours=48)),
        ({"spoilage"}, (), timedelta(hours=48), timedelta(days=7)),
    ],
)
def test_deadlines_follow_the_sla_table(
    defects: set[str], codes: tuple[str, ...], first: timedelta, resolution: timedelta
) -> None:
    p = plan(verdict("carrier", *codes), defects)
    assert (p.first_response_due, p.resolution_due) == (NOW + first, NOW + resolution)


def test_sla_state_moves_with_the_clock() -> None:
    p = plan(verdict(), {"mold"})  # P0: 30 min / 2 h
    at = sla_state(plan=p, now=NOW + timedelta(minutes=10))
    assert (at.first_response, at.resolution) == ("due", "due")
    assert (at.first_response_remaining_s, at.resolution_remaining_s) == (20 * 60, 110 * 60)
    # Exactly at the deadline it is still due; one second later it is breached.
    assert sla_state(plan=p, now=p.first_response_due).first_response == "due"
    late = sla_state(plan=p, now=p.first_response_due + timedelta(seconds=1))
    assert (late.first_response, late.resolution, late.first_response_remaining_s) == (
        "breached",
        "due",
        -1.0,
    )
    # Answered in time: met for good, whatever the clock says later.
    answered = NOW + timedelta(minutes=20)
    later = sla_state(plan=p, now=NOW + timedelta(hours=5), first_responded_at=answered)
    assert (later.first_response, later.resolution) == ("met", "breached")
    assert later.first_response_remaining_s == 10 * 60
    # Answered late stays breached even once resolved in time.
    done = sla_state(
        plan=p,
        now=NOW + timedelta(days=1),
        first_responded_at=NOW + timedelta(minutes=45),
        resolved_at=NOW + timedelta(hours=1),
    )
    assert (done.first_response, done.resolution) == ("breached", "met")


def test_resolving_counts_as_the_first_response_and_times_may_be_given_directly() -> None:
    state = sla_state(
        first_response_due=NOW + timedelta(hours=4),
        resolution_due=NOW + timedelta(hours=24),
        now=NOW + timedelta(days=3),
        resolved_at=NOW + timedelta(hours=3),
    )
    assert (state.first_response, state.resolution) == ("met", "met")
    with pytest.raises(TypeError):
        sla_state(now=NOW, first_response_due=NOW)


def test_policy_from_configuration() -> None:
    policy = TicketPolicy.from_dict(
        {
            "sla": {"P0": {"first_response": "15m"}, "P3": {"resolution": 3 * 86400}},
            "rules": {"package_damage": {"route": "carrier_claims_eu", "priority": "P1"}},
            "unsealed_categories": [],
            "high_value_line": "100.00",
        }
    )
    assert policy.sla["P0"] == SLA(timedelta(minutes=15), timedelta(hours=2))
    assert policy.sla["P3"].resolution == timedelta(days=3)
    p = plan(verdict("carrier"), {"package_damage"}, policy=policy)
    assert (p.priority, p.route) == ("P1", "carrier_claims_eu")
    assert (
        plan(verdict("supplier"), {"swelling"}, category="ambient_produce", policy=policy).priority
        == "P0"
    )
    # The value threshold is off by default and applies once configured.
    assert plan(verdict("carrier"), {"spoilage"}, line_value="150.00").priority == "P3"
    rich = plan(verdict("carrier"), {"spoilage"}, line_value="150.00", policy=policy)
    assert (rich.priority, rich.reasons[0].rule) == ("P2", "high_value")
    assert TicketPolicy.from_dict({}) == DEFAULT_TICKET_POLICY


@pytest.mark.parametrize(
    "config",
    [
        {"colour": "red"},
        {"sla": {"P9": {"resolution": "1h"}}},
        {"sla": {"P1": {"first_response": "soon"}}},
        {"sla": {"P1": {"first_response": "2d"}}},  # after the 24 h resolution
        {"rules": {"cold_chain": {"priority": "urgent"}}},
        {"rules": {"weather": {"priority": "P1", "route": "x"}}},
        {"unsealed_categories": "ambient_produce"},
        {"high_value_line": 99.99},
    ],
)
def test_bad_policy_configuration_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(InvalidPolicyError):
        TicketPolicy.from_dict(config)


def test_naive_now_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError) as err:
        plan_ticket(
            verdict=verdict(),
            defects=frozenset(),
            category="chilled",
            line_value=Decimal("1.00"),
            now=NOW.replace(tzinfo=None),
        )
    assert isinstance(err.value, ClaimsError)
