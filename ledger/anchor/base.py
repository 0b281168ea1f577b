"""The `Anchor` protocol, the receipt an anchoring leaves, and `NoAnchor` for anchoring off."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ledger.anchor.errors import AnchorInputError, AnchorMismatchError, AnchorNotFoundError
from ledger.checkpoint import Checkpoint
from ledger.clock import utc_now
from ledger.hashing import HASH_SIZE

__all__ = [
    "ANCHOR_KIND",
    "MAX_SIZE",
    "Anchor",
    "AnchorReceipt",
    "NoAnchor",
    "check_receipt_matches",
    "validate_anchor_input",
]

ANCHOR_KIND = "ledger.anchor"
"""The ledger entry kind that records an anchor's receipt."""
MAX_SIZE = 2**64 - 1  # the contract stores sizes as uint64

# EIP-155 assigns no network chain id 0, so it cannot be confused with a real anchor.
_NO_CHAIN = 0


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """Where a checkpoint (origin, size, root) was anchored: chain, contract, tx and block."""

    chain_id: int
    contract_address: str
    tx_hash: str
    block_number: int
    origin: str
    size: int
    root_hex: str
    anchored_at: datetime

    @property
    def anchored(self) -> bool:
        """Whether this receipt points at a real anchoring (False for `NoAnchor` receipts)."""
        return self.chain_id != _NO_CHAIN

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint this receipt says was anchored."""
        return Checkpoint(origin=self.origin, size=self.size, root=bytes.fromhex(self.root_hex))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for storing the receipt beside its checkpoint."""
        return {
            "chain_id": self.chain_id,
            "contract_address": self.contract_address,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "origin": self.origin,
            "size": self.size,
            "root_hex": self.root_hex,
            "anchored_at": self.anchored_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnchorReceipt:
        """Rebuild a receipt from `to_dict` output."""
        return cls(
            chain_id=int(data["chain_id"]),
            contract_address=str(data["contract_address"]),
            tx_hash=str(data["tx_hash"]),
            block_number=int(data["block_number"]),
            origin=str(data["origin"]),
            size=int(data["size"]),
            root_hex=str(data["root_hex"]),
            anchored_at=datetime.fromisoformat(str(data["anchored_at"])),
        )


@runtime_checkable
class Anchor(Protocol):
    """Writes checkpoint roots somewhere public and append-only, and checks them later."""

    def anchor(self, *, origin: str, size: int, root: bytes) -> AnchorReceipt:
        """Anchor the checkpoint (origin, size, root) and return where it landed."""
        ...

    def verify(self, receipt: AnchorReceipt, *, origin: str, size: int, root: bytes) -> None:
        """Return if `receipt` proves (origin, size, root) was anchored; raise otherwise."""
        ...


def validate_anchor_input(*, origin: str, size: int, root: bytes) -> None:
    """Raise `AnchorInputError` unless (origin, size, root) can be anchored."""
    if not origin or "\n" in origin:
        raise AnchorInputError("origin", "must be one non-empty line")
    if not 0 <= size <= MAX_SIZE:
        raise AnchorInputError("size", f"{size} is outside 0..2**64-1")
    if len(root) != HASH_SIZE:
        raise AnchorInputError("root", f"is {len(root)} bytes, expected {HASH_SIZE}")


def check_receipt_matches(receipt: AnchorReceipt, *, origin: str, size: int, root: bytes) -> None:
    """Raise `AnchorMismatchError` if the receipt records another checkpoint than expected."""
    expected = Checkpoint(origin=origin, size=size, root=root)
    recorded = receipt.checkpoint
    if (recorded.origin, recorded.size, recorded.root) != (origin, size, root):
        raise AnchorMismatchError(expected=expected, found=recorded)


class NoAnchor:
    """Anchoring switched off: records nothing, and its receipts and `verify` say so."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def anchor(self, *, origin: str, size: int, root: bytes) -> AnchorReceipt:
        """Return a receipt with chain id 0 and no contract, tx or block: nothing was written."""
        validate_anchor_input(origin=origin, size=size, root=root)
        return AnchorReceipt(
            chain_id=_NO_CHAIN,
            contract_address="",
            tx_hash="",
            block_number=0,
            origin=origin,
            size=size,
            root_hex=root.hex(),
            anchored_at=self._clock(),
        )

    def verify(self, receipt: AnchorReceipt, *, origin: str, size: int, root: bytes) -> None:
        """Always raise `AnchorNotFoundError`: without anchoring nothing can be proven."""
        raise AnchorNotFoundError(receipt.tx_hash, "anchoring is disabled (NoAnchor)")

    def __repr__(self) -> str:
        return "NoAnchor()"
