"""The ``freshproof`` command line: serve, predict, train, evaluate, ledger, keys, db."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from api import (
    cli_datasets,
    cli_db,
    cli_dossier,
    cli_events,
    cli_evidence,
    cli_export,
    cli_feedback,
    cli_keys,
    cli_ledger,
    cli_models,
)
from api.settings import Settings
from training.layout import DEFAULT_COMPOSITES, DEFAULT_DATASET, DEFAULT_POOLS, DEFAULT_RUNS

app = typer.Typer(
    help="freshproof: photo evidence and traceability for fresh-food claims.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cli_ledger.app, name="ledger")
app.add_typer(cli_events.app, name="events")
app.add_typer(cli_models.app, name="models")
app.add_typer(cli_datasets.app, name="datasets")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_dossier.app, name="dossier")
app.add_typer(cli_db.app, name="db")
app.add_typer(cli_feedback.app, name="feedback")
app.add_typer(cli_evidence.app, name="evidence")
app.add_typer(cli_export.app, name="export")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the configured settings.

    The server closes connections whose request head or body stalls, sheds connections past
    its cap, and logs a repeated warning once with a count (api/http_server.py).
    """
    from api.app import create_app
    from api.http_server import GuardedServer, server_config
    from api.log_repeats import RepeatFilter
    from storage.errors import SchemaError

    settings = Settings()
    try:
        app = create_app(settings)
    except SchemaError as exc:  # not migrated, or migrated by a newer release
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    # First start: an admin key, written once to the data dir (0600); the README uses it.
    created = app.state.services.keys.bootstrap_admin(settings.data_dir)
    if created is not None:
        typer.echo(
            f"No admin API key existed: created one. It is in {created} (mode 0600); "
            "use it as 'Authorization: Bearer <key>' and create other keys with it.",
            err=True,
        )
    repeats = RepeatFilter(settings.log_repeat_window_seconds)
    try:
        config = server_config(app, settings, host=host, port=port, repeats=repeats)
        GuardedServer(config, repeats).run()
    finally:
        repeats.flush()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Batches graded at once in this worker.")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    name: Annotated[
        str | None,
        typer.Option(help="Celery node name; default freshproof-<pid>@<host>, unique per process."),
    ] = None,
) -> None:
    """Run a Celery worker that grades queued station batches (the API with FRESHPROOF_TASKS=celery).

    Broker and results from FRESHPROOF_BROKER_URL (RabbitMQ) and FRESHPROOF_RESULT_BACKEND
    (Redis); the database and evidence store are the API's (same settings).
    """
    from api.worker import celery_app, warm

    settings = Settings()
    argv = worker_argv(concurrency=concurrency, loglevel=loglevel, name=name)
    if concurrency == 1:
        warm(settings)  # the model is loaded before the first batch, not during it
    celery_app(settings).worker_main(argv)


def worker_argv(*, concurrency: int, loglevel: str, name: str | None) -> list[str]:
    """The Celery worker's command line: one pool thread for one batch at a time (the model
    loaded once, in this process), prefork for more."""
    # One thread, not Celery's solo pool: a solo task runs on the event loop's own thread,
    # and its late ack is queued for the loop's next turn, which can first sleep in poll until
    # a timer is due (1 s; 10 s with heartbeats off), while the broker, at prefetch 1, keeps
    # the next batch until that ack. bench/stations.py saw the third batch after a start
    # picked up 0.9-1.6 s after it was queued, the worker idle and RabbitMQ holding it
    # (1 ready, 1 unacked), in every solo run; an ack from a pool thread wakes the loop.
    pool = "threads" if concurrency == 1 else "prefork"
    return [
        "worker",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--pool={pool}",
        # Gossip (worker-to-worker events) and mingle (asking other workers at start for
        # revoked task ids): nothing here uses either. With the solo pool, both lengthened
        # the stall above (each a timer the loop waited on).
        "--without-gossip",
        "--without-mingle",
        # Two workers on one host under Celery's default name fight over its control
        # queue and the second dies (RESOURCE_LOCKED); each process gets its own.
        f"--hostname={name or f'freshproof-{os.getpid()}@%h'}",
    ]


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Photos to judge.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    weights: Annotated[Path | None, typer.Option(help="Folder with manifest.json.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name from the manifest.")] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="auto (the faster runtime here), onnxruntime or openvino; default from settings."
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="f32, bf16 (openvino) or auto (bf16 where clearly faster here); default from "
            "settings."
        ),
    ] = None,
    family: Annotated[
        str | None,
        typer.Option(
            help="What the photos show (produce, parcel, can, pouch), when known: a release's "
            "packaging classifier judges only the families it names."
        ),
    ] = None,
) -> None:
    """Judge photos with the shipped model; exits 1 if any file could not be judged.

    Exits 2 without judging anything when the model or its runtime cannot be loaded.
    """
    from vision.errors import ImageRejected, ModelError
    from vision.operating import FAMILIES
    from vision.predictor import Predictor

    if family is not None and family not in FAMILIES:
        typer.echo(f"error: unknown family {family!r} (known: {', '.join(FAMILIES)})", err=True)
        raise typer.Exit(2)
    settings = Settings()
    if (
        backend is not None
        and precision is None
        and ("inference_precision" not in settings.model_fields_set)
    ):  # the chosen backend's own default, as the settings give one (onnxruntime: f32)
        default = Settings.model_fields["inference_precision"].default
        precision = "f32" if backend == "onnxruntime" else default
    try:
        predictor = Predictor.from_weights(
            weights or settings.weights_dir,
            name=model or settings.model_name,
            backend=backend or settings.inference_backend,
            precision=precision or settings.inference_precision,
            threads=settings.inference_threads,
            limits=settings.image_limits,
            quality=settings.quality_thresholds,
        )
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    failed = False
    for path in images:
        try:
            result = predictor.try_inspect(path.read_bytes(), image=str(path), family=family)
        except OSError as exc:
            result = ImageRejected(f"cannot read the file: {exc.strerror or exc}")
        if isinstance(result, ImageRejected):
            failed = True
            line = {"image": str(path), "error": result.reason}
            typer.echo(json.dumps(line) if as_json else f"{path}: ERROR {result.reason}")
            continue
        if as_json:
            typer.echo(json.dumps(result.as_dict()))
        elif not result.quality.ok:
            typer.echo(
                f"{path}: cannot judge: " + "; ".join(i.message for i in result.quality.issues)
            )
        else:
            found = ", ".join(f"{f.label} {f.confidence:.2f}" for f in result.findings)
            typer.echo(f"{path}: {found or 'no defect found'}")
    raise typer.Exit(1 if failed else 0)


@app.command()
def train(
    pools: Annotated[Path, typer.Option(help="Folder of the real photo pools.")] = DEFAULT_POOLS,
    dataset: Annotated[
        Path, typer.Option(help="The YOLO dataset (`datasets build`; built here if absent).")
    ] = DEFAULT_DATASET,
    out: Annotated[Path, typer.Option(help="Training runs folder.")] = DEFAULT_RUNS,
    imgsz: int = 320,
    epochs: int = 60,
    hours: Annotated[float | None, typer.Option(help="Time budget; overrides epochs.")] = None,
    batch: int = 32,
    device: str = "cpu",
    cap: Annotated[
        list[str] | None,
        typer.Option(help="POOL=N: train on at most N images of a pool (CPU budgets)."),
    ] = None,
    warmup_epochs: float = 3.0,
    close_mosaic: int = 10,
    classifier_hours: Annotated[
        float | None,
        typer.Option(help="Also train the condition classifier for this long (hours)."),
    ] = None,
    classifier_imgsz: int = 128,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the dataset first.")] = False,
    composites: Annotated[
        int | None,
        typer.Option(
            help="Cut-paste composites per build: N in train, N/5 in val and test "
            f"(only when the dataset is built; default {DEFAULT_COMPOSITES})."
        ),
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(
            help="Export, pick thresholds on val, evaluate on test, write weights/ as this version."
        ),
    ] = None,
    name: str = "freshproof-detector",
    detector_from: Annotated[
        Path | None,
        typer.Option(help="Go on from this detector checkpoint (.pt) instead of from scratch."),
    ] = None,
    classifier_from: Annotated[
        Path | None,
        typer.Option(help="Go on from this classifier checkpoint (.pt) instead of from scratch."),
    ] = None,
) -> None:
    """Build the dataset from the pools and train a detector (needs the train extra).

    With --detector-from/--classifier-from (e.g. the shipped ``weights/*.pt``) training
    continues from a released model: how the retraining loop fine-tunes, and how a CPU
    spends a second time budget without starting over.
    """
    from training.errors import NoPoolsError
    from training.pipeline import train_and_release

    try:
        entry = train_and_release(
            pools=pools,
            dataset=dataset,
            out=out,
            weights_dir=Settings().weights_dir,
            command=shlex.join(["freshproof", *sys.argv[1:]]),
            imgsz=imgsz,
            epochs=epochs,
            hours=hours,
            batch=batch,
            device=device,
            caps={k: int(v) for k, v in (c.split("=", 1) for c in cap)} if cap else None,
            warmup_epochs=warmup_epochs,
            close_mosaic=close_mosaic,
            classifier_hours=classifier_hours,
            classifier_imgsz=classifier_imgsz,
            rebuild=rebuild,
            composites=composites,
            release=release,
            name=name,
            detector_from=detector_from,
            classifier_from=classifier_from,
            log=typer.echo,
            warn=lambda line: typer.echo(line, err=True),
        )
    except NoPoolsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if entry is not None:
        typer.echo(json.dumps(entry["metrics"], indent=2))


@app.command("release")
def release_cmd(
    version: Annotated[str, typer.Argument(help="Version to write into weights/.")],
    detector_run: Annotated[
        Path, typer.Option(help="A finished `train` detector run.")
    ] = DEFAULT_RUNS / "train",
    classifier_run: Annotated[
        Path | None, typer.Option(help="Its classifier run, if one was trained.")
    ] = DEFAULT_RUNS.with_name(DEFAULT_RUNS.name + "-cls") / "train",
    dataset: Annotated[
        Path, typer.Option(help="The dataset both were trained on.")
    ] = DEFAULT_DATASET,
    name: str = "freshproof-detector",
    train_command: Annotated[
        str | None, typer.Option(help="The `freshproof train` command that made the runs.")
    ] = None,
) -> None:
    """Release already-trained runs (what `train --release` does after training)."""
    from training.pipeline import release_runs

    command = shlex.join(["freshproof", *sys.argv[1:]])
    entry = release_runs(
        detector_run=detector_run,
        classifier_run=classifier_run,
        dataset=dataset,
        name=name,
        version=version,
        weights_dir=Settings().weights_dir,
        command=f"{train_command}\n{command}" if train_command else command,
    )
    typer.echo(json.dumps(entry["metrics"], indent=2))


@app.command()
def evaluate(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="A YOLO dataset built by `train`, or a folder of class folders "
            "(<label>/ or clean/ with photos; --split is then ignored)."
        ),
    ] = DEFAULT_DATASET,
    split: str = "test",
    weights: Annotated[Path | None, typer.Option(help="Folder with manifest.json.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name from the manifest.")] = None,
    write_manifest: Annotated[
        bool, typer.Option(help="Store the figures in the manifest under metrics.<split>.")
    ] = False,
    ablation: Annotated[
        bool,
        typer.Option(
            help="Also measure the detector alone and the classifier alone (thresholds on val, "
            "figures on the split); stored under metrics.ablation with --write-manifest."
        ),
    ] = False,
) -> None:
    """Measure the shipped model on a held-out split, exactly as it serves."""
    from training.evaluate import collect, evaluate_records
    from training.folders import collect_folders, is_class_folder_dataset
    from training.release import store_metrics
    from vision.predictor import Predictor

    folders = is_class_folder_dataset(dataset)
    if not folders:
        cli_datasets.check_built(dataset, [split, "val"] if ablation else [split])
    settings = Settings()
    weights_dir = weights or settings.weights_dir
    predictor = Predictor.from_weights(weights_dir, name=model or settings.model_name)
    if folders:
        if ablation:
            typer.echo("--ablation needs a YOLO dataset with a val split", err=True)
            raise typer.Exit(2)
        try:
            records = collect_folders(predictor, dataset)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        metrics = evaluate_records(
            records, predictor.spec.labels, predictor.spec.thresholds, boxes=False
        )
        typer.echo(json.dumps(metrics, indent=2))
        if write_manifest:
            store_metrics(
                weights_dir=weights_dir,
                spec=predictor.spec,
                split=f"folders:{dataset.resolve().name}",
                metrics=metrics,
            )
        return
    records = collect(predictor, dataset, split)
    metrics = evaluate_records(records, predictor.spec.labels, predictor.spec.thresholds)
    typer.echo(json.dumps(metrics, indent=2))
    if write_manifest:
        store_metrics(weights_dir=weights_dir, spec=predictor.spec, split=split, metrics=metrics)
    if ablation:
        from training.ablation import ablation as measure_parts

        val = collect(predictor, dataset, "val")
        parts = {"split": split, **measure_parts(val, records, predictor.spec.labels)}
        for name, part in parts.items():
            if isinstance(part, dict):
                groups = ", ".join(
                    f"{g} {v['accuracy']}" for g, v in part["groups"].items() if v["images"]
                )
                typer.echo(f"{name}: accuracy {part['image_level']['accuracy']} ({groups})")
        if write_manifest:
            store_metrics(
                weights_dir=weights_dir, spec=predictor.spec, split="ablation", metrics=parts
            )


def main() -> None:
    """Entry point for ``python -m api.cli``."""
    app(prog_name="freshproof")


if __name__ == "__main__":
    main()
