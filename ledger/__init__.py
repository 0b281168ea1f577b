"""Tamper-evident ledger: a hash-chained RFC 9162 Merkle log with signed checkpoints.

Pure domain code: it depends on SQLAlchemy, cryptography and rfc8785 only, never on
the API, vision or training packages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name from the module that defines it, imported on first use: importing one part of
# the log (say ``ledger.proof`` to verify a proof offline) loads that part alone, not the
# database-bound log beside it.
_WHERE = {
    "AuditError": "ledger.errors",
    "AuditReport": "ledger.audit",
    "CanonicalJSONError": "ledger.errors",
    "ChainBrokenError": "ledger.errors",
    "Checkpoint": "ledger.checkpoint",
    "CheckpointError": "ledger.errors",
    "CheckpointFormatError": "ledger.errors",
    "CompactRange": "ledger.tree",
    "EMPTY_ROOT": "ledger.hashing",
    "Entry": "ledger.record",
    "HashStore": "ledger.tree",
    "InMemoryHashStore": "ledger.tree",
    "InconsistentCheckpointError": "ledger.errors",
    "InvalidEntryError": "ledger.errors",
    "InvalidIndexError": "ledger.errors",
    "Ledger": "ledger.log",
    "LedgerError": "ledger.errors",
    "MalformedHashError": "ledger.errors",
    "MissingNodeError": "ledger.errors",
    "ProofError": "ledger.errors",
    "ProofSizeError": "ledger.errors",
    "RootMismatchError": "ledger.errors",
    "SignatureError": "ledger.errors",
    "Signer": "ledger.note",
    "TamperedCheckpointError": "ledger.errors",
    "TamperedEntryError": "ledger.errors",
    "TamperedNodeError": "ledger.errors",
    "Verifier": "ledger.note",
    "audit": "ledger.audit",
    "canonical_json": "ledger.hashing",
    "consistency_proof": "ledger.proof",
    "generate_key": "ledger.checkpoint",
    "inclusion_proof": "ledger.proof",
    "leaf_hash": "ledger.hashing",
    "node_hash": "ledger.hashing",
    "parse_checkpoint": "ledger.checkpoint",
    "root_from_leaves": "ledger.hashing",
    "sign_checkpoint": "ledger.checkpoint",
    "verify_checkpoint": "ledger.checkpoint",
    "verify_consistency": "ledger.proof",
    "verify_inclusion": "ledger.proof",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """``from ledger import X``: X from its module, imported now (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
