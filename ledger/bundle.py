"""Self-contained proof bundles: an entry, its inclusion proof and a signed checkpoint.

A bundle is everything an auditor needs, with the log's public key, to check offline that
an entry is in the log; ``verify_bundle`` needs no database and no server.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.errors import CheckpointFormatError, InvalidEntryError, TamperedEntryError
from ledger.hashing import leaf_hash
from ledger.note import Verifier
from ledger.proof import verify_inclusion
from ledger.record import parse_record

if TYPE_CHECKING:  # verifying a bundle needs no database: only making one reads the log
    from ledger.log import Ledger

__all__ = ["VerifiedEntry", "make_bundle", "verify_bundle"]

BUNDLE_VERSION = 1


@dataclass(frozen=True)
class VerifiedEntry:
    """What a verified bundle proves: this record is entry ``index`` of a signed tree."""

    index: int
    kind: str
    tree_size: int
    origin: str
    leaf_hash: str


def make_bundle(ledger: Ledger, *, index: int, checkpoint: str) -> dict[str, Any]:
    """Bundle entry ``index`` with its proof against the tree the ``checkpoint`` signs."""
    size = parse_checkpoint(checkpoint).size
    entry = ledger.entry(index)
    proof = ledger.inclusion_proof(index, size)
    return {
        "version": BUNDLE_VERSION,
        "index": index,
        "kind": entry.kind,
        "body": entry.body,
        "record": entry.record.decode(),
        "leaf_hash": entry.leaf_hash.hex(),
        "prev_hash": entry.prev_hash.hex(),
        "tree_size": size,
        "inclusion_proof": [base64.b64encode(h).decode() for h in proof],
        "checkpoint": checkpoint,
    }


def verify_bundle(bundle: dict[str, Any], verifier_key: Verifier | str) -> VerifiedEntry:
    """Check a bundle offline; returns what it proves or raises a ``LedgerError``.

    1. The checkpoint carries a valid signature by ``verifier_key`` (C2SP signed note).
    2. The bundle's tree size is the checkpoint's.
    3. The record parses, names its own index, and hashes (RFC 9162 leaf) to ``leaf_hash``.
    4. The inclusion proof leads from that leaf to the checkpoint's root (RFC 9162 §2.1.3.2).
    """
    try:
        record = bundle["record"].encode()
        index, size = int(bundle["index"]), int(bundle["tree_size"])
        proof = [base64.b64decode(h, validate=True) for h in bundle["inclusion_proof"]]
        note = bundle["checkpoint"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidEntryError("bundle", f"malformed proof bundle: {exc!r}") from exc
    checkpoint = verify_checkpoint(note, verifier_key)  # step 1
    if checkpoint.size != size:  # step 2
        raise CheckpointFormatError(
            f"bundle is for tree size {size}, its checkpoint signs size {checkpoint.size}"
        )
    parsed = parse_record(record, index=index)  # step 3
    computed = leaf_hash(record)
    if "leaf_hash" in bundle and bytes.fromhex(bundle["leaf_hash"]) != computed:
        raise TamperedEntryError(index, "the bundle's leaf hash is not its record's hash")
    verify_inclusion(
        leaf_index=index, tree_size=size, leaf_hash=computed, proof=proof, root=checkpoint.root
    )  # step 4
    return VerifiedEntry(index, parsed.kind, size, checkpoint.origin, computed.hex())
