"""The operator's policy file: every section read, every mistake named by its key."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from claims.errors import InvalidPolicyError
from claims.policy_file import load_policy_file, parse_policies
from claims.verdict import ResponsibilityPolicy

FULL = {
    "tickets": {"sla": {"P0": {"first_response": "15m", "resolution": "4h"}}},
    "compensation": {"auto_pay_limit": "30.00", "auto_pay_min_confidence": 0.9},
    "profiles": {
        "chilled": {"t_max": 4, "abuse_degree_minutes": 45, "q10": 2.5, "shelf_life_hours": 120},
        "seafood": {"t_min": -1, "t_max": 2},
    },
    "lot_alert": {"claims": 5, "window_hours": 48},
    "responsibility": {
        "receipt_window_minutes": 45,
        "max_reading_gap_minutes": 90,
        "delivery_slack_minutes": 20,
        "shock_threshold_mps2": 150,
        "comparable_abusers_ratio": 1.5,
    },
}


def test_a_full_file_sets_every_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(FULL))
    got = load_policy_file(path)
    assert got.tickets is not None
    assert got.tickets.sla["P0"].first_response == timedelta(minutes=15)
    assert got.tickets.sla["P0"].resolution == timedelta(hours=4)
    assert got.compensation == {"auto_pay_limit": "30.00", "auto_pay_min_confidence": 0.9}
    chilled = got.profiles["chilled"]
    # keys left out keep the built-in profile's values
    assert (chilled.t_min, chilled.t_max, chilled.abuse_degree_minutes) == (0.0, 4.0, 45.0)
    assert (got.profiles["seafood"].t_min, got.profiles["seafood"].t_max) == (-1.0, 2.0)
    assert got.lot_alert_claims == 5 and got.lot_alert_window == timedelta(hours=48)
    assert (chilled.q10, chilled.shelf_life_hours) == (2.5, 120.0)
    assert got.responsibility == ResponsibilityPolicy(
        receipt_window=timedelta(minutes=45),
        max_reading_gap=timedelta(minutes=90),
        delivery_slack=timedelta(minutes=20),
        shock_threshold_mps2=150.0,
        comparable_abusers_ratio=1.5,
    )


def test_an_empty_file_changes_nothing() -> None:
    got = parse_policies({})
    assert got.tickets is None and got.compensation == {} and got.profiles == {}
    assert got.lot_alert_claims is None and got.lot_alert_window is None
    assert got.responsibility is None


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"ticket": {}}, "ticket"),
        ({"tickets": {"sla": {"P9": {}}}}, "sla.P9"),
        ({"compensation": {"auto_pay_limit": "lots"}}, "auto_pay_limit"),
        ({"profiles": {"chilled": {"t_max": "cold"}}}, "profiles.chilled.t_max"),
        ({"profiles": {"chilled": {"colour": 1}}}, "profiles.chilled"),
        ({"profiles": {"seafood": {"t_max": 2}}}, "profiles.seafood"),
        ({"lot_alert": {"claims": 0}}, "lot_alert.claims"),
        ({"lot_alert": {"window_hours": -1}}, "lot_alert.window_hours"),
        ({"profiles": {"chilled": {"q10": 0.9}}}, "profiles.chilled.q10"),
        ({"responsibility": {"receipt_window": 60}}, "responsibility"),
        (
            {"responsibility": {"shock_threshold_mps2": "big"}},
            "responsibility.shock_threshold_mps2",
        ),
        ({"responsibility": {"receipt_window_minutes": 0}}, "responsibility.receipt_window"),
    ],
)
def test_mistakes_are_named_by_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(InvalidPolicyError) as err:
        parse_policies(config)
    assert err.value.key == key


def test_unreadable_files_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicyError, match="not found"):
        load_policy_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidPolicyError, match="not valid JSON"):
        load_policy_file(bad)
