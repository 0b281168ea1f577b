"""Building a claim's dossier from the database and the ledger (``dossier.format`` says what
the file holds; ``dossier.verify`` checks it with nothing of ours but the verifier key)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from claims.errors import UnknownClaimError
from claims.tables import claims
from dossier.format import (
    DOSSIER_FORMAT,
    DOSSIER_VERSION,
    REASSESSED,
    cited_indices,
    late_records,
    photo_view,
    stated_verdict,
)
from ledger.anchor.base import AnchorReceipt
from ledger.anchoring import list_anchors
from ledger.bundle import make_bundle
from ledger.checkpoint import parse_checkpoint
from ledger.log import Ledger
from ledger.note import Signer
from ledger.schema import entries_table
from ledger.service import current_checkpoint

__all__ = ["MAX_DECISION_SCAN", "build_dossier"]

MAX_DECISION_SCAN = 10_000
"""Most ``claim.*`` entries after the verdict scanned for ones naming the claim."""


def build_dossier(
    *,
    ledger: Ledger,
    signer: Signer,
    engine: Engine,
    claim_id: str,
    anchors: Sequence[Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The JSON-ready dossier of ``claim_id``; raises ``UnknownClaimError`` if none.

    ``anchors`` are the recorded anchors as ``list_anchors`` returns them (default: read
    from the ledger); the latest real one (not a ``NoAnchor`` receipt) inside the
    checkpoint's tree is linked to it.
    """
    evidence_idx, verdict_idx = _claim_entries(engine, claim_id)
    note = current_checkpoint(ledger=ledger, signer=signer)
    size = parse_checkpoint(note).size
    evidence = ledger.entry(evidence_idx).body
    chain = _verdict_chain(ledger, verdict_idx)
    current = ledger.entry(verdict_idx)
    verdict = stated_verdict(current.kind, current.body)
    decisions, complete = _decision_indices(ledger, claim_id, after=verdict_idx, size=size)
    records = list_anchors(ledger) if anchors is None else anchors
    anchored = _latest_anchor(records, size)
    late = {i for index in chain[1:] for _, i, _ in late_records(ledger.entry(index).body)}
    indices = {evidence_idx, *chain, *late, *cited_indices(verdict), *decisions}
    if anchored is not None:
        indices.add(int(anchored["ledger_index"]))
    return {
        "format": DOSSIER_FORMAT,
        "version": DOSSIER_VERSION,
        "claim_id": claim_id,
        "lot": evidence.get("lot"),
        "order_id": evidence.get("order_id"),
        "built_at": (now or datetime.now(UTC)).isoformat(),
        "origin": ledger.origin,
        "photos": [photo_view(p) for p in evidence["photos"]],
        "model": evidence["model"],
        "verdict": verdict,
        "ledger": {
            "evidence_index": evidence_idx,
            "verdict_index": verdict_idx,
            "verdict_chain": chain,
            "decision_indices": decisions,
            "decisions_complete": complete,
            "anchor_index": None if anchored is None else int(anchored["ledger_index"]),
        },
        "checkpoint": note,
        "entries": [
            make_bundle(ledger, index=i, checkpoint=note) for i in sorted(indices) if i < size
        ],
        "anchor": _anchor_section(ledger, anchored, size),
        "current": _current_section(ledger, signer, note, size),
    }


def _claim_entries(engine: Engine, claim_id: str) -> tuple[int, int]:
    """The claim's evidence and verdict entry indices; ``UnknownClaimError`` if none."""
    c = claims.c
    with engine.connect() as conn:
        row = conn.execute(select(c.evidence_idx, c.verdict_idx).where(c.id == claim_id)).first()
    if row is None:
        raise UnknownClaimError(claim_id)
    return int(row.evidence_idx), int(row.verdict_idx)


def _verdict_chain(ledger: Ledger, verdict_idx: int) -> list[int]:
    """The claim's verdict entries, first to current: each ``claim.reassessed`` entry names
    the verdict entry it replaced (``previous.verdict_index``), back to ``claim.verdict``."""
    chain = [verdict_idx]
    entry = ledger.entry(verdict_idx)
    while entry.kind == REASSESSED:
        earlier = int(entry.body["previous"]["verdict_index"])
        if earlier >= chain[-1]:  # a chain runs backwards; anything else is not ours to follow
            break
        chain.append(earlier)
        entry = ledger.entry(earlier)
    return chain[::-1]


def _decision_indices(
    ledger: Ledger, claim_id: str, *, after: int, size: int
) -> tuple[list[int], bool]:
    """Later ``claim.*`` entries naming the claim; False when the bounded scan stopped early."""
    c = entries_table.c
    query = (
        select(c.idx, c.record)
        .where(c.idx > after, c.idx < size, c.kind.like("claim.%"), c.kind != "claim.evidence")
        .order_by(c.idx)
        .limit(MAX_DECISION_SCAN + 1)
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).all()
    found = [
        int(r.idx)
        for r in rows[:MAX_DECISION_SCAN]
        if json.loads(bytes(r.record))["body"].get("claim_id") == claim_id
    ]
    return found, len(rows) <= MAX_DECISION_SCAN


def _latest_anchor(records: Sequence[Mapping[str, Any]], size: int) -> Mapping[str, Any] | None:
    """The latest anchor on a real chain whose receipt entry lies inside the tree."""
    for record in reversed(records):
        receipt = AnchorReceipt.from_dict(record["receipt"])
        if receipt.anchored and receipt.size > 0 and int(record["ledger_index"]) < size:
            return record
    return None


def _anchor_section(
    ledger: Ledger, anchored: Mapping[str, Any] | None, size: int
) -> dict[str, Any]:
    if anchored is None:
        return {
            "status": "none",
            "reason": "no checkpoint of this log was anchored on a chain before this dossier "
            "was built (anchoring off, or not due yet)",
        }
    anchored_size = parse_checkpoint(anchored["checkpoint"]).size
    return {
        "status": "anchored",
        "ledger_index": int(anchored["ledger_index"]),
        "receipt": dict(anchored["receipt"]),
        "checkpoint": anchored["checkpoint"],
        "consistency": _consistency(ledger, anchored_size, size),
    }


def _current_section(ledger: Ledger, signer: Signer, note: str, size: int) -> dict[str, Any] | None:
    latest = current_checkpoint(ledger=ledger, signer=signer)
    if latest == note:
        return None
    return {"checkpoint": latest, "consistency": _consistency(ledger, size, _size_of(latest))}


def _size_of(note: str) -> int:
    return parse_checkpoint(note).size


def _consistency(ledger: Ledger, size1: int, size2: int) -> dict[str, Any]:
    proof = ledger.consistency_proof(size1, size2) if 0 < size1 < size2 else []
    return {"from": size1, "to": size2, "proof": [base64.b64encode(h).decode() for h in proof]}
