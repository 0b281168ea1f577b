"""Errors raised by the ledger; every one derives from `LedgerError` and carries its facts.

Hierarchy::

    LedgerError
    ├── CanonicalJSONError            a value cannot be written as RFC 8785 canonical JSON
    ├── InvalidEntryError             an entry field (e.g. kind) is not acceptable
    ├── InvalidIndexError             an index or tree size is out of the allowed range
    ├── MissingNodeError              the hash store lacks a node the tree needs
    ├── ProofError                    a Merkle proof does not verify (RFC 9162 §2.1.3/§2.1.4)
    │   ├── RootMismatchError         the recomputed root differs from the expected one
    │   ├── ProofSizeError            the proof has too many or too few hashes
    │   └── MalformedHashError        a hash is not 32 bytes long
    ├── CheckpointError               checkpoint / signed-note problems
    │   ├── CheckpointFormatError     the note or a key string cannot be parsed
    │   ├── SignatureError            no valid signature by the expected key
    │   └── InconsistentCheckpointError  a new checkpoint would fork from the last one
    └── AuditError                    stored data disagrees with what it must be
        ├── ChainBrokenError          an entry is missing or its prev link is wrong
        ├── TamperedEntryError        a stored entry's bytes or columns were altered
        ├── TamperedNodeError         a stored tree node differs from the recomputed one
        └── TamperedCheckpointError   a stored checkpoint does not match the recomputed tree
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "CanonicalJSONError",
    "ChainBrokenError",
    "CheckpointError",
    "CheckpointFormatError",
    "InconsistentCheckpointError",
    "InvalidEntryError",
    "InvalidIndexError",
    "LedgerError",
    "MalformedHashError",
    "MissingNodeError",
    "ProofError",
    "ProofSizeError",
    "RootMismatchError",
    "SignatureError",
    "TamperedCheckpointError",
    "TamperedEntryError",
    "TamperedNodeError",
]


class LedgerError(Exception):
    """Root of every error the ledger package raises."""


class CanonicalJSONError(LedgerError):
    """A value cannot be serialised as RFC 8785 canonical JSON."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not canonicalisable as RFC 8785 JSON: {reason}")


class InvalidEntryError(LedgerError):
    """An entry field is not acceptable (e.g. an empty kind)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid entry {field}: {reason}")


class InvalidIndexError(LedgerError):
    """An index or tree size lies outside the range the operation allows."""

    def __init__(self, what: str, value: int, reason: str) -> None:
        self.what = what
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {what}={value}: {reason}")


class MissingNodeError(LedgerError):
    """The hash store has no node at (level, index)."""

    def __init__(self, level: int, index: int) -> None:
        self.level = level
        self.index = index
        super().__init__(f"hash store has no node at level={level} index={index}")


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof does not verify."""


class RootMismatchError(ProofError):
    """The root recomputed from a proof differs from the expected root."""

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(f"calculated root {calculated.hex()} != expected root {expected.hex()}")


class ProofSizeError(ProofError):
    """The proof holds a different number of hashes than the tree shape requires."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"proof has {actual} hashes, the tree shape requires {expected}")


class MalformedHashError(ProofError):
    """A hash that must be a 32-byte SHA-256 digest has another length."""

    def __init__(self, what: str, length: int) -> None:
        self.what = what
        self.length = length
        super().__init__(f"{what} is {length} bytes, expected 32")


class CheckpointError(LedgerError):
    """A checkpoint or signed note cannot be produced, parsed or trusted."""


class CheckpointFormatError(CheckpointError):
    """A note, checkpoint body or key string is malformed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed checkpoint or key: {reason}")


class SignatureError(CheckpointError):
    """The note carries no valid signature by the expected key."""

    def __init__(self, key_name: str, reason: str) -> None:
        self.key_name = key_name
        self.reason = reason
        super().__init__(f"signature by {key_name!r}: {reason}")


class InconsistentCheckpointError(CheckpointError):
    """A new checkpoint would not be an append-only extension of the last signed one."""

    def __init__(self, previous_size: int, size: int, reason: str) -> None:
        self.previous_size = previous_size
        self.size = size
        self.reason = reason
        super().__init__(
            f"checkpoint at size {size} is inconsistent with the last one at size "
            f"{previous_size}: {reason}"
        )


class AuditError(LedgerError):
    """Stored ledger data disagrees with what recomputation says it must be."""


class ChainBrokenError(AuditError):
    """The hash chain breaks at an index: a missing entry or a wrong prev link."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"hash chain broken at index {index}: {reason}")


class TamperedEntryError(AuditError):
    """The stored entry at an index was altered."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"entry {index} was tampered with: {reason}")


class TamperedNodeError(AuditError):
    """A stored tree node is missing, extra, or differs from the recomputed hash."""

    def __init__(self, level: int, index: int, reason: str) -> None:
        self.level = level
        self.index = index
        self.reason = reason
        super().__init__(f"tree node level={level} index={index}: {reason}")


class TamperedCheckpointError(AuditError):
    """A stored checkpoint does not match the recomputed tree or its signature."""

    def __init__(self, seq: int, size: int, reason: str) -> None:
        self.seq = seq
        self.size = size
        self.reason = reason
        super().__init__(f"checkpoint #{seq} (size {size}): {reason}")
