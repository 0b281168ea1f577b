"""Anchoring of transparency-log checkpoint roots into an append-only public record.

`Anchor` is the protocol; `EthereumAnchor` writes to the CheckpointAnchor contract (an
in-process EVM by default, any JSON-RPC node in production) and `NoAnchor` switches it off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

# The Ethereum anchor loads web3 and eth-account: only on first use (PEP 562), so reading a
# receipt or verifying a dossier needs neither.
_ETHEREUM = ("ContractArtifact", "EthereumAnchor", "load_artifact")

if TYPE_CHECKING:
    from ledger.anchor.ethereum import ContractArtifact, EthereumAnchor, load_artifact

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


def __getattr__(name: str) -> Any:
    """``from ledger.anchor import EthereumAnchor``: imported from its module on first use."""
    if name not in _ETHEREUM:
        raise AttributeError(f"module 'ledger.anchor' has no attribute {name!r}")
    from ledger.anchor import ethereum

    value = getattr(ethereum, name)
    globals()[name] = value
    return value
