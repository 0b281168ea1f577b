"""Errors raised by checkpoint anchoring; all derive from `ledger.errors.LedgerError`.

Hierarchy::

    LedgerError
    └── AnchorError                   anchoring a checkpoint root failed
        ├── AnchorConfigError         the anchor cannot be set up (artifact, contract, key, node)
        ├── AnchorInputError          origin, size or root is not anchorable
        ├── AnchorRejectedError       the contract refused: size below the latest anchored one
        ├── AnchorNodeError           the node failed or refused the request for another reason
        └── AnchorVerificationError   a receipt does not prove its checkpoint was anchored
            ├── AnchorNotFoundError   no such anchoring transaction / event where it points
            └── AnchorMismatchError   the anchored checkpoint differs from the expected one
"""

from __future__ import annotations

from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError

__all__ = [
    "AnchorConfigError",
    "AnchorError",
    "AnchorInputError",
    "AnchorMismatchError",
    "AnchorNodeError",
    "AnchorNotFoundError",
    "AnchorRejectedError",
    "AnchorVerificationError",
]


class AnchorError(LedgerError):
    """Root of every error raised while anchoring or verifying a checkpoint anchor."""


class AnchorConfigError(AnchorError):
    """The anchor cannot be set up: unreadable artifact, wrong contract, missing key, no node."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"anchor misconfigured: {reason}")


class AnchorInputError(AnchorError):
    """An origin, size or root cannot be anchored (e.g. a root that is not 32 bytes)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"cannot anchor {field}: {reason}")


class AnchorRejectedError(AnchorError):
    """The contract refused the anchor: its size is below the latest anchored for the origin."""

    def __init__(self, origin: str, size: int, latest_size: int) -> None:
        self.origin = origin
        self.size = size
        self.latest_size = latest_size
        super().__init__(
            f"anchor of {origin!r} at size {size} rejected: size {latest_size} is already anchored"
        )


class AnchorNodeError(AnchorError):
    """The Ethereum node failed, or refused the transaction for a reason other than its size."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"ethereum node error: {reason}")


class AnchorVerificationError(AnchorError):
    """A receipt does not prove that its checkpoint was anchored."""


class AnchorNotFoundError(AnchorVerificationError):
    """The chain holds no anchoring transaction or event where the receipt points."""

    def __init__(self, tx_hash: str, reason: str) -> None:
        self.tx_hash = tx_hash
        self.reason = reason
        super().__init__(f"anchor {tx_hash or '<none>'} not found: {reason}")


class AnchorMismatchError(AnchorVerificationError):
    """The anchored (or recorded) checkpoint differs from the one the caller expected."""

    def __init__(self, expected: Checkpoint, found: Checkpoint) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            f"anchored checkpoint ({found.origin!r}, {found.size}, {found.root.hex()}) != "
            f"expected ({expected.origin!r}, {expected.size}, {expected.root.hex()})"
        )
