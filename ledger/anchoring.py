"""Anchor signed checkpoints on a chain and record each receipt in the log itself.

A receipt is appended as a ``ledger.anchor`` entry, so the list of anchors is as
tamper-evident as everything else; that entry lands after the checkpoint it anchors, so
each anchor covers the log up to just before its own receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ledger.anchor.base import ANCHOR_KIND, Anchor, AnchorReceipt
from ledger.checkpoint import parse_checkpoint
from ledger.errors import TamperedCheckpointError
from ledger.log import Ledger
from ledger.note import Signer
from ledger.schema import entries_table
from ledger.service import current_checkpoint

__all__ = [
    "ANCHOR_KIND",
    "AnchorPolicy",
    "anchor_now",
    "list_anchors",
    "maybe_anchor",
    "verify_anchors",
]


@dataclass(frozen=True)
class AnchorPolicy:
    """Anchor when the log grew by ``every_entries`` or ``every_seconds`` passed (and it grew)."""

    every_entries: int = 100
    every_seconds: float = 3600.0


def list_anchors(ledger: Ledger) -> list[dict[str, Any]]:
    """Every recorded anchor, oldest first, with the ledger index of its receipt entry."""
    c = entries_table.c
    with ledger.engine.connect() as conn:
        idxs = conn.execute(select(c.idx).where(c.kind == ANCHOR_KIND).order_by(c.idx)).scalars()
        indices = list(idxs)
    return [{"ledger_index": i, **ledger.entry(i).body} for i in indices]


def anchor_now(*, ledger: Ledger, signer: Signer, anchor: Anchor) -> dict[str, Any] | None:
    """Anchor the current checkpoint unless it is already anchored; returns the record."""
    anchors = list_anchors(ledger)
    # The log as it was before the last receipt entry: nothing new to anchor.
    if anchors and ledger.size() == anchors[-1]["ledger_index"] + 1:
        return None
    note = current_checkpoint(ledger=ledger, signer=signer)
    cp = parse_checkpoint(note)
    receipt = anchor.anchor(origin=cp.origin, size=cp.size, root=cp.root)
    body = {"receipt": receipt.to_dict(), "checkpoint": note}
    entry = ledger.append(kind=ANCHOR_KIND, body=body)
    return {"ledger_index": entry.index, **body}


def maybe_anchor(
    *,
    ledger: Ledger,
    signer: Signer,
    anchor: Anchor,
    policy: AnchorPolicy,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any] | None:
    """Anchor if the policy says the log has grown enough, or enough time has passed."""
    anchors = list_anchors(ledger)
    size = ledger.size()
    if not anchors:
        due = size >= policy.every_entries
    else:
        last = anchors[-1]
        grown = size - (last["ledger_index"] + 1)
        at = datetime.fromisoformat(last["receipt"]["anchored_at"])
        due = grown >= policy.every_entries or (
            grown > 0 and clock() - at >= timedelta(seconds=policy.every_seconds)
        )
    return anchor_now(ledger=ledger, signer=signer, anchor=anchor) if due else None


def verify_anchors(*, ledger: Ledger, anchor: Anchor) -> int:
    """Check every recorded receipt against the chain and the log's own roots; returns count."""
    anchors = list_anchors(ledger)
    for n, a in enumerate(anchors):
        receipt = AnchorReceipt.from_dict(a["receipt"])
        cp = parse_checkpoint(a["checkpoint"])
        if ledger.root(cp.size) != cp.root:
            raise TamperedCheckpointError(n, cp.size, "anchored root differs from the log's root")
        anchor.verify(receipt, origin=cp.origin, size=cp.size, root=cp.root)
    return len(anchors)
