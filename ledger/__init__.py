"""Tamper-evident ledger: a hash-chained RFC 9162 Merkle log with signed checkpoints.

Pure domain code: it depends on SQLAlchemy, cryptography and rfc8785 only, never on
the API, vision or training packages.
"""

from __future__ import annotations

from ledger.audit import AuditReport, audit
from ledger.checkpoint import (
    Checkpoint,
    generate_key,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from ledger.errors import (
    AuditError,
    CanonicalJSONError,
    ChainBrokenError,
    CheckpointError,
    CheckpointFormatError,
    InconsistentCheckpointError,
    InvalidEntryError,
    InvalidIndexError,
    LedgerError,
    MalformedHashError,
    MissingNodeError,
    ProofError,
    ProofSizeError,
    RootMismatchError,
    SignatureError,
    TamperedCheckpointError,
    TamperedEntryError,
    TamperedNodeError,
)
from ledger.hashing import EMPTY_ROOT, canonical_json, leaf_hash, node_hash, root_from_leaves
from ledger.log import Ledger
from ledger.note import Signer, Verifier
from ledger.proof import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.record import Entry
from ledger.tree import CompactRange, HashStore, InMemoryHashStore

__all__ = [
    "EMPTY_ROOT",
    "AuditError",
    "AuditReport",
    "CanonicalJSONError",
    "ChainBrokenError",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormatError",
    "CompactRange",
    "Entry",
    "HashStore",
    "InMemoryHashStore",
    "InconsistentCheckpointError",
    "InvalidEntryError",
    "InvalidIndexError",
    "Ledger",
    "LedgerError",
    "MalformedHashError",
    "MissingNodeError",
    "ProofError",
    "ProofSizeError",
    "RootMismatchError",
    "SignatureError",
    "Signer",
    "TamperedCheckpointError",
    "TamperedEntryError",
    "TamperedNodeError",
    "Verifier",
    "audit",
    "canonical_json",
    "consistency_proof",
    "generate_key",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_checkpoint",
    "root_from_leaves",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
