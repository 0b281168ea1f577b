"""Errors of the training package.

TrainingError
└── MissingInputError   a dataset or export a command needs is not there
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MissingInputError", "TrainingError"]


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
