"""The lot early-warning list: lots whose claims per delivered unit run above their baseline.

Pure. For each lot with a claim in the last ``recent_days``, the lot's rate λ (claims per
delivered unit) gets an empirical-Bayes Gamma-Poisson estimate:

* the baseline b is its category's claims per delivered unit over the last
  ``baseline_days`` on the category's *other* lots with a delivered quantity (so a hot lot
  never raises its own bar); a category with no such lot falls back to every other lot; a
  configured baseline (``WarningPolicy.baselines``) wins over both;
* the prior is Gamma(a₀, a₀/b): mean b, worth ``prior_claims`` claims of evidence;
* the lot's c recent claims on u units make the posterior Gamma(a₀ + c, a₀/b + u);
* the lot is ranked by P(λ > k·b), the posterior's upper tail above ``multiple`` (k) times
  the baseline, then by its rate's ratio to the baseline.

A lot with no delivered quantity on record has no rate: it is listed after the others,
ranked by its claims alone, and its sentence says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from operations.errors import InvalidWindowError
from supplychain.quantities import LotQuantity

__all__ = [
    "Baseline",
    "LotCounts",
    "LotWarning",
    "WarningPolicy",
    "excess_probability",
    "rank_lots",
    "upper_gamma",
]


@dataclass(frozen=True)
class WarningPolicy:
    """The model's settings: windows, the multiple of the baseline, the prior's weight."""

    recent_days: int = 3
    baseline_days: int = 28
    multiple: float = 2.0
    prior_claims: float = 1.0
    limit: int = 20
    # Claims per delivered unit by category, where the operation knows better than the data.
    baselines: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not 1 <= self.recent_days <= self.baseline_days:
            raise InvalidWindowError("recent_days", "need 1 <= recent_days <= baseline_days")
        if self.multiple <= 0 or self.prior_claims <= 0 or self.limit < 1:
            raise InvalidWindowError("policy", "multiple, prior_claims and limit must be > 0")
        if any(not v > 0 for v in self.baselines.values()):
            raise InvalidWindowError("baselines", "every baseline must be a rate above 0")


@dataclass(frozen=True)
class LotCounts:
    """A lot's claims in the recent window and in the baseline window (which holds it)."""

    lot: str
    category: str
    recent: int
    baseline: int


@dataclass(frozen=True)
class Baseline:
    """Claims per delivered unit the lot is judged against, and where the figure came from.

    ``source``: ``configured``, ``category`` (its category's other lots) or ``all lots``
    (every other lot, when its category has none with a quantity).
    """

    rate: float
    source: str
    claims: int = 0
    units: float = 0.0
    lots: int = 0


@dataclass(frozen=True)
class LotWarning:
    """One row of the early-warning list, with the sentence that explains it."""

    lot: str
    category: str
    claims: int
    days: int
    units: float | None
    uom: str | None
    rate: float | None
    baseline: Baseline | None
    ratio: float | None
    probability: float | None
    multiple: float
    sentence: str

    @property
    def ranked_by_claims_alone(self) -> bool:
        """No delivered quantity on record: the lot is ranked by its claims alone."""
        return self.units is None


def upper_gamma(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a).

    A series below x = a + 1 and Lentz's continued fraction above (Numerical Recipes §6.2),
    both to about 1e-14.
    """
    if a <= 0:
        raise ValueError("a must be > 0")
    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


def excess_probability(
    *, claims: int, units: float, baseline: float, multiple: float, prior_claims: float
) -> float:
    """P(λ > multiple·baseline) under the Gamma(prior_claims + claims, prior_claims/baseline
    + units) posterior of the lot's claims per unit."""
    shape = prior_claims + claims
    rate = prior_claims / baseline + units
    return upper_gamma(shape, rate * multiple * baseline)


def _baseline(
    lot: LotCounts,
    rows: Sequence[LotCounts],
    units: Mapping[str, LotQuantity],
    policy: WarningPolicy,
) -> Baseline | None:
    if (configured := policy.baselines.get(lot.category)) is not None:
        return Baseline(configured, "configured")
    for source, same in (("category", True), ("all lots", False)):
        pool = [
            r
            for r in rows
            if r.lot != lot.lot and r.lot in units and (r.category == lot.category or not same)
        ]
        total = sum(units[r.lot].quantity for r in pool)
        if pool and total > 0:
            claims = sum(r.baseline for r in pool)
            # No claim at all on the other lots: half a claim, so the rate is not zero.
            rate = (claims if claims else 0.5) / total
            return Baseline(rate, source, claims, total, len(pool))
    return None


_X = "\N{MULTIPLICATION SIGN}"
_UNITS = {None: "units", "KGM": "kg", "EA": "units", "H87": "units", "LTR": "l", "GRM": "g"}


def _num(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:,.1f}"


def _pct(p: float) -> str:
    if p >= 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{p * 100:.0f}%"


def _rate(r: float) -> str:
    return f"{r * 100:.2g}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _warning(
    lot: LotCounts,
    rows: Sequence[LotCounts],
    units: Mapping[str, LotQuantity],
    policy: WarningPolicy,
) -> LotWarning:
    days, k = policy.recent_days, policy.multiple
    head = f"lot {lot.lot}: {_plural(lot.recent, 'claim')}"
    q = units.get(lot.lot)
    if q is None or q.quantity <= 0:
        sentence = (
            f"{head} in {_plural(days, 'day')}; no delivered quantity on record, "
            "so it is ranked by its claims alone"
        )
        return LotWarning(
            lot.lot, lot.category, lot.recent, days, None, None, None, None, None, None, k,
            sentence,
        )  # fmt: skip
    rate = lot.recent / q.quantity
    uom = _UNITS.get(q.uom, q.uom or "units")
    on = f"{head} on {_num(q.quantity)} {uom} in {_plural(days, 'day')}"
    base = _baseline(lot, rows, units, policy)
    if base is None:
        sentence = f"{on} ({_rate(rate)}); no other lot gives a baseline yet"
        return LotWarning(
            lot.lot, lot.category, lot.recent, days, q.quantity, q.uom, rate, None, None, None,
            k, sentence,
        )  # fmt: skip
    ratio = rate / base.rate
    p = excess_probability(
        claims=lot.recent,
        units=q.quantity,
        baseline=base.rate,
        multiple=k,
        prior_claims=policy.prior_claims,
    )
    product = lot.category.replace("_", " ")
    against = {
        "configured": f"the configured {product} baseline",
        "category": f"the {product} baseline",
        "all lots": f"the all-lots baseline ({product} has no other lot with a quantity)",
    }[base.source]
    sentence = (
        f"{on}, {ratio:.1f}{_X} {against} of {_rate(base.rate)}; {_pct(p)} likely above {k:g}{_X}"
    )
    return LotWarning(
        lot.lot, lot.category, lot.recent, days, q.quantity, q.uom, rate, base, ratio, p, k,
        sentence,
    )  # fmt: skip


def rank_lots(
    rows: Sequence[LotCounts],
    units: Mapping[str, LotQuantity],
    policy: WarningPolicy = WarningPolicy(),
) -> tuple[LotWarning, ...]:
    """The lots with a recent claim, most likely above ``multiple`` times their baseline first.

    Lots with a rate but no baseline follow (by rate), then lots without a delivered
    quantity (by claims alone); at most ``policy.limit`` rows.
    """
    warnings = [_warning(r, rows, units, policy) for r in rows if r.recent > 0]

    def key(w: LotWarning) -> tuple[int, float, float, float, str]:
        if w.probability is not None:
            return (0, -w.probability, -(w.ratio or 0.0), -w.claims, w.lot)
        if w.rate is not None:
            return (1, -w.rate, 0.0, -w.claims, w.lot)
        return (2, -w.claims, 0.0, 0.0, w.lot)

    return tuple(sorted(warnings, key=key)[: policy.limit])
