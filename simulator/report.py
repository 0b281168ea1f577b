"""Score outcomes against the truth and print them as a table per fault kind.

A verdict is right when its role matches the truth's and, where both name a party id, the
ids match too (two carriers share a role); for an undetermined truth, only an undetermined
verdict is right. A miss is the model's when some photo's findings lacked the defect its
subject shows or reported one it does not; otherwise the rules had the right findings and
still missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simulator.spec import SUBJECT_LABELS, Outcome, SeenVerdict, Truth

__all__ = [
    "KindScore",
    "confident_on_missing_data",
    "findings_right",
    "format_table",
    "is_right",
    "score",
    "upper_bound_95",
]


def is_right(truth: Truth, verdict: SeenVerdict) -> bool:
    """The verdict names the true party (see the module docstring)."""
    if not truth.decided:
        return not verdict.decided
    if verdict.role != truth.role:
        return False
    if truth.party_id is not None and verdict.party_id is not None:
        return truth.party_id == verdict.party_id
    return True


def findings_right(outcome: Outcome) -> bool:
    """Every photo's findings match its subject: the defect found, nothing else reported."""
    photos = outcome.scenario.photos
    if len(outcome.findings) != len(photos):
        return False
    for spec, found in zip(photos, outcome.findings, strict=True):
        allowed = SUBJECT_LABELS[spec.subject]
        if not found <= allowed or (allowed and not found & allowed):
            return False
    return True


@dataclass(frozen=True)
class KindScore:
    """Counts for one fault kind (or the total)."""

    kind: str
    n: int = 0
    right: int = 0
    decided: int = 0
    wrong_decided: int = 0
    confident: int = 0
    wrong_confident: int = 0
    model_misses: int = 0
    rule_misses: int = 0
    errors: int = 0
    skipped: int = 0
    decidable: int = 0  # the truth names a party
    decidable_decided: int = 0
    uncited: int = 0  # decided verdicts with a reason citing no ledger entry

    @property
    def accuracy(self) -> float | None:
        """Right verdicts among those given."""
        return self.right / self.n if self.n else None

    @property
    def automation(self) -> float | None:
        """Verdicts that named a party (not undetermined)."""
        return self.decided / self.n if self.n else None

    @property
    def automation_decidable(self) -> float | None:
        """Verdicts that named a party, among cases whose records can carry one."""
        return self.decidable_decided / self.decidable if self.decidable else None

    @property
    def wrong_when_decided(self) -> float | None:
        """Wrong verdicts among those that named a party."""
        return self.wrong_decided / self.decided if self.decided else None

    @property
    def wrong_when_confident(self) -> float | None:
        """Wrong verdicts among those at or above the auto-pay confidence."""
        return self.wrong_confident / self.confident if self.confident else None

    def __add__(self, other: KindScore) -> KindScore:
        return KindScore(
            "total",
            *(getattr(self, f) + getattr(other, f) for f in _COUNTS),
        )


_COUNTS = (
    "n",
    "right",
    "decided",
    "wrong_decided",
    "confident",
    "wrong_confident",
    "model_misses",
    "rule_misses",
    "errors",
    "skipped",
    "decidable",
    "decidable_decided",
    "uncited",
)


def _score_one(kind: str, outcomes: Iterable[Outcome], threshold: float) -> KindScore:
    c = dict.fromkeys(_COUNTS, 0)
    for o in outcomes:
        if o.skipped is not None:
            c["skipped"] += 1
            continue
        if o.verdict is None:
            c["errors"] += 1
            continue
        right = is_right(o.scenario.truth, o.verdict)
        confident = o.verdict.decided and o.verdict.confidence >= threshold
        c["n"] += 1
        c["right"] += right
        c["decided"] += o.verdict.decided
        c["wrong_decided"] += o.verdict.decided and not right
        c["confident"] += confident
        c["wrong_confident"] += confident and not right
        c["decidable"] += o.scenario.truth.decided
        c["decidable_decided"] += o.scenario.truth.decided and o.verdict.decided
        c["uncited"] += o.verdict.decided and bool(o.verdict.uncited)
        if not right:
            c["model_misses" if not findings_right(o) else "rule_misses"] += 1
    return KindScore(kind, **c)


def score(
    outcomes: Sequence[Outcome], *, auto_pay_min_confidence: float
) -> tuple[list[KindScore], KindScore]:
    """Scores per kind (in first-seen order) and the total."""
    kinds = list(dict.fromkeys(o.scenario.kind for o in outcomes))
    rows = [
        _score_one(k, (o for o in outcomes if o.scenario.kind == k), auto_pay_min_confidence)
        for k in kinds
    ]
    total = sum(rows, KindScore("total"))
    return rows, total


def confident_on_missing_data(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Outcomes that named a party where the truth is undetermined (a confident guess)."""
    return [
        o
        for o in outcomes
        if o.verdict is not None and o.verdict.decided and not o.scenario.truth.decided
    ]


def upper_bound_95(wrong: int, n: int) -> float | None:
    """One-sided 95% upper bound on a rate seen as ``wrong`` of ``n`` (Wilson score)."""
    if n == 0:
        return None
    z, p = 1.645, wrong / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def _pct(x: float | None) -> str:
    return "    -" if x is None else f"{100 * x:4.0f}%"


def _frac(part: int, whole: int) -> str:
    return f"{_pct(part / whole if whole else None)} {f'({part}/{whole})':>8}"


def format_table(rows: Sequence[KindScore], total: KindScore, *, threshold: float) -> str:
    """A fixed-width table: one line per kind, then the total."""
    head = (
        f"{'fault kind':<26} {'n':>3} {'accuracy':>8} {'automated':>9} "
        f"{'wrong|decided':>15} {f'wrong|conf>={threshold:g}':>17} "
        f"{'miss: model/rules':>17} {'err':>3} {'skip':>4}"
    )
    lines = [head, "-" * len(head)]
    for r in [*rows, total]:
        if r is total:
            lines.append("-" * len(head))
        lines.append(
            f"{r.kind:<26} {r.n:>3} {_pct(r.accuracy):>8} {_pct(r.automation):>9} "
            f"{_frac(r.wrong_decided, r.decided):>15} {_frac(r.wrong_confident, r.confident):>17} "
            f"{f'{r.model_misses}/{r.rule_misses}':>17} {r.errors:>3} {r.skipped:>4}"
        )
    return "\n".join(lines)
