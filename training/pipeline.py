"""Train → summarise → release → card: the one pipeline behind ``train``, ``release``,
``models retrain`` and ``models rerelease``.

Each step is a function, so a release made right after training, one made later from the
runs' own records, a retraining's candidate and a re-release of a candidate all summarise
their runs, release and write the model card the same way. Heavy imports (torch,
ultralytics) happen inside the steps that train or export.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.errors import NoClassifierError
from training.layout import DEFAULT_COMPOSITES, require_pools

__all__ = [
    "release_runs",
    "release_with_card",
    "rerelease",
    "summarise_run",
    "train_and_release",
]


def summarise_run(
    *, run_dir: Path, kind: str, seconds: float, imgsz: int, batch: int, source: str
) -> dict[str, Any]:
    """A training run as the manifest records it: its summary and what it started from."""
    from training.summary import run_summary

    summary = run_summary(run_dir=run_dir, kind=kind, seconds=seconds, imgsz=imgsz, batch=batch)
    return summary | {"from": source}


def release_with_card(
    *,
    detector: Path,
    classifier: Path | None,
    dataset: Path,
    name: str,
    version: str,
    imgsz: int,
    classifier_imgsz: int,
    weights_dir: Path,
    training: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    """Export, calibrate, pick thresholds, measure test, write the manifest and the card;
    returns the manifest entry."""
    from training.card import model_card
    from training.release import release_model

    entry = release_model(
        checkpoint=detector,
        dataset=dataset,
        name=name,
        version=version,
        imgsz=imgsz,
        weights_dir=weights_dir,
        training=training,
        classifier_checkpoint=classifier,
        classifier_imgsz=classifier_imgsz,
    )
    # The card carries the exact command that produced it, so the release is reproducible.
    (weights_dir / "MODEL_CARD.md").write_text(model_card(entry, command=command))
    return entry


def release_runs(
    *,
    detector_run: Path,
    classifier_run: Path | None,
    dataset: Path,
    name: str,
    version: str,
    weights_dir: Path,
    command: str,
) -> dict[str, Any]:
    """Release from the runs' own records (freshproof_train.json, results.csv), so a release
    right after training and a later one describe the runs identically."""
    det = json.loads((detector_run / "freshproof_train.json").read_text())
    det_args = det["args"]
    training: dict[str, Any] = {
        "seconds": round(det["seconds"]),
        "hardware": det["hardware"],
        "args": det_args,
        "detector": summarise_run(
            run_dir=detector_run,
            kind="detector",
            seconds=det["seconds"],
            imgsz=int(det_args["imgsz"]),
            batch=int(det_args["batch"]),
            source=det_args.get("model", "yolo11n.yaml"),
        ),
    }
    classifier, classifier_imgsz = None, 128
    if classifier_run is not None:
        cls = json.loads((classifier_run / "freshproof_train.json").read_text())
        classifier, classifier_imgsz = (
            classifier_run / "weights" / "best.pt",
            int(cls["args"]["imgsz"]),
        )
        training["classifier"] = summarise_run(
            run_dir=classifier_run,
            kind="classifier",
            seconds=cls["seconds"],
            imgsz=classifier_imgsz,
            batch=int(cls["args"]["batch"]),
            source=cls["args"].get("model", "yolo11n-cls.yaml"),
        )
    return release_with_card(
        detector=detector_run / "weights" / "best.pt",
        classifier=classifier,
        dataset=dataset,
        name=name,
        version=version,
        imgsz=int(det_args["imgsz"]),
        classifier_imgsz=classifier_imgsz,
        weights_dir=weights_dir,
        training=training,
        command=command,
    )


def train_and_release(
    *,
    pools: Path,
    dataset: Path,
    out: Path,
    weights_dir: Path,
    command: str,
    imgsz: int = 320,
    epochs: int = 60,
    hours: float | None = None,
    batch: int = 32,
    device: str = "cpu",
    caps: dict[str, int] | None = None,
    warmup_epochs: float = 3.0,
    close_mosaic: int = 10,
    classifier_hours: float | None = None,
    classifier_imgsz: int = 128,
    rebuild: bool = False,
    composites: int | None = None,
    release: str | None = None,
    name: str = "freshproof-detector",
    detector_from: Path | None = None,
    classifier_from: Path | None = None,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Build the dataset if needed, train the detector (and the classifier when it has
    hours), and with ``release`` release both into ``weights_dir``; returns the release's
    manifest entry, or None without ``release``.

    ``log`` gets the progress lines (the build report, each run's result); ``warn`` what
    was asked for but not done. Raises NoPoolsError when a build finds no photo pools.
    """
    from training.datasets import build_dataset, capped_train_yaml
    from training.train import train_detector

    if rebuild or not (dataset / "data.yaml").exists():
        require_pools(pools)
        n = DEFAULT_COMPOSITES if composites is None else composites
        per_split = {"train": n, "val": n // 5, "test": n // 5} if n > 0 else None
        report = build_dataset(pools_dir=pools, out=dataset, composites_per_split=per_split)
        log(json.dumps(report.as_dict()))
    elif composites is not None:
        # An existing dataset is trained as built; silently ignoring the option would let a
        # run claim composites it never saw.
        warn(f"--composites ignored: {dataset} exists; add --rebuild")
    data = dataset / "data.yaml"
    if caps:
        data = capped_train_yaml(dataset, caps)
    result = train_detector(
        data=data,
        out_dir=out,
        model=str(detector_from) if detector_from else "yolo11n.yaml",
        imgsz=imgsz,
        epochs=epochs,
        hours=hours,
        batch=batch,
        device=device,
        warmup_epochs=warmup_epochs,
        close_mosaic=close_mosaic,
    )
    log(f"trained in {result.seconds:.0f} s on {result.hardware}: {result.best}")
    classifier = None
    if classifier_hours:
        from training.classify import build_cls_dataset, train_classifier

        cls_data = dataset.with_name(dataset.name + "-cls")
        build_cls_dataset(
            dataset=dataset, out=cls_data, train_list=dataset / "train-capped.txt" if caps else None
        )
        classifier, seconds = train_classifier(
            data=cls_data,
            out_dir=out.with_name(out.name + "-cls"),
            imgsz=classifier_imgsz,
            hours=classifier_hours,
            model=str(classifier_from) if classifier_from else "yolo11n-cls.yaml",
        )
        log(f"classifier trained in {seconds:.0f} s: {classifier}")
    if not release:
        return None
    return release_runs(
        detector_run=result.run_dir,
        classifier_run=classifier.parent.parent if classifier else None,
        dataset=dataset,
        name=name,
        version=release,
        weights_dir=weights_dir,
        command=command,
    )


def rerelease(*, candidate: Path, dataset: Path, name: str) -> dict[str, Any]:
    """Release a candidate's own checkpoints again, as the release procedure stands now,
    without training; its training record is kept as it was. Returns the new entry.

    Raises NoClassifierError when the candidate's newest entry of ``name`` has none.
    """
    from vision.registry import load_manifest

    entry = next(m for m in reversed(load_manifest(candidate)["models"]) if m["name"] == name)
    if entry.get("classifier") is None:
        raise NoClassifierError(candidate, name, entry["version"])
    command = f"freshproof models rerelease {candidate} --dataset {dataset}"
    if entry["training"].get("command"):
        command = f"{entry['training']['command']}\n{command}"
    with tempfile.TemporaryDirectory(prefix="fp-rerelease-") as tmp:
        # Copies: the release writes its files (and its checkpoints) where these now lie.
        detector = Path(tmp) / "detector.pt"
        classifier = Path(tmp) / "classifier.pt"
        shutil.copyfile(candidate / Path(entry["file"]).with_suffix(".pt"), detector)
        cls_file = Path(entry["classifier"]["file"]).with_suffix(".pt")
        shutil.copyfile(candidate / cls_file, classifier)
        training = {k: v for k, v in entry["training"].items() if k != "dataset"}
        return release_with_card(
            detector=detector,
            classifier=classifier,
            dataset=dataset,
            name=name,
            version=entry["version"],
            imgsz=int(entry["imgsz"]),
            classifier_imgsz=int(entry["classifier"]["imgsz"]),
            weights_dir=candidate,
            training=training,
            command=command,
        )
