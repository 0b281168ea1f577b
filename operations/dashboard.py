"""The operations dashboard: a window's claims, SLAs, automation and money, and lots to watch.

``operations_dashboard`` reads (``operations.facts``, ``supplychain.quantities``) and
``summarise`` folds the per-claim facts into the figures, pure:

* claims per UTC day by category and by defect (a claim with two defects counts under
  each; one with none under ``no defect found``);
* per slice (all claims, each responsible party, lot, route, priority, category): claims,
  resolved, paid without a person, SLA states of first response and resolution (``met``,
  ``breached``: late, done or not; ``due``: open and not yet late), the median (p50) and
  p90 of time to first response and to resolution over the claims that had one
  (nearest rank), and compensation paid by currency; a lot is its claims' lot key
  (``operations.facts``), whichever of its names each was filed by;
* the automation rate: claims the policy paid without a person, over the claims filed;
* the lot early-warning list (``operations.warning``), as of ``now``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from claims.jsonutil import jsonable
from ledger.log import Ledger
from operations.errors import InvalidWindowError
from operations.facts import ClaimFacts, PaidTotal, claim_facts, lot_counts, paid_totals
from operations.warning import LotWarning, WarningPolicy, rank_lots
from storage.db import read_snapshot
from supplychain.quantities import delivered_quantities

__all__ = [
    "Dashboard",
    "Money",
    "Series",
    "Slice",
    "operations_dashboard",
    "percentile",
    "summarise",
    "warnings_at",
]

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Money:
    """An amount paid in one currency, the voucher part apart."""

    currency: str
    amount: Decimal
    voucher: Decimal


@dataclass(frozen=True)
class Slice:
    """The figures of one slice of the window's claims (a party, a lot, a route...)."""

    key: str
    claims: int
    resolved: int
    automated: int
    decided_by_person: int
    first_response_met: int
    first_response_breached: int
    first_response_due: int
    resolution_met: int
    resolution_breached: int
    resolution_due: int
    first_response_p50_s: float | None
    first_response_p90_s: float | None
    resolution_p50_s: float | None
    resolution_p90_s: float | None
    paid: tuple[Money, ...]

    @property
    def breached(self) -> int:
        """Claims that breached either SLA."""
        return self.first_response_breached + self.resolution_breached

    @property
    def automation_rate(self) -> float | None:
        """Share of the slice's claims paid without a person (None for an empty slice)."""
        return self.automated / self.claims if self.claims else None


@dataclass(frozen=True)
class Series:
    """Counts per day (``days``, UTC, every day of the window) for each key."""

    days: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Dashboard:
    """Everything the operations page shows, for the window [since, until) as of ``now``."""

    since: datetime
    until: datetime
    now: datetime
    total: Slice
    per_day_category: Series
    per_day_defect: Series
    by_party: tuple[Slice, ...]
    by_lot: tuple[Slice, ...]
    by_route: tuple[Slice, ...]
    by_priority: tuple[Slice, ...]
    by_category: tuple[Slice, ...]
    by_defect: tuple[Slice, ...]
    paid: tuple[PaidTotal, ...]
    warnings: tuple[LotWarning, ...]
    warning_policy: WarningPolicy

    def as_dict(self) -> dict[str, Any]:
        """JSON form (money as strings, times ISO 8601), with each slice's derived figures."""

        def slice_json(s: Slice) -> dict[str, Any]:
            return {**asdict(s), "breached": s.breached, "automation_rate": s.automation_rate}

        out: dict[str, Any] = jsonable(
            {
                "since": self.since,
                "until": self.until,
                "now": self.now,
                "per_day_category": asdict(self.per_day_category),
                "per_day_defect": asdict(self.per_day_defect),
                "paid": [asdict(p) for p in self.paid],
                "warning_policy": {
                    name: getattr(self.warning_policy, name)
                    for name in ("recent_days", "baseline_days", "multiple", "prior_claims")
                }
                | {"baselines": dict(self.warning_policy.baselines)},
            }
        )
        out["total"] = jsonable(slice_json(self.total))
        for name in ("by_party", "by_lot", "by_route", "by_priority", "by_category", "by_defect"):
            out[name] = [jsonable(slice_json(s)) for s in getattr(self, name)]
        out["warnings"] = [
            jsonable({**asdict(w), "ranked_by_claims_alone": w.ranked_by_claims_alone})
            for w in self.warnings
        ]
        return out


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) of the values; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _money(facts: Sequence[ClaimFacts]) -> tuple[Money, ...]:
    amount: dict[str, Decimal] = defaultdict(lambda: _ZERO)
    voucher: dict[str, Decimal] = defaultdict(lambda: _ZERO)
    for f in facts:
        if f.paid is not None:
            amount[f.currency] += f.paid
            voucher[f.currency] += f.voucher or _ZERO
    return tuple(Money(c, amount[c], voucher[c]) for c in sorted(amount))


def _slice(key: str, facts: Sequence[ClaimFacts]) -> Slice:
    fr = Counter(f.first_response for f in facts)
    rs = Counter(f.resolution for f in facts)
    first = [f.first_response_s for f in facts if f.first_response_s is not None]
    done = [f.resolution_s for f in facts if f.resolution_s is not None]
    return Slice(
        key=key,
        claims=len(facts),
        resolved=sum(f.state == "resolved" for f in facts),
        automated=sum(f.automated for f in facts),
        decided_by_person=sum(f.decided_by_person for f in facts),
        first_response_met=fr["met"],
        first_response_breached=fr["breached"],
        first_response_due=fr["due"],
        resolution_met=rs["met"],
        resolution_breached=rs["breached"],
        resolution_due=rs["due"],
        first_response_p50_s=percentile(first, 0.5),
        first_response_p90_s=percentile(first, 0.9),
        resolution_p50_s=percentile(done, 0.5),
        resolution_p90_s=percentile(done, 0.9),
        paid=_money(facts),
    )


def _slices(
    facts: Sequence[ClaimFacts], keys: Callable[[ClaimFacts], Iterable[str]]
) -> tuple[Slice, ...]:
    """One slice per key, the most claims first (then by key)."""
    groups: dict[str, list[ClaimFacts]] = defaultdict(list)
    for f in facts:
        for k in keys(f):
            groups[k].append(f)
    slices = [_slice(k, g) for k, g in groups.items()]
    return tuple(sorted(slices, key=lambda s: (-s.claims, s.key)))


def _days(since: datetime, until: datetime) -> tuple[str, ...]:
    first: date = since.astimezone(UTC).date()
    last: date = (until - timedelta(microseconds=1)).astimezone(UTC).date()
    return tuple((first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1))


def _series(
    facts: Sequence[ClaimFacts], days: tuple[str, ...], keys: Callable[[ClaimFacts], Iterable[str]]
) -> Series:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for f in facts:
        for k in keys(f):
            counts[k][f.day] += 1
    order = sorted(counts, key=lambda k: (-sum(counts[k].values()), k))
    return Series(days, {k: tuple(counts[k][d] for d in days) for k in order})


def summarise(
    facts: Sequence[ClaimFacts],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    paid: Sequence[PaidTotal] = (),
    warnings: Sequence[LotWarning] = (),
    warning_policy: WarningPolicy = WarningPolicy(),
) -> Dashboard:
    """The dashboard's figures from the window's per-claim facts. Pure."""
    days = _days(since, until)
    return Dashboard(
        since=since,
        until=until,
        now=now,
        total=_slice("all claims", facts),
        per_day_category=_series(facts, days, lambda f: (f.category,)),
        per_day_defect=_series(facts, days, lambda f: f.defects),
        by_party=_slices(facts, lambda f: (f.responsible_party,)),
        by_lot=_slices(facts, lambda f: (f.lot_key,)),
        by_route=_slices(facts, lambda f: (f.route,)),
        by_priority=tuple(sorted(_slices(facts, lambda f: (f.priority,)), key=lambda s: s.key)),
        by_category=_slices(facts, lambda f: (f.category,)),
        by_defect=_slices(facts, lambda f: f.defects),
        paid=tuple(paid),
        warnings=tuple(warnings),
        warning_policy=warning_policy,
    )


def warnings_at(
    *, ledger: Ledger, now: datetime, policy: WarningPolicy = WarningPolicy()
) -> tuple[LotWarning, ...]:
    """The lot early-warning list as of ``now``."""
    with ledger.engine.connect() as conn:
        rows = lot_counts(
            conn,
            recent_since=now - timedelta(days=policy.recent_days),
            baseline_since=now - timedelta(days=policy.baseline_days),
            until=now + timedelta(microseconds=1),
        )
    units = delivered_quantities(ledger=ledger, lots=(r.lot for r in rows))
    return rank_lots(rows, units, policy)


def operations_dashboard(
    *,
    engine: Engine,
    ledger: Ledger,
    now: datetime,
    days: int = 7,
    warning_policy: WarningPolicy = WarningPolicy(),
) -> Dashboard:
    """Claims filed from the start of the UTC day ``days - 1`` days before ``now`` up to
    ``now`` (today so far and the whole days before it), and the early-warning list at
    ``now``."""
    if now.tzinfo is None:
        raise InvalidWindowError("now", "give a time with a time zone")
    if not 1 <= days <= 92:
        raise InvalidWindowError("days", "between 1 and 92")
    until = now + timedelta(microseconds=1)
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    since = today - timedelta(days=days - 1)
    with read_snapshot(engine) as conn:  # the figures of one committed state
        facts = claim_facts(conn, since=since, until=until, now=now)
        paid = paid_totals(conn, since=since, until=until)
    return summarise(
        facts,
        since=since,
        until=until,
        now=now,
        paid=paid,
        warnings=warnings_at(ledger=ledger, now=now, policy=warning_policy),
        warning_policy=warning_policy,
    )
