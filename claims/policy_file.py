"""Read the claims policies (SLA table, routes, compensation, profiles, lot alerts and the
responsibility rules' thresholds) from JSON.

One file an operator edits, checked whole at start-up: a typo in a key or a value stops the
service with the key's path named, instead of quietly keeping a default.

    {
      "tickets": {"sla": {"P0": {"first_response": "15m", "resolution": "4h"}}},
      "compensation": {"auto_pay_limit": "30.00", "auto_pay_min_confidence": 0.85},
      "profiles": {"chilled": {"t_min": 0, "t_max": 4, "q10": 2.5, "shelf_life_hours": 120}},
      "lot_alert": {"claims": 3, "window_hours": 168},
      "responsibility": {"receipt_window_minutes": 45, "shock_threshold_mps2": 150}
    }
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from claims.compensation import CompensationPolicy
from claims.errors import InvalidPolicyError
from claims.profiles import DEFAULT_PROFILES, TemperatureProfile
from claims.tickets import TicketPolicy
from claims.verdict import ResponsibilityPolicy

__all__ = ["PolicyOverrides", "load_policy_file", "parse_policies"]

_SECTIONS = {"tickets", "compensation", "profiles", "lot_alert", "responsibility"}
# responsibility keys → (ResponsibilityPolicy field, unit it is given in: minutes or a number)
_RESPONSIBILITY = {
    "receipt_window_minutes": ("receipt_window", "minutes"),
    "max_reading_gap_minutes": ("max_reading_gap", "minutes"),
    "delivery_slack_minutes": ("delivery_slack", "minutes"),
    "shock_threshold_mps2": ("shock_threshold_mps2", "number"),
    "comparable_abusers_ratio": ("comparable_abusers_ratio", "number"),
    "late_record_confidence_cap": ("late_record_confidence_cap", "number"),
}
_PROFILE_FIELDS = {f.name for f in dataclasses.fields(TemperatureProfile) if f.name != "name"}


@dataclasses.dataclass(frozen=True)
class PolicyOverrides:
    """What a policy file sets; ``None`` and empty mean "keep the built-in default"."""

    tickets: TicketPolicy | None = None
    compensation: dict[str, Any] = dataclasses.field(default_factory=dict)
    profiles: dict[str, TemperatureProfile] = dataclasses.field(default_factory=dict)
    lot_alert_claims: int | None = None
    lot_alert_window: timedelta | None = None
    responsibility: ResponsibilityPolicy | None = None


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, Mapping):
        raise InvalidPolicyError(key, "must be an object")
    return value


def _profiles(config: Mapping[str, Any]) -> dict[str, TemperatureProfile]:
    out = {}
    for name, spec in config.items():
        if not isinstance(spec, Mapping):
            raise InvalidPolicyError(f"profiles.{name}", "must be an object")
        unknown = set(spec) - _PROFILE_FIELDS
        if unknown:
            raise InvalidPolicyError(f"profiles.{name}", f"unknown keys {sorted(unknown)}")
        base = DEFAULT_PROFILES.get(name)
        if base is None and not {"t_min", "t_max"} <= set(spec):
            raise InvalidPolicyError(f"profiles.{name}", "a new category needs t_min and t_max")
        values: dict[str, Any] = dataclasses.asdict(base) if base else {"name": name}
        for key, value in spec.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InvalidPolicyError(f"profiles.{name}.{key}", "must be a number or null")
            values[key] = None if value is None else float(value)
        out[name] = TemperatureProfile(**values)
    return out


def _responsibility(config: Mapping[str, Any]) -> ResponsibilityPolicy | None:
    if not config:
        return None
    unknown = set(config) - set(_RESPONSIBILITY)
    if unknown:
        raise InvalidPolicyError("responsibility", f"unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidPolicyError(f"responsibility.{key}", "must be a number")
        name, unit = _RESPONSIBILITY[key]
        values[name] = timedelta(minutes=value) if unit == "minutes" else float(value)
    return ResponsibilityPolicy(**values)


def parse_policies(config: Mapping[str, Any]) -> PolicyOverrides:
    """Check a whole policy document; raise InvalidPolicyError naming the first bad key."""
    unknown = set(config) - _SECTIONS
    if unknown:
        raise InvalidPolicyError(", ".join(sorted(unknown)), "unknown section")
    tickets = TicketPolicy.from_dict(_section(config, "tickets")) if "tickets" in config else None
    compensation = dict(_section(config, "compensation"))
    CompensationPolicy.from_dict(compensation)  # checked now, merged with settings later
    alert = _section(config, "lot_alert")
    if set(alert) - {"claims", "window_hours"}:
        raise InvalidPolicyError("lot_alert", "only claims and window_hours")
    claims_n = alert.get("claims")
    if claims_n is not None and (not isinstance(claims_n, int) or claims_n < 1):
        raise InvalidPolicyError("lot_alert.claims", "must be a whole number >= 1")
    hours = alert.get("window_hours")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0
    ):
        raise InvalidPolicyError("lot_alert.window_hours", "must be a number > 0")
    return PolicyOverrides(
        tickets=tickets,
        compensation=compensation,
        profiles=_profiles(_section(config, "profiles")),
        lot_alert_claims=claims_n,
        lot_alert_window=None if hours is None else timedelta(hours=float(hours)),
        responsibility=_responsibility(_section(config, "responsibility")),
    )


def load_policy_file(path: Path) -> PolicyOverrides:
    """Read and check a policy file."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidPolicyError(str(path), "policy file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidPolicyError(str(path), f"not valid JSON: {exc}") from None
    if not isinstance(config, Mapping):
        raise InvalidPolicyError(str(path), "must hold a JSON object")
    return parse_policies(config)
