"""Service functions over a Ledger: publish checkpoints, hand out proofs."""

from __future__ import annotations

import base64
from typing import Any

from ledger.bundle import make_bundle
from ledger.checkpoint import parse_checkpoint
from ledger.errors import InvalidIndexError
from ledger.log import Ledger
from ledger.note import Signer

__all__ = ["consistency", "current_checkpoint", "entry_bundle"]


def current_checkpoint(*, ledger: Ledger, signer: Signer) -> str:
    """The latest signed checkpoint, signing a new one first if the log has grown since."""
    latest = ledger.latest_checkpoint()
    if latest is not None and parse_checkpoint(latest).size == ledger.size():
        return latest
    return ledger.sign_checkpoint(signer)


def entry_bundle(*, ledger: Ledger, signer: Signer, index: int) -> dict[str, Any]:
    """Entry ``index`` with its inclusion proof against the current signed checkpoint."""
    if not 0 <= index < ledger.size():
        raise InvalidIndexError("index", index, f"the log has {ledger.size()} entries")
    return make_bundle(
        ledger, index=index, checkpoint=current_checkpoint(ledger=ledger, signer=signer)
    )


def consistency(*, ledger: Ledger, size1: int, size2: int | None = None) -> dict[str, Any]:
    """A consistency proof between two tree sizes, with both roots."""
    size2 = ledger.size() if size2 is None else size2
    if not 0 <= size1 <= size2 <= ledger.size():
        raise InvalidIndexError(
            "size", size1, f"need 0 <= from <= to <= {ledger.size()} (from={size1}, to={size2})"
        )
    proof = ledger.consistency_proof(size1, size2) if 0 < size1 < size2 else []
    return {
        "from": size1,
        "to": size2,
        "root_from": base64.b64encode(ledger.root(size1)).decode(),
        "root_to": base64.b64encode(ledger.root(size2)).decode(),
        "proof": [base64.b64encode(h).decode() for h in proof],
    }
