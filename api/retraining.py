"""A retraining job: the serving release's checkpoints, trained on with adjudicated evidence
replayed into the base pools, released into a candidate folder for the gate.

The same function runs from ``freshproof models retrain`` and as the Celery task
``freshproof.retrain`` on a worker with the train extra installed.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from api.settings import Settings
from training.layout import DEFAULT_DATASET

__all__ = ["RetrainJob", "run_retrain_job"]

# The pool caps the shipped releases were trained with (weights/MODEL_CARD.md).
DEFAULT_CAPS = {"fruit_fresh_rotten": 1000, "banana_ripeness_det": 700}


@dataclass(frozen=True)
class RetrainJob:
    """Everything a retraining run needs, as JSON for a worker."""

    version: str
    dataset: str = str(DEFAULT_DATASET)
    feedback: str | None = None
    out: str | None = None
    candidate: str | None = None
    weight: int = 3
    detector_hours: float = 0.0
    classifier_hours: float = 0.25
    classifier_imgsz: int | None = None
    caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The task's argument."""
        return asdict(self)

    def command(self) -> str:
        """The ``freshproof models retrain`` line that runs this job (for the model card)."""
        args = ["freshproof", "models", "retrain", self.version, "--dataset", self.dataset]
        if self.feedback:
            args += ["--feedback", self.feedback, "--weight", str(self.weight)]
        args += ["--detector-hours", f"{self.detector_hours:g}"]
        args += ["--classifier-hours", f"{self.classifier_hours:g}"]
        if self.classifier_imgsz:
            args += ["--classifier-imgsz", str(self.classifier_imgsz)]
        for pool, cap in sorted(self.caps.items()):
            args += ["--cap", f"{pool}={cap}"]
        return shlex.join([*args, "--seed", str(self.seed)])


def run_retrain_job(
    settings: Settings, job: RetrainJob, *, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Plan, train and release the job; returns the candidate's manifest entry.

    Starts from the release the ledger says serves (its shipped PyTorch checkpoints).
    """
    from api.services import build_services
    from serving.releases import serving_release
    from training.layout import require_built, require_feedback
    from training.retrain import plan_retraining, retrain
    from vision.registry import default_name, manifest_entry

    # First, before the ledger or the weights: what is missing, and the command that makes it.
    require_built(Path(job.dataset))
    if job.feedback:
        require_feedback(Path(job.feedback))
    name = settings.model_name or default_name(settings.weights_dir)
    services = build_services(settings)
    try:
        serving = serving_release(services.engine, name)
    finally:
        services.close()
    entry = manifest_entry(settings.weights_dir, name, serving.version if serving else None)
    weights = settings.weights_dir
    detector_pt = weights / Path(entry["file"]).with_suffix(".pt").name
    classifier_pt = weights / Path(entry["classifier"]["file"]).with_suffix(".pt").name
    out = Path(job.out or f"var/runs/retrain-{job.version}")
    candidate = Path(job.candidate or f"var/candidate-{job.version}")
    plan = plan_retraining(
        base=Path(job.dataset),
        feedback=Path(job.feedback) if job.feedback else None,
        weight=job.weight,
        caps=job.caps,
        seed=job.seed,
    )
    log(f"retraining {name} {entry['version']} -> {job.version}: {plan.counts()}")
    return retrain(
        plan=plan,
        out=out,
        candidate=candidate,
        version=job.version,
        name=name,
        detector_from=detector_pt,
        classifier_from=classifier_pt,
        detector_hours=job.detector_hours,
        classifier_hours=job.classifier_hours,
        imgsz=int(entry["imgsz"]),
        classifier_imgsz=job.classifier_imgsz or int(entry["classifier"]["imgsz"]),
        serving_entry=entry,
        log=log,
        command=job.command(),
    )
