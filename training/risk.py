"""Exact binomial bounds for error rates: how wrong decisions *could* be, not just were.

The Clopper-Pearson one-sided upper bound for ``errors`` in ``n`` at level ``1 - delta`` is
the ``1 - delta`` quantile of Beta(errors + 1, n - errors): the largest error rate under which
seeing ``errors`` or fewer would still have had probability ``delta``. scipy computes it when
installed; otherwise the exact binomial tail is solved by bisection (no approximation).
"""

from __future__ import annotations

import math

__all__ = ["clopper_pearson_upper", "min_decisions"]


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def clopper_pearson_upper(errors: int, n: int, *, delta: float = 0.05) -> float:
    """One-sided upper confidence bound (level 1 - delta) on an error rate; 1.0 when n is 0."""
    if n <= 0:
        return 1.0
    if not 0 <= errors <= n:
        raise ValueError(f"errors must be within 0..{n}, got {errors}")
    if errors == n:
        return 1.0
    try:
        from scipy.stats import beta  # type: ignore[import-untyped]
    except ImportError:
        lo, hi = errors / n, 1.0
        for _ in range(80):  # the tail falls as p grows: P(X <= errors) = delta at the bound
            mid = (lo + hi) / 2
            if _binomial_cdf(errors, n, mid) > delta:
                lo = mid
            else:
                hi = mid
        return hi
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def min_decisions(max_error: float, *, delta: float = 0.05) -> int:
    """The fewest decisions that, all right, bound the error rate at ``max_error``:
    (1 - max_error)^n <= delta."""
    return math.ceil(math.log(delta) / math.log1p(-max_error))
