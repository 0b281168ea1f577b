"""Ticket priority, route and SLA deadlines from a verdict (GUIDE §4); SLA state from the clock.

Every rule that applies to a claim is listed in the plan; the highest priority among them
decides the priority and the route. Everything numeric or named here is policy, so it can
come from configuration through ``TicketPolicy.from_dict``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal, Protocol

from claims.errors import InvalidPolicyError, NaiveDatetimeError
from claims.responsibility import Verdict

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_SLA",
    "DEFAULT_TICKET_POLICY",
    "PRIORITIES",
    "RULE_NAMES",
    "SLA",
    "SLAState",
    "SLAStatus",
    "TicketPlan",
    "TicketPolicy",
    "TicketReason",
    "TicketRule",
    "TicketTimes",
    "plan_ticket",
    "sla_state",
]

PRIORITIES = ("P0", "P1", "P2", "P3")
"""Most urgent first."""

SLAStatus = Literal["met", "due", "breached"]

# Rule order breaks ties between rules of equal priority: an undetermined verdict goes to an
# adjudicator before logistics, because nobody can act on a cause that has not been decided.
RULE_NAMES = (
    "food_safety",
    "lot_alert",
    "undetermined",
    "cold_chain",
    "high_value",
    "package_damage",
    "supplier_quality",
    "default",
)
"""Every rule plan_ticket knows, in tie-break order."""

_COLD_CHAIN_CODES = frozenset({"TEMPERATURE_ABUSE", "COMPARABLE_ABUSERS"})
_SUPPLIER_CODES = frozenset({"INHERENT_QUALITY", "SEAL_DEFECT"})


@dataclass(frozen=True)
class SLA:
    """How soon a ticket of one priority needs a first response and a resolution."""

    first_response: timedelta
    resolution: timedelta

    def __post_init__(self) -> None:
        if self.first_response <= timedelta(0) or self.resolution < self.first_response:
            raise InvalidPolicyError("sla", f"need 0 < first_response <= resolution: {self!r}")


@dataclass(frozen=True)
class TicketRule:
    """Where one rule sends a ticket, and how urgently."""

    priority: str
    route: str

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise InvalidPolicyError("priority", f"{self.priority!r} is not one of {PRIORITIES}")
        if not self.route:
            raise InvalidPolicyError("route", "must not be empty")


DEFAULT_SLA: Mapping[str, SLA] = MappingProxyType(
    {
        "P0": SLA(timedelta(minutes=30), timedelta(hours=2)),
        "P1": SLA(timedelta(hours=4), timedelta(hours=24)),
        "P2": SLA(timedelta(hours=24), timedelta(hours=48)),
        "P3": SLA(timedelta(hours=48), timedelta(days=7)),
    }
)
"""GUIDE §4 starting values."""

DEFAULT_RULES: Mapping[str, TicketRule] = MappingProxyType(
    {
        "food_safety": TicketRule("P0", "quality+legal"),
        "lot_alert": TicketRule("P0", "quality+legal"),
        # Undetermined needs a person soon: the customer waits on that decision.
        "undetermined": TicketRule("P1", "adjudication"),
        "cold_chain": TicketRule("P1", "logistics"),
        "high_value": TicketRule("P2", "customer_care"),
        "package_damage": TicketRule("P2", "carrier_claims"),
        "supplier_quality": TicketRule("P2", "supplier_qa"),
        "default": TicketRule("P3", "customer_care"),
    }
)
"""GUIDE §4 routes."""


@dataclass(frozen=True)
class TicketPolicy:
    """SLA table, rule routes and thresholds; configuration, not constants."""

    sla: Mapping[str, SLA] = field(default_factory=lambda: DEFAULT_SLA)
    rules: Mapping[str, TicketRule] = field(default_factory=lambda: DEFAULT_RULES)
    food_safety_defects: frozenset[str] = frozenset({"mold"})
    # Swelling is gas inside a closed pack; only goods sold loose cannot swell that way, so
    # the safe default treats every other (and every new) category as sealed.
    sealed_pack_defects: frozenset[str] = frozenset({"swelling"})
    unsealed_categories: frozenset[str] = frozenset({"ambient_produce"})
    # Off unless configured: GUIDE §4 sets no value threshold for tickets.
    high_value_line: Decimal | None = None

    def __post_init__(self) -> None:
        missing = set(PRIORITIES) - set(self.sla)
        if missing:
            raise InvalidPolicyError("sla", f"no SLA for {sorted(missing)}")
        unknown = set(self.rules) - set(RULE_NAMES)
        if unknown:
            raise InvalidPolicyError("rules", f"unknown rules {sorted(unknown)}")
        absent = set(RULE_NAMES) - set(self.rules)
        if absent:
            raise InvalidPolicyError("rules", f"no route for {sorted(absent)}")
        # Frozen means frozen: callers cannot mutate a shared policy's tables afterwards.
        object.__setattr__(self, "sla", MappingProxyType(dict(self.sla)))
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TicketPolicy:
        """Build from configuration; omitted keys keep the GUIDE §4 defaults.

        ``{"sla": {"P0": {"first_response": "30m", "resolution": "2h"}},
        "rules": {"cold_chain": {"priority": "P1", "route": "logistics"}},
        "unsealed_categories": [...], "food_safety_defects": [...],
        "sealed_pack_defects": [...], "high_value_line": "200.00"}``; durations are seconds
        or strings with a unit (s, m, h, d).
        """
        known = {
            "sla",
            "rules",
            "food_safety_defects",
            "sealed_pack_defects",
            "unsealed_categories",
            "high_value_line",
        }
        unknown = set(config) - known
        if unknown:
            raise InvalidPolicyError(", ".join(sorted(unknown)), "unknown setting")
        sla = dict(DEFAULT_SLA)
        for priority, spec in _mapping(config.get("sla", {}), "sla").items():
            if priority not in PRIORITIES:
                raise InvalidPolicyError(f"sla.{priority}", f"not one of {PRIORITIES}")
            spec = _mapping(spec, f"sla.{priority}")
            base = sla[priority]
            sla[priority] = SLA(
                _duration(spec.get("first_response", base.first_response), f"sla.{priority}"),
                _duration(spec.get("resolution", base.resolution), f"sla.{priority}"),
            )
        rules = dict(DEFAULT_RULES)
        for name, spec in _mapping(config.get("rules", {}), "rules").items():
            if name not in RULE_NAMES:
                raise InvalidPolicyError(f"rules.{name}", f"not one of {RULE_NAMES}")
            spec = _mapping(spec, f"rules.{name}")
            rules[name] = TicketRule(
                str(spec.get("priority", rules[name].priority)),
                str(spec.get("route", rules[name].route)),
            )
        kwargs: dict[str, Any] = {"sla": sla, "rules": rules}
        for key in ("food_safety_defects", "sealed_pack_defects", "unsealed_categories"):
            if key in config:
                value = config[key]
                if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
                    raise InvalidPolicyError(key, "must be a list of names")
                kwargs[key] = frozenset(str(v) for v in value)
        if config.get("high_value_line") is not None:
            kwargs["high_value_line"] = _money(config["high_value_line"], "high_value_line")
        return cls(**kwargs)


DEFAULT_TICKET_POLICY = TicketPolicy()
"""The GUIDE §4 policy."""


@dataclass(frozen=True)
class TicketReason:
    """One rule that applied, and where it would have sent the ticket."""

    rule: str
    priority: str
    route: str
    message: str


@dataclass(frozen=True)
class TicketPlan:
    """What the ticket system is told: priority, route, deadlines and every rule that applied."""

    priority: str
    route: str
    first_response_due: datetime
    resolution_due: datetime
    reasons: tuple[TicketReason, ...]


class TicketTimes(Protocol):
    """Anything with a ticket's two deadlines (a ``TicketPlan``, a stored ticket row)."""

    @property
    def first_response_due(self) -> datetime:
        """When the first response is due."""
        ...

    @property
    def resolution_due(self) -> datetime:
        """When the resolution is due."""
        ...


@dataclass(frozen=True)
class SLAState:
    """Where a ticket stands against its deadlines.

    Remaining seconds are measured to the response (or resolution) once it happened, else to
    ``now``; negative means late by that much.
    """

    first_response: SLAStatus
    resolution: SLAStatus
    first_response_remaining_s: float
    resolution_remaining_s: float


def plan_ticket(
    *,
    verdict: Verdict,
    defects: frozenset[str],
    category: str,
    line_value: Decimal,
    now: datetime,
    lot_alert: bool = False,
    policy: TicketPolicy = DEFAULT_TICKET_POLICY,
) -> TicketPlan:
    """Highest applicable priority wins, with its route; every rule that applied is listed."""
    if now.tzinfo is None:
        raise NaiveDatetimeError("now")
    codes = {r.code for r in verdict.reasons}
    applied: list[tuple[str, str]] = []  # (rule, message)
    for defect in sorted(defects & policy.food_safety_defects):
        applied.append(("food_safety", f"food safety: {defect} on food"))
    if category not in policy.unsealed_categories:
        for defect in sorted(defects & policy.sealed_pack_defects):
            applied.append(("food_safety", f"food safety: {defect} of a sealed {category} pack"))
    if lot_alert:
        applied.append(("lot_alert", "lot alert: repeated defect claims on the lot (recall check)"))
    if verdict.needs_review:
        applied.append(("undetermined", "responsibility undetermined: a person has to decide"))
    if hit := sorted(codes & _COLD_CHAIN_CODES):
        applied.append(("cold_chain", f"cold-chain abuse ({', '.join(hit)})"))
    if policy.high_value_line is not None and line_value >= policy.high_value_line:
        applied.append(("high_value", f"line value {line_value} >= {policy.high_value_line}"))
    if "package_damage" in defects:
        applied.append(("package_damage", "package damage"))
    if hit := sorted(codes & _SUPPLIER_CODES):
        applied.append(("supplier_quality", f"supplier quality ({', '.join(hit)})"))
    if not applied:
        applied.append(("default", "no risk rule applied"))
    reasons = tuple(
        TicketReason(rule, policy.rules[rule].priority, policy.rules[rule].route, message)
        for rule, message in applied
    )
    # min() keeps the first of equal keys, so rule order (RULE_NAMES) breaks ties.
    order = {name: i for i, name in enumerate(RULE_NAMES)}
    winner = min(reasons, key=lambda r: (PRIORITIES.index(r.priority), order[r.rule]))
    sla = policy.sla[winner.priority]
    return TicketPlan(
        priority=winner.priority,
        route=winner.route,
        first_response_due=now + sla.first_response,
        resolution_due=now + sla.resolution,
        reasons=reasons,
    )


def sla_state(
    *,
    now: datetime,
    plan: TicketTimes | None = None,
    first_response_due: datetime | None = None,
    resolution_due: datetime | None = None,
    first_responded_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> SLAState:
    """The ticket's SLA state at ``now``, from ``plan`` or from the two deadlines given."""
    if plan is not None:
        first_response_due, resolution_due = plan.first_response_due, plan.resolution_due
    if first_response_due is None or resolution_due is None:
        raise TypeError("sla_state() needs plan= or both first_response_due= and resolution_due=")
    # Resolving a ticket answers the customer too.
    if first_responded_at is None:
        first_responded_at = resolved_at
    fr, fr_left = _state(first_response_due, first_responded_at, now)
    rs, rs_left = _state(resolution_due, resolved_at, now)
    return SLAState(fr, rs, fr_left, rs_left)


def _state(due: datetime, done: datetime | None, now: datetime) -> tuple[SLAStatus, float]:
    if done is not None:
        return ("met" if done <= due else "breached"), (due - done).total_seconds()
    remaining = (due - now).total_seconds()
    return ("due" if remaining >= 0 else "breached"), remaining


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPolicyError(key, "must be a mapping")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object, key: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    raise InvalidPolicyError(key, f"{value!r} is not a duration (seconds, or e.g. '30m', '2h')")


def _money(value: object, key: str) -> Decimal:
    # Floats cannot hold most cent values exactly; configuration must quote amounts.
    if isinstance(value, float | bool):
        raise InvalidPolicyError(key, "give money as a string such as '50.00', not a float")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidPolicyError(key, f"{value!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidPolicyError(key, "must be a non-negative amount")
    return amount
