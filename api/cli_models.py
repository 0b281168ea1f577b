"""``freshproof models promote``: ship a retrained release only when it measurably wins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli_datasets import check_built, fail
from api.cli_support import cli_actor
from api.settings import Settings
from serving.releases import record_release, release_body, serving_release
from training.errors import MissingInputError
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
    from serving.releases import gate_looks, record_gate_look
    from training.card import promotion_markdown, with_refusals
    from training.evaluate import collect
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

    weights_dir = Settings().weights_dir
    check_built(dataset, [split])
    split_id = split_identity(dataset, split)
    # The incumbent is the release that serves now: after a rollback, not the newest files.
    with _services() as services:
        serving = serving_release(services.engine, name)
        # The larger count wins: each look is written to both, and either may be the newer.
        look = max(gate_looks(services.engine, split_id), recorded_looks(weights_dir, split_id))
        look += 1
    shipped = Predictor.from_weights(
        weights_dir, name=name, version=serving.version if serving else None
    )
    challenger = Predictor.from_weights(candidate, name=name)
    verdict = compare_models(
        incumbent=collect(shipped, dataset, split),
        incumbent_thresholds=shipped.spec.thresholds,
        candidate=collect(challenger, dataset, split),
        candidate_thresholds=challenger.spec.thresholds,
        alpha=look_alpha(alpha, look),
        guard_alpha=alpha,
    )
    with _services() as services:
        gate = record_gate_look(
            services.ledger,
            {
                "name": name,
                "candidate": challenger.spec.version,
                "incumbent": shipped.spec.version,
                "split": split,
                "split_id": split_id,
                "look": look,
                "alpha_total": alpha,
                **verdict.as_dict(),
            },
            actor=cli_actor(),
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
            "gate_entry": gate.index,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    look_facts = {"look": look, "alpha_total": alpha, "gate_entry": gate.as_dict()}
    typer.echo(json.dumps(verdict.as_dict() | look_facts, indent=2))
    if not verdict.promote:
        if not dry_run:
            kept = record_refusal(
                candidate_dir=candidate, weights_dir=weights_dir, name=name, comparison=verdict
            )
            card = weights_dir / "MODEL_CARD.md"
            if card.exists():
                card.write_text(with_refusals(card.read_text(), kept))
        typer.echo(f"kept {shipped.spec.version}: {'; '.join(verdict.reasons)}", err=True)
        raise typer.Exit(1)
    if dry_run:
        return
    entry = install(candidate_dir=candidate, weights_dir=weights_dir, name=name, comparison=verdict)
    card = weights_dir / "MODEL_CARD.md"
    card.write_text(card.read_text() + "\n" + promotion_markdown(entry))
    body = release_body(entry)
    body["gate"] = (body["gate"] or {}) | look_facts
    with _services() as services:
        release = record_release(services.ledger, body, actor=cli_actor())
    typer.echo(
        f"promoted {entry['version']} over {shipped.spec.version}: ledger entry "
        f"{release.ref.index}; serving processes load it within "
        f"{Settings().model_refresh_seconds:g} s",
        err=True,
    )


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
    from training.evaluate import choose_abstain_margins, collect
    from vision.predictor import Predictor
    from vision.registry import default_name, load_manifest

    check_built(dataset, ["val", "test"])
    settings = Settings()
    model = name or settings.model_name or default_name(settings.weights_dir)
    predictor = Predictor.from_weights(settings.weights_dir, name=model)
    thresholds = predictor.spec.thresholds
    margins = choose_abstain_margins(
        collect(predictor, dataset, "val"), thresholds, precision=precision
    )
    path = settings.weights_dir / "manifest.json"
    manifest = load_manifest(settings.weights_dir)
    entry = next(m for m in reversed(manifest["models"]) if m["name"] == model)
    entry["abstain"] = margins
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    test = collect(predictor, dataset, "test")
    report: dict[str, object] = {"margins": margins, "test": {}}
    for label, t in thresholds.items():
        found = [r for r in test if r.score(label) >= t]
        sure = [r for r in found if r.score(label) >= t + margins[label]]
        unsure = [r for r in found if r not in sure]

        def share(rs: list[Any], lab: str = label) -> float | None:
            return round(sum(r.has(lab) for r in rs) / len(rs), 4) if rs else None

        report["test"][label] = {  # type: ignore[index]
            "found": len(found),
            "uncertain": len(unsure),
            "precision_sure": share(sure),
            "precision_uncertain": share(unsure),
        }
    typer.echo(json.dumps(report, indent=2))


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
    import shutil
    import tempfile

    from training.card import model_card
    from training.release import release_model
    from vision.registry import load_manifest

    check_built(dataset, ["val", "test"])
    entry = next(m for m in reversed(load_manifest(candidate)["models"]) if m["name"] == name)
    if entry.get("classifier") is None:
        typer.echo(f"{candidate}: {name} {entry['version']} has no classifier", err=True)
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="fp-rerelease-") as tmp:
        # Copies: the release writes its files (and its checkpoints) where these now lie.
        detector = Path(tmp) / "detector.pt"
        classifier = Path(tmp) / "classifier.pt"
        shutil.copyfile(candidate / Path(entry["file"]).with_suffix(".pt"), detector)
        cls_file = Path(entry["classifier"]["file"]).with_suffix(".pt")
        shutil.copyfile(candidate / cls_file, classifier)
        training = {k: v for k, v in entry["training"].items() if k != "dataset"}
        new = release_model(
            checkpoint=detector,
            dataset=dataset,
            name=name,
            version=entry["version"],
            imgsz=int(entry["imgsz"]),
            weights_dir=candidate,
            training=training,
            classifier_checkpoint=classifier,
            classifier_imgsz=int(entry["classifier"]["imgsz"]),
        )
    command = f"freshproof models rerelease {candidate} --dataset {dataset}"
    if entry["training"].get("command"):
        command = f"{entry['training']['command']}\n{command}"
    (candidate / "MODEL_CARD.md").write_text(model_card(new, command=command))
    views = new["classifier"].get("views_on_val", {})
    typer.echo(
        json.dumps({"views_on_val": views, "test": new["metrics"]["test"]["image_level"]}, indent=2)
    )
