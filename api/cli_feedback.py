"""``freshproof feedback ...``: adjudicated evidence as a training set, and Label Studio back.

Both read the configured evidence store; ``export`` reads the configured database too, and
never writes to it (a database not at the code's migration revision is refused, not
upgraded).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings
from storage.evidence import EvidenceStore
from training.feedback import ExportManifest
from vision.errors import FeedbackError
from vision.labelled import LabelledPhoto

app = typer.Typer(
    help="Training data from people's decisions: a YOLO dataset, Label Studio tasks.",
    no_args_is_help=True,
)

VersionOption = Annotated[
    str | None,
    typer.Option(help="The dataset's version, written in its manifest; default from its inputs."),
]
ValFraction = Annotated[
    float, typer.Option(min=0.0, max=0.95, help="Share of photos in val (by photo hash).")
]


def _store(settings: Settings) -> EvidenceStore:
    """The configured evidence store (local folder or S3), as the service opens it."""
    from api.services import _make_evidence_store

    return _make_evidence_store(settings)


def _report(manifest: ExportManifest) -> None:
    """The manifest's hash (the dataset's identity) on the first line, then the counts."""
    counts = manifest.counts
    typer.echo(f"manifest sha256:{manifest.sha256}")
    typer.echo(f"version {manifest.version}: {counts['photos']} photo(s) in {manifest.path}")
    for split, c in counts["detection"].items():
        boxes = ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("images", "negatives"))
        typer.echo(
            f"  detection {split}: {c['images']} image(s), {c['negatives']} negative(s); "
            f"boxes: {boxes}"
        )
    for split, c in counts["classifier"].items():
        typer.echo(f"  classifier {split}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    typer.echo("  sources: " + (", ".join(f"{k} {v}" for k, v in counts["sources"].items()) or "-"))
    for sha in manifest.missing:
        typer.echo(f"missing from the evidence store, left out: {sha}", err=True)


def _export(
    photos: list[LabelledPhoto],
    out: Path,
    *,
    settings: Settings,
    version: str,
    val_fraction: float,
    url: str | None,
) -> None:
    from training.feedback import export_yolo

    try:
        manifest = export_yolo(
            photos,
            _store(settings),
            out,
            version=version,
            val_fraction=val_fraction,
            label_studio_url=url,
        )
    except FeedbackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _report(manifest)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder for the dataset.")],
    version: VersionOption = None,
    label_studio: Annotated[
        bool, typer.Option(help="Also write Label Studio tasks and their labeling config.")
    ] = False,
    image_url_prefix: Annotated[
        str | None,
        typer.Option(
            help="Label Studio: put before each image's path in the export to make its URL "
            "(implies --label-studio)."
        ),
    ] = None,
    val_fraction: ValFraction = 0.2,
) -> None:
    """Export decided claims' photos and station items people graded as a YOLO dataset.

    Default version: ``ledger-<N>``, N the newest decision behind an example.
    """
    from api.database import prepare_database
    from cases.feedback import gather_feedback
    from storage.db import make_engine
    from storage.errors import SchemaError

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        prepare_database(engine, auto_upgrade=False)
        feedback = gather_feedback(engine)
    except SchemaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    for s in feedback.skipped:
        typer.echo(f"skipped {s.source}: {s.reason}", err=True)
    indices = [p.ledger_index for p in feedback.photos if p.ledger_index is not None]
    url = image_url_prefix if image_url_prefix is not None else "" if label_studio else None
    _export(
        list(feedback.photos),
        out,
        settings=settings,
        version=version or (f"ledger-{max(indices)}" if indices else "empty"),
        val_fraction=val_fraction,
        url=url,
    )


@app.command("import-label-studio")
def import_label_studio(
    tasks: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A Label Studio JSON export.")
    ],
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder for the dataset.")],
    version: VersionOption = None,
    val_fraction: ValFraction = 0.2,
) -> None:
    """Turn annotated Label Studio tasks into a YOLO dataset, images from the evidence store.

    Default version: ``label-studio-<first 12 hex of the export file's SHA-256>``.
    """
    from training.label_studio import from_label_studio

    raw = tasks.read_bytes()
    try:
        photos = from_label_studio(json.loads(raw))
    except (ValueError, FeedbackError) as exc:  # JSONDecodeError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _export(
        photos,
        out,
        settings=Settings(),
        version=version or f"label-studio-{hashlib.sha256(raw).hexdigest()[:12]}",
        val_fraction=val_fraction,
        url=None,
    )
