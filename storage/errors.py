"""Errors of the storage package; every one derives from ``StorageError``.

StorageError                      the store is misconfigured (e.g. a bucket without object lock)
├── StorageUnavailableError       the store could not be reached or refused the request (reason)
├── EvidenceNotFoundError         no evidence is stored under this SHA-256 (sha256, kind)
└── EvidenceIntegrityError        stored bytes do not hash to what they must (sha256, kind, found)

Backend client exceptions (minio, urllib3) never leave the package: callers see these.
"""

from __future__ import annotations

__all__ = [
    "EvidenceIntegrityError",
    "EvidenceNotFoundError",
    "StorageError",
    "StorageUnavailableError",
]


class StorageError(Exception):
    """Root of every error the storage package raises."""


class StorageUnavailableError(StorageError):
    """The object store could not be reached, timed out, or refused the request."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"evidence store unavailable: {reason}")


class EvidenceNotFoundError(StorageError):
    """Nothing is stored under this SHA-256."""

    def __init__(self, sha256: str, kind: str) -> None:
        self.sha256 = sha256
        self.kind = kind
        super().__init__(f"no {kind} evidence {sha256!r}")


class EvidenceIntegrityError(StorageError):
    """Stored bytes do not hash to the SHA-256 they are kept under: altered or corrupted."""

    def __init__(self, sha256: str, kind: str, found: str) -> None:
        self.sha256 = sha256
        self.kind = kind
        self.found = found
        super().__init__(f"{kind} evidence {sha256} now hashes to {found}")
