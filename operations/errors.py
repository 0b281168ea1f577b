"""The operations package's errors.

OperationsError
 └── InvalidWindowError   a window that is empty, reversed, or given in naive times
"""

from __future__ import annotations

__all__ = ["InvalidWindowError", "OperationsError"]


class OperationsError(Exception):
    """Root of the operations package's errors."""


class InvalidWindowError(OperationsError):
    """A reporting window or model setting that cannot be used."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")
