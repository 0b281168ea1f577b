"""Where training data lives by default, and what a command says when it is not there.

One place for the default dataset name: ``train``, ``release``, ``evaluate``, ``datasets
build`` and every ``models`` command default to the same built dataset, so the commands of
the README and the model card follow each other without a ``--dataset``. Imports nothing
heavy: the CLI reads these defaults when it starts.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from training.errors import MissingInputError, NoPoolsError

__all__ = [
    "DEFAULT_COMPOSITES",
    "DEFAULT_DATASET",
    "DEFAULT_POOLS",
    "DEFAULT_RUNS",
    "build_command",
    "require_built",
    "require_feedback",
    "require_pools",
]

DEFAULT_DATASET = Path("var/datasets/fp-v1")
"""The built dataset every shipped release since 0.2.1 was trained and judged on."""

DEFAULT_RUNS = Path("var/runs/fp-v1")
"""Where ``train`` writes its runs and ``release`` looks for them."""

DEFAULT_POOLS = Path("../shared/datasets")
"""The real photo pools (never committed), beside the repository as the product lays it out."""

DEFAULT_COMPOSITES = 1000
"""Cut-paste composites in train (a fifth as many in val and test) in ``fp-v1``."""


def build_command(dataset: Path = DEFAULT_DATASET, pools: Path | None = None) -> str:
    """The command that builds ``dataset`` as the shipped releases' was built."""
    args = ["freshproof", "datasets", "build", "--dataset", str(dataset)]
    args += ["--pools", str(pools or DEFAULT_POOLS)]
    return shlex.join(args)


def require_built(dataset: Path, splits: Iterable[str] = ("train", "val", "test")) -> None:
    """Raise ``MissingInputError`` naming the build command unless ``dataset`` is a build
    with its index (``samples.jsonl``) and images for every split in ``splits``."""
    needed = [dataset / "samples.jsonl", *(dataset / "images" / s for s in splits)]
    for path in needed:
        if not path.exists():
            missing = f"{path.relative_to(dataset)} is missing"
            if path.parent.name == "images":
                missing = f"split {path.name!r} is missing (images/{path.name})"
            if not dataset.is_dir():
                missing = "no such folder"
            raise MissingInputError("built dataset", dataset, missing, build_command(dataset))


def require_feedback(feedback: Path) -> None:
    """Raise ``MissingInputError`` unless ``feedback`` is an export (it has its manifest)."""
    if not (feedback / "manifest.json").is_file():
        missing = "manifest.json is missing" if feedback.is_dir() else "no such folder"
        command = shlex.join(["freshproof", "feedback", "export", str(feedback)])
        raise MissingInputError("feedback export", feedback, missing, command)


def require_pools(pools: Path) -> None:
    """Raise ``NoPoolsError`` unless ``pools`` holds at least one of the photo pools a
    build reads."""
    from training.pools import POOLS

    if not any((pools / name).is_dir() for name in POOLS):
        raise NoPoolsError(pools, sorted(POOLS))
