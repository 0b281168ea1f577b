"""Promoting a candidate release: look at the split, run the gate, record, install or refuse.

``promote_candidate`` is the whole use case behind ``freshproof models promote``. The
release records on the ledger (which release serves, the looks taken at a split, the
``model.gate`` and ``model.release`` entries) belong to the serving side; they reach this
module through ``ReleaseRecords``, so training imports nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from training.promote import Comparison

__all__ = ["PromotionOutcome", "ReleaseRecords", "promote_candidate"]


class ReleaseRecords(Protocol):
    """The ledger's side of a promotion (``api.cli_models`` binds it to the service)."""

    def serving_version(self, name: str) -> str | None:
        """The version of ``name`` that serves now (after a rollback, not the newest)."""
        ...

    def gate_looks(self, split_id: str) -> int:
        """How many looks at the split the ledger holds."""
        ...

    def record_gate_look(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Append a ``model.gate`` entry; its index and its reference as JSON."""
        ...

    def record_release(self, entry: dict[str, Any], gate: dict[str, Any]) -> int:
        """Append the ``model.release`` entry of ``entry`` with ``gate`` facts; its index."""
        ...


@dataclass(frozen=True)
class PromotionOutcome:
    """What a promotion found and did."""

    verdict: Comparison
    look: int
    alpha_total: float
    gate_entry: dict[str, Any]
    incumbent: str
    installed: dict[str, Any] | None = None  # the entry installed, when one was
    release_entry: int | None = None  # its ledger index
    look_facts: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        facts = {"look": self.look, "alpha_total": self.alpha_total, "gate_entry": self.gate_entry}
        object.__setattr__(self, "look_facts", facts)

    def report(self) -> dict[str, Any]:
        """The comparison and the look, JSON-ready (what the command prints)."""
        return self.verdict.as_dict() | self.look_facts


def promote_candidate(
    *,
    candidate: Path,
    weights_dir: Path,
    dataset: Path,
    split: str,
    name: str,
    alpha: float,
    dry_run: bool,
    records: ReleaseRecords,
) -> PromotionOutcome:
    """Judge the split with the serving model and the candidate; install the candidate if it
    wins, else leave the serving model in place and record the refusal beside it (neither
    with ``dry_run``).

    Every comparison on a split is a look at it, recorded on the ledger (``model.gate``) and
    in the weights folder's look file (which a fresh database does not reset); the k-th look
    is tested at alpha * 6 / (pi^2 k^2), so all looks together stay within alpha.
    """
    from training.card import metrics_markdown, promotion_markdown, with_refusals
    from training.evaluate import collect, evaluate_records
    from training.promote import (
        compare_models,
        install,
        look_alpha,
        record_look,
        record_refusal,
        recorded_looks,
        split_identity,
    )
    from vision.predictor import Predictor

    split_id = split_identity(dataset, split)
    serving = records.serving_version(name)
    # The larger count wins: each look is written to both, and either may be the newer.
    look = max(records.gate_looks(split_id), recorded_looks(weights_dir, split_id)) + 1
    shipped = Predictor.from_weights(weights_dir, name=name, version=serving)
    challenger = Predictor.from_weights(candidate, name=name)
    judged = collect(challenger, dataset, split)
    verdict = compare_models(
        incumbent=collect(shipped, dataset, split),
        incumbent_thresholds=shipped.spec.thresholds,
        candidate=judged,
        candidate_thresholds=challenger.spec.thresholds,
        alpha=look_alpha(alpha, look),
        guard_alpha=alpha,
    )
    gate_index, gate_entry = records.record_gate_look(
        {
            "name": name,
            "candidate": challenger.spec.version,
            "incumbent": shipped.spec.version,
            "split": split,
            "split_id": split_id,
            "look": look,
            "alpha_total": alpha,
            **verdict.as_dict(),
        }
    )
    record_look(
        weights_dir,
        {
            "split_id": split_id,
            "split": split,
            "look": look,
            "name": name,
            "candidate": challenger.spec.version,
            "incumbent": shipped.spec.version,
            "alpha_total": alpha,
            "alpha": verdict.alpha,
            "p_value": verdict.real_photos.p_value,
            "promote": verdict.promote,
            "gate_entry": gate_index,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    outcome = PromotionOutcome(
        verdict=verdict,
        look=look,
        alpha_total=alpha,
        gate_entry=gate_entry,
        incumbent=shipped.spec.version,
    )
    card = weights_dir / "MODEL_CARD.md"
    if dry_run:
        return outcome
    if not verdict.promote:
        kept = record_refusal(
            candidate_dir=candidate, weights_dir=weights_dir, name=name, comparison=verdict
        )
        if card.exists():
            card.write_text(with_refusals(card.read_text(), kept))
        return outcome
    # A candidate released without looking at the split (``training.package_release``) gets
    # its figures there from this look, the one the gate counted.
    figures = evaluate_records(judged, challenger.spec.labels, challenger.spec.thresholds)
    measured_here = split not in (challenger.spec.extra.get("metrics") or {})
    entry = install(
        candidate_dir=candidate,
        weights_dir=weights_dir,
        name=name,
        comparison=verdict,
        metrics={split: figures},
    )
    figures_md = f"\n## On {split}, as the gate judged it\n\n" + metrics_markdown(entry, split)
    card.write_text(
        card.read_text() + "\n" + promotion_markdown(entry) + (figures_md if measured_here else "")
    )
    index = records.record_release(entry, outcome.look_facts)
    return PromotionOutcome(
        verdict=verdict,
        look=look,
        alpha_total=alpha,
        gate_entry=gate_entry,
        incumbent=shipped.spec.version,
        installed=entry,
        release_entry=index,
    )
