"""``freshproof models promote``: ship a retrained release only when it measurably wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings

app = typer.Typer(help="Released models.", no_args_is_help=True)


@app.command()
def promote(
    candidate: Annotated[
        Path, typer.Argument(help="Folder a `release` wrote (FRESHPROOF_WEIGHTS_DIR=...).")
    ],
    dataset: Annotated[Path, typer.Option(help="A YOLO dataset built by `train`.")] = Path(
        "var/datasets/fp-v0"
    ),
    split: str = "test",
    name: str = "freshproof-detector",
    alpha: Annotated[float, typer.Option(help="Significance level of the paired test.")] = 0.05,
    dry_run: Annotated[bool, typer.Option(help="Compare only; change nothing.")] = False,
) -> None:
    """Judge the split with the shipped model and the candidate; install the candidate if it
    wins (exit 0), else leave the shipped model in place and record the refusal beside it
    (exit 1)."""
    from training.card import promotion_markdown, with_refusals
    from training.evaluate import collect
    from training.promote import compare_models, install, record_refusal
    from vision.predictor import Predictor

    weights_dir = Settings().weights_dir
    if not (dataset / "images" / split).is_dir():
        typer.echo(f"no split {split!r} under {dataset}", err=True)
        raise typer.Exit(2)
    shipped = Predictor.from_weights(weights_dir, name=name)
    challenger = Predictor.from_weights(candidate, name=name)
    verdict = compare_models(
        incumbent=collect(shipped, dataset, split),
        incumbent_thresholds=shipped.spec.thresholds,
        candidate=collect(challenger, dataset, split),
        candidate_thresholds=challenger.spec.thresholds,
        alpha=alpha,
    )
    typer.echo(json.dumps(verdict.as_dict(), indent=2))
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
    typer.echo(f"promoted {entry['version']} over {shipped.spec.version}", err=True)
