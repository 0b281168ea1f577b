"""Errors of the storage package; every one derives from ``StorageError``.

StorageError                      the store is misconfigured (e.g. a bucket without object lock)
├── StorageUnavailableError       the store could not be reached or refused the request (reason)
├── EvidenceNotFoundError         no evidence is stored under this SHA-256 (sha256, kind)
├── EvidenceIntegrityError        stored bytes do not hash to what they must (sha256, kind, found)
└── SchemaError                   the database's schema is not this code's (found, expected)
    ├── UnmigratedDatabaseError   empty, unversioned or behind, and not to be upgraded here
    └── UnknownRevisionError      at a revision this code does not know: newer code migrated it

Backend client exceptions (minio, urllib3) never leave the package: callers see these.
"""

from __future__ import annotations

__all__ = [
    "EvidenceIntegrityError",
    "EvidenceNotFoundError",
    "SchemaError",
    "StorageError",
    "StorageUnavailableError",
    "UnknownRevisionError",
    "UnmigratedDatabaseError",
]


class StorageError(Exception):
    """Root of every error the storage package raises."""


class StorageUnavailableError(StorageError):
    """The object store could not be reached, timed out, or refused the request.

    ``retry_after``: seconds a client should wait before trying again (``Retry-After``).
    """

    def __init__(self, reason: str, *, retry_after: int = 5) -> None:
        self.reason = reason
        self.retry_after = retry_after
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


class SchemaError(StorageError):
    """The database's schema is not the one this code runs on.

    ``found`` is the database's migration revision (None: it has none), ``expected`` the
    code's head revision; the message says what to run.
    """

    def __init__(self, found: str | None, expected: str, message: str) -> None:
        self.found = found
        self.expected = expected
        super().__init__(message)


class UnmigratedDatabaseError(SchemaError):
    """Empty, without a revision, or at an older one, and nothing here may upgrade it.

    ``differences`` lists how an unversioned database's tables differ from the models,
    when that is why it was not adopted (empty otherwise).
    """

    def __init__(
        self, found: str | None, expected: str, reason: str, differences: tuple[str, ...] = ()
    ) -> None:
        self.reason = reason
        self.differences = differences
        super().__init__(found, expected, reason)


class UnknownRevisionError(SchemaError):
    """The database is at a revision this code does not know: a newer release migrated it."""

    def __init__(self, found: str, expected: str) -> None:
        super().__init__(
            found,
            expected,
            f"the database is at migration revision {found}, which this code does not know "
            f"(its newest is {expected}): a newer freshproof migrated it. Run that release, "
            f"or with it `freshproof db downgrade {expected}`.",
        )
