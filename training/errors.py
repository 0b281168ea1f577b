"""Errors of the training package.

TrainingError
├── MissingInputError   a dataset or export a command needs is not there
├── NoPoolsError        a dataset build finds none of the photo pools it reads
├── NoClassifierError   a release to re-release has no classifier
└── UnknownTrainingDataError  a release learned from a feedback export that is not here
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "MissingInputError",
    "NoClassifierError",
    "NoPoolsError",
    "TrainingError",
    "UnknownTrainingDataError",
]


class TrainingError(Exception):
    """Root of the training package's errors."""


class MissingInputError(TrainingError):
    """``what`` is not at ``path`` (``missing`` says which part is not); ``command`` makes it."""

    def __init__(self, what: str, path: Path, missing: str, command: str) -> None:
        self.what = what
        self.path = path
        self.missing = missing
        self.command = command
        super().__init__(f"no {what} at {path}: {missing}; make it with: {command}")


class NoPoolsError(TrainingError):
    """None of the photo pools ``looked_for`` is under ``pools``."""

    def __init__(self, pools: Path, looked_for: list[str]) -> None:
        self.pools = pools
        self.looked_for = looked_for
        super().__init__(
            f"no photo pools under {pools} (looked for {', '.join(looked_for)}); "
            "pass --pools with the folder of the real photo pools (../shared/datasets beside "
            "the repository; see its README.md)"
        )


class NoClassifierError(TrainingError):
    """The release ``name`` ``version`` in ``folder`` has no classifier."""

    def __init__(self, folder: Path, name: str, version: str) -> None:
        self.folder, self.name, self.version = folder, name, version
        super().__init__(f"{folder}: {name} {version} has no classifier")


class UnknownTrainingDataError(TrainingError):
    """Release ``name`` ``version`` was retrained on the feedback export at ``export``, which
    cannot be read: which of people's photos it learned from cannot be told, so none may
    count as held out."""

    def __init__(self, name: str, version: str, export: str) -> None:
        self.name, self.version, self.export = name, version, export
        super().__init__(
            f"{name} {version} was retrained on the feedback export at {export}, which is not "
            "there: its photos cannot be told apart from held-out ones; restore that export "
            "(its manifest.json is enough) before counting people's decisions"
        )
