"""``freshproof datasets build``: the YOLO dataset every training command reads, from the pools.

Also the checks the other training commands run first, so a dataset or photo pool that is
not there is one line naming the command that makes it (exit 2), not a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from training import layout as training_layout
from training.errors import MissingInputError, NoPoolsError, TrainingError
from training.layout import DEFAULT_COMPOSITES, DEFAULT_DATASET, DEFAULT_POOLS, require_built

__all__ = ["app", "check_built", "require_pools"]

app = typer.Typer(help="Training datasets built from the real photo pools.", no_args_is_help=True)


def fail(exc: TrainingError) -> typer.Exit:
    """Say what is missing and how to make it, on stderr; the exit (2) to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def check_built(dataset: Path, splits: Iterable[str] = ("train", "val", "test")) -> None:
    """Exit 2 naming ``freshproof datasets build`` unless ``dataset`` is built with ``splits``."""
    try:
        require_built(dataset, splits)
    except MissingInputError as exc:
        raise fail(exc) from exc


def require_pools(pools: Path) -> None:
    """Exit 2 unless ``pools`` holds at least one of the photo pools a build reads."""
    try:
        training_layout.require_pools(pools)
    except NoPoolsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def build(
    pools: Annotated[
        Path, typer.Option(help="Folder of the real photo pools (never committed).")
    ] = DEFAULT_POOLS,
    dataset: Annotated[Path, typer.Option(help="Where the YOLO dataset is written.")] = (
        DEFAULT_DATASET
    ),
    composites: Annotated[
        int, typer.Option(help="Cut-paste composites: N in train, N/5 in val and in test.")
    ] = DEFAULT_COMPOSITES,
) -> None:
    """Build the dataset the shipped releases were trained and judged on (splits by original
    photo, as listed in datasets/splits/; about 3 minutes and 210 MB on 2 cores)."""
    from training.datasets import build_dataset

    require_pools(pools)
    per_split = (
        {"train": composites, "val": composites // 5, "test": composites // 5}
        if composites > 0
        else None
    )
    report = build_dataset(pools_dir=pools, out=dataset, composites_per_split=per_split)
    typer.echo(json.dumps(report.as_dict()))
    typer.echo(f"built {dataset}", err=True)
