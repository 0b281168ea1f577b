"""``freshproof models promote``: ship a retrained release only when it measurably wins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli_datasets import check_built, fail
from api.cli_support import cli_actor
from api.settings import Settings
from serving.releases import record_release, release_body, serving_release
from training.errors import MissingInputError, NoClassifierError, UnknownTrainingDataError
from training.layout import DEFAULT_DATASET
from vision.errors import ModelError

if TYPE_CHECKING:
    from api.services import Services

app = typer.Typer(help="Released models.", no_args_is_help=True)


@app.command()
def promote(
    candidate: Annotated[
        Path, typer.Argument(help="Folder a `release` wrote (FRESHPROOF_WEIGHTS_DIR=...).")
    ],
    dataset: Annotated[
        Path, typer.Option(help="A YOLO dataset built by `datasets build`.")
    ] = DEFAULT_DATASET,
    split: str = "test",
    name: str = "freshproof-detector",
    alpha: Annotated[
        float,
        typer.Option(help="Family-wise level over every look at this split (spent per look)."),
    ] = 0.05,
    dry_run: Annotated[
        bool, typer.Option(help="Compare only; change no weights (the look is still counted).")
    ] = False,
) -> None:
    """Judge the split with the serving model and the candidate; install the candidate if it
    wins (exit 0), else leave the serving model in place and record the refusal beside it
    (exit 1).

    Every comparison on a split is a look at it, recorded on the ledger (``model.gate``) and
    in the weights folder's look file (which a fresh database does not reset); the k-th look
    is tested at alpha * 6 / (pi^2 k^2), so all looks together stay within alpha.
    """
    from training.promotion import promote_candidate

    check_built(dataset, [split])
    outcome = promote_candidate(
        candidate=candidate,
        weights_dir=Settings().weights_dir,
        dataset=dataset,
        split=split,
        name=name,
        alpha=alpha,
        dry_run=dry_run,
        records=_LedgerReleases(actor=cli_actor()),
    )
    typer.echo(json.dumps(outcome.report(), indent=2))
    if not outcome.verdict.promote:
        typer.echo(f"kept {outcome.incumbent}: {'; '.join(outcome.verdict.reasons)}", err=True)
        raise typer.Exit(1)
    if outcome.installed is None:  # a dry run
        return
    typer.echo(
        f"promoted {outcome.installed['version']} over {outcome.incumbent}: ledger entry "
        f"{outcome.release_entry}; serving processes load it within "
        f"{Settings().model_refresh_seconds:g} s",
        err=True,
    )


class _LedgerReleases:
    """``training.promotion.ReleaseRecords`` on the service's ledger; each step opens the
    services for itself, so none is held while the models are judged."""

    def __init__(self, *, actor: str) -> None:
        self._actor = actor

    def serving_version(self, name: str) -> str | None:
        """The version the ledger says serves."""
        with _services() as services:
            serving = serving_release(services.engine, name)
        return serving.version if serving else None

    def gate_looks(self, split_id: str) -> int:
        """The looks at the split on the ledger."""
        from serving.releases import gate_looks

        with _services() as services:
            return gate_looks(services.engine, split_id)

    def record_gate_look(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A ``model.gate`` entry."""
        from serving.releases import record_gate_look

        with _services() as services:
            gate = record_gate_look(services.ledger, body, actor=self._actor)
        return gate.index, gate.as_dict()

    def record_release(self, entry: dict[str, Any], gate: dict[str, Any]) -> int:
        """A ``model.release`` entry carrying the gate's look facts."""
        body = release_body(entry)
        body["gate"] = (body["gate"] or {}) | gate
        with _services() as services:
            release = record_release(services.ledger, body, actor=self._actor)
        return release.ref.index


@contextmanager
def _services() -> Iterator[Services]:
    from api.services import build_services

    services = build_services(Settings())
    try:
        yield services
    finally:
        services.close()


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why, for the ledger entry.")],
    name: Annotated[str | None, typer.Option(help="Model name; default the manifest's.")] = None,
) -> None:
    """Return to the release served before the current one: a ``model.rollback`` ledger entry.

    Its files must still be in the weights folder (a promotion keeps the release it
    replaced). Serving processes load it within FRESHPROOF_MODEL_REFRESH_SECONDS.
    """
    from serving.releases import (
        NoEarlierReleaseError,
        record_rollback,
        release_history,
        rollback_target,
    )
    from vision.registry import default_name, resolve_model

    settings = Settings()
    model = name or settings.model_name or default_name(settings.weights_dir)
    with _services() as services:
        try:
            target = rollback_target(model, release_history(services.engine, model))
            # Its files must be here and intact before the ledger says it serves.
            resolve_model(settings.weights_dir, model, version=target.version)
            done = record_rollback(services.ledger, model, actor=cli_actor(), reason=reason)
        except NoEarlierReleaseError as exc:
            typer.echo(exc.reason, err=True)
            raise typer.Exit(1) from exc
        except ModelError as exc:
            typer.echo(f"cannot roll back: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(json.dumps(done.as_dict()))


@app.command()
def releases(
    name: Annotated[str | None, typer.Option(help="Model name; default the manifest's.")] = None,
) -> None:
    """Every release and rollback of the model on the ledger, oldest first; the last serves."""
    from serving.releases import release_history
    from vision.registry import default_name

    settings = Settings()
    model = name or settings.model_name or default_name(settings.weights_dir)
    with _services() as services:
        for r in release_history(services.engine, model):
            typer.echo(json.dumps(r.as_dict()))


@app.command("abstain-margins")
def abstain_margins(
    dataset: Annotated[
        Path, typer.Option(help="A YOLO dataset built by `datasets build`.")
    ] = DEFAULT_DATASET,
    name: Annotated[str | None, typer.Option(help="Model name; default the manifest's.")] = None,
    precision: Annotated[
        float, typer.Option(help="Precision a sure finding must have on val.")
    ] = 0.9,
) -> None:
    """Choose each label's abstention margin on the val split and write it to the manifest
    entry of the newest release (``release`` does this for new releases); print what it
    does on test: how many findings become uncertain and how precise the sure ones are."""
    from training.abstain import store_abstain_margins
    from vision.registry import default_name

    check_built(dataset, ["val", "test"])
    settings = Settings()
    model = name or settings.model_name or default_name(settings.weights_dir)
    report = store_abstain_margins(
        weights_dir=settings.weights_dir, dataset=dataset, name=model, precision=precision
    )
    typer.echo(json.dumps(report, indent=2))


@app.command("operating-points")
def operating_points(
    dataset: Annotated[
        Path, typer.Option(help="A YOLO dataset built by `datasets build`.")
    ] = DEFAULT_DATASET,
    name: Annotated[str | None, typer.Option(help="Model name; default the manifest's.")] = None,
    max_error: Annotated[
        float, typer.Option(help="Most a decision taken alone may be wrong (upper bound).")
    ] = 0.02,
    delta: Annotated[float, typer.Option(help="1 - the bound's confidence level.")] = 0.05,
    feedback: Annotated[
        list[Path] | None,
        typer.Option(
            help="An export of people's decisions (`freshproof feedback export`), repeatable: "
            "its val photos of a known family count beside the dataset's val."
        ),
    ] = None,
) -> None:
    """Choose, per family and decision, the confidence at which the newest release decides
    without a person (on val, by a Clopper-Pearson upper bound); write it to the manifest and
    the model card with what it does on test, and print that."""
    from training.abstain import store_operating_points
    from training.layout import require_feedback
    from vision.registry import default_name

    check_built(dataset, ["val", "test"])
    for export in feedback or ():
        try:
            require_feedback(export)
        except MissingInputError as exc:
            raise fail(exc) from exc
    settings = Settings()
    model = name or settings.model_name or default_name(settings.weights_dir)
    try:
        block = store_operating_points(
            weights_dir=settings.weights_dir,
            dataset=dataset,
            name=model,
            max_error=max_error,
            delta=delta,
            feedback=feedback or (),
        )
    except UnknownTrainingDataError as exc:  # nothing written
        raise fail(exc) from exc
    shown = ("families", "test", "feedback") if feedback else ("families", "test")
    typer.echo(json.dumps({k: block[k] for k in shown}, indent=2))


@app.command()
def retrain(
    version: Annotated[str, typer.Argument(help="The candidate's version, e.g. 0.3.0.")],
    feedback: Annotated[
        Path | None,
        typer.Option(help="An export of adjudicated evidence (`freshproof feedback export`)."),
    ] = None,
    dataset: Annotated[
        Path, typer.Option(help="The base dataset to replay (`datasets build`).")
    ] = DEFAULT_DATASET,
    weight: Annotated[int, typer.Option(help="How often each new example repeats.")] = 3,
    detector_hours: Annotated[float, typer.Option(help="0: keep the serving detector.")] = 0.0,
    classifier_hours: Annotated[float, typer.Option(help="0: keep the serving classifier.")] = 0.25,
    classifier_imgsz: Annotated[
        int | None, typer.Option(help="Default: the serving classifier's.")
    ] = None,
    cap: Annotated[
        list[str] | None, typer.Option(help="POOL=N caps of the replayed pools.")
    ] = None,
    seed: int = 0,
    out: Annotated[Path | None, typer.Option(help="Default var/runs/retrain-VERSION.")] = None,
    candidate: Annotated[Path | None, typer.Option(help="Default var/candidate-VERSION.")] = None,
    queue: Annotated[
        bool, typer.Option(help="Send it to a Celery worker (with the train extra) instead.")
    ] = False,
) -> None:
    """Train the serving release on with adjudicated evidence, the base pools replayed, and
    release it into a candidate folder; then judge it with `freshproof models promote`."""
    from api.retraining import DEFAULT_CAPS, RetrainJob, run_retrain_job

    caps = dict(DEFAULT_CAPS) | {k: int(v) for k, v in (c.split("=", 1) for c in cap or [])}
    job = RetrainJob(
        version=version,
        dataset=str(dataset),
        feedback=str(feedback) if feedback else None,
        out=str(out) if out else None,
        candidate=str(candidate) if candidate else None,
        weight=weight,
        detector_hours=detector_hours,
        classifier_hours=classifier_hours,
        classifier_imgsz=classifier_imgsz,
        caps=caps,
        seed=seed,
    )
    settings = Settings()
    if queue:
        from api.worker import RETRAIN_TASK, celery_app

        sent = celery_app(settings).send_task(RETRAIN_TASK, args=[job.as_dict()])
        typer.echo(f"queued retraining {version} as task {sent.id}")
        return
    try:
        entry = run_retrain_job(settings, job, log=lambda line: typer.echo(line, err=True))
    except MissingInputError as exc:
        raise fail(exc) from exc
    target = job.candidate or f"var/candidate-{version}"
    test = (entry.get("metrics") or {}).get("test", {})
    typer.echo(json.dumps({"candidate": target, "test": test.get("image_level")}, indent=2))
    typer.echo(f"next: freshproof models promote {target} --dataset {dataset}", err=True)


@app.command()
def rerelease(
    candidate: Annotated[Path, typer.Argument(help="A candidate folder `retrain` released.")],
    dataset: Annotated[
        Path, typer.Option(help="The dataset it was released on.")
    ] = DEFAULT_DATASET,
    name: str = "freshproof-detector",
) -> None:
    """Release a candidate's own checkpoints again, as the release procedure stands now
    (thresholds, calibration, the classifier's test-time views and margins chosen on val;
    test measured), without training; for a procedure that changed after the candidate
    was released. Its training record is kept as it was."""
    from training.pipeline import rerelease as release_again

    check_built(dataset, ["val", "test"])
    try:
        new = release_again(candidate=candidate, dataset=dataset, name=name)
    except NoClassifierError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    views = new["classifier"].get("views_on_val", {})
    typer.echo(
        json.dumps({"views_on_val": views, "test": new["metrics"]["test"]["image_level"]}, indent=2)
    )
