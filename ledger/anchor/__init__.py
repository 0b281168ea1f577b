"""Anchoring of transparency-log checkpoint roots into an append-only public record.

`Anchor` is the protocol; `EthereumAnchor` writes to the CheckpointAnchor contract (an
in-process EVM by default, any JSON-RPC node in production) and `NoAnchor` switches it off.
"""

from __future__ import annotations

import sys

from ledger.anchor.base import MAX_SIZE, Anchor, AnchorReceipt, NoAnchor
from ledger.anchor.errors import (
    AnchorConfigError,
    AnchorError,
    AnchorInputError,
    AnchorMismatchError,
    AnchorNodeError,
    AnchorNotFoundError,
    AnchorRejectedError,
    AnchorVerificationError,
)

# py_ecc and py-evm (imported by eth-account / eth-tester) raise the interpreter-wide recursion
# limit to 100 000 on import. At that depth deeply nested input (e.g. JSON given to
# canonical_json) overflows the C stack and kills the process instead of raising
# RecursionError, so the limit is put back. py-evm only needs it for deeply nested contract
# calls, which CheckpointAnchor never makes.
_recursion_limit = sys.getrecursionlimit()
from ledger.anchor.ethereum import ContractArtifact, EthereumAnchor, load_artifact  # noqa: E402

sys.setrecursionlimit(_recursion_limit)
del _recursion_limit

__all__ = [
    "MAX_SIZE",
    "Anchor",
    "AnchorConfigError",
    "AnchorError",
    "AnchorInputError",
    "AnchorMismatchError",
    "AnchorNodeError",
    "AnchorNotFoundError",
    "AnchorReceipt",
    "AnchorRejectedError",
    "AnchorVerificationError",
    "ContractArtifact",
    "EthereumAnchor",
    "NoAnchor",
    "load_artifact",
]
