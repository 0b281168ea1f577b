"""Verdicts keep up with the evidence: open claims are assessed again when late records arrive.

GUIDE §4 rule 6. Records about a lot's past are often captured after claims on the lot: the
readings of a leg uploaded an hour late, a delayed inspection, a shock report. After such a
capture every claim on the lot is assessed again with the same pure ``assess`` that filed it
(the same photos' findings, the photo time of the filing, the lot's timeline as the ledger
now holds it). When the verdict changes:

1. a claim that nobody has settled (no payment, no person's decision) takes the new verdict,
   compensation and status: a ``claim.reassessed`` entry cites the records that changed it
   and the verdict it replaces, a ``claim.reassessed`` webhook event goes out, and a
   confident new verdict under the limit pays out as it would have at filing;
2. a claim that was paid or that a person decided is never changed by the machine: a
   ``claim.flagged`` entry records what the machine would now say and why, and the claim
   waits in the review queue (``flagged``) until a person looks again.

Each claim is re-read and written under the ledger's write lock, so a decision made at the
same moment is seen (the claim is then flagged, not changed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select, update

from claims.assessment import Assessment, ClaimEvidence, ClaimsConfig, assess
from claims.compensation import get_payment, pay
from claims.duplicates import DuplicateMatch
from claims.jsonutil import jsonable
from claims.models import ClaimInput, Family
from claims.queue_index import refresh_queue
from claims.segments import LedgerRef
from claims.service import claim_records
from claims.tables import (
    claim_decisions,
    claim_lot_keys,
    claim_photos,
    claim_reassessments,
    claims,
)
from claims.views import families_of_claims
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue
from supplychain.lot_names import identity
from supplychain.projections import event_lots, events
from vision.image import QualityReport
from vision.label_text import reading_from_dict
from vision.operating import PhotoDecision
from vision.phash import parse_phash
from vision.predictor import Finding, Inspection

__all__ = ["Reassessment", "lots_of_entries", "reassess_after_capture", "reassess_lots"]


@dataclass(frozen=True)
class Reassessment:
    """What re-assessing one claim did: ``updated``, ``flagged`` (settled) or ``unchanged``."""

    claim_id: str
    outcome: str
    ledger_index: int | None = None
    before: str | None = None
    after: str | None = None


def lots_of_entries(conn: Connection, indices: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The lots the captured entries at ``indices`` name, each with those entries."""
    if not indices:
        return {}
    rows = conn.execute(
        select(event_lots.c.lot, events.c.ledger_idx)
        .join(events, events.c.hash_id == event_lots.c.hash_id)
        .where(events.c.ledger_idx.in_(list(indices)))
    )
    out: dict[str, list[int]] = {}
    for lot, idx in rows:
        out.setdefault(lot, []).append(int(idx))
    return {lot: tuple(sorted(v)) for lot, v in out.items()}


def _aware(t: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; every stored time is UTC.
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _inspection(stored: Mapping[str, Any]) -> Inspection:
    """The photo's judgement as filed (what the claim was assessed on)."""
    quality = stored.get("quality") or {}
    return Inspection(
        image=str(stored.get("image", "")),
        sha256=str(stored.get("sha256", "")),
        width=int(stored.get("width", 0)),
        height=int(stored.get("height", 0)),
        quality=QualityReport(bool(quality.get("ok", False))),
        findings=tuple(
            Finding(
                str(f["label"]),
                float(f["confidence"]),
                tuple(f.get("box") or (0.0, 0.0, 0.0, 0.0)),  # type: ignore[arg-type]
                bool(f.get("localized", True)),
                f.get("box_score"),
                bool(f.get("uncertain", False)),
            )
            for f in stored.get("findings") or ()
        ),
        model=dict(stored.get("model") or {}),
        phash=parse_phash(str(stored.get("phash", "0" * 16))),
        decisions={
            f: PhotoDecision.from_dict(f, d) for f, d in (stored.get("decisions") or {}).items()
        },
    )


def _duplicates(stored: Mapping[str, Any]) -> tuple[DuplicateMatch, ...]:
    return tuple(
        DuplicateMatch(
            str(m["claim_id"]),
            str(m["photo_sha256"]),
            int(m["distance"]),
            int(m["evidence_index"]),
        )
        for m in stored.get("duplicate_of") or ()
    )


def _claim_input(row: Any, family: Family | None) -> ClaimInput:
    return ClaimInput.model_construct(
        order_id=row.order_id,
        lot=row.lot,
        category=row.category,
        family=family,
        line_value=row.line_value,
        currency=row.currency,
        delivered_at=_aware(row.delivered_at),
        description=row.description,
        customer_id=row.customer_id,
    )


def _model_release(row: Any) -> LedgerRef | None:
    """The release entry the filed verdict cited for its photo evidence."""
    for item in json.loads(row.verdict).get("evidence") or ():
        if item.get("source") == "photo" and item.get("ref"):
            return LedgerRef(int(item["ref"]["index"]), str(item["ref"]["leaf_hash"]))
    return None


def _evidence(ledger: Ledger, conn: Connection, row: Any) -> ClaimEvidence:
    """The claim's evidence as filed, with the lot's timeline as the ledger holds it now."""
    family = cast("Family | None", families_of_claims(conn, [row.id]).get(row.id))
    claim = _claim_input(row, family)
    stored = [
        json.loads(p.inspection)
        for p in conn.execute(
            select(claim_photos)
            .where(claim_photos.c.claim_id == row.id)
            .order_by(claim_photos.c.position)
        )
    ]
    records = claim_records(ledger, claim)
    return ClaimEvidence(
        claim=claim,
        inspections=tuple(_inspection(s) for s in stored),
        timeline=records.timeline,
        ambiguous_lots=records.ambiguous,
        duplicates=tuple(_duplicates(s) for s in stored),
        model_release=_model_release(row),
        # The labels as read at filing: a reassessment reads the same evidence again.
        labels=tuple(reading_from_dict(s["label"]) if s.get("label") else None for s in stored)
        if any(s.get("label") for s in stored)
        else (),
    )


def _summary(party: str, party_id: str | None) -> str:
    return f"{party} ({party_id})" if party_id else party


def _changed(row: Any, verdict: dict[str, Any]) -> bool:
    before = json.loads(row.verdict)
    return (
        before.get("responsible_party"),
        before.get("party_id"),
        before.get("confidence"),
        [r["code"] for r in before.get("reasons", ())],
    ) != (
        verdict["responsible_party"],
        verdict["party_id"],
        verdict["confidence"],
        [r["code"] for r in verdict["reasons"]],
    )


def _settled(conn: Connection, row: Any) -> str | None:
    """Why the machine must not change this claim (paid, a person decided), or None."""
    if get_payment(conn=conn, claim_id=row.id) is not None:
        return "paid"
    decided = conn.execute(
        select(claim_decisions.c.id).where(claim_decisions.c.claim_id == row.id).limit(1)
    ).first()
    if decided is not None:
        return "decided by a person"
    if row.status not in ("open", "needs_review"):
        return f"in the hands of a person ({row.status})"
    return None


def _reassess_one(
    w: LedgerWriter,
    *,
    ledger: Ledger,
    claim_id: str,
    records: Sequence[int],
    config: ClaimsConfig,
    now: datetime,
    actor: str | None,
) -> Reassessment:
    conn = w.conn
    row = conn.execute(select(claims).where(claims.c.id == claim_id)).first()
    if row is None:
        return Reassessment(claim_id, "unchanged")
    evidence = _evidence(ledger, conn, row)
    # Assessed as at its filing: the photo time, deadlines and limits the claim was filed under.
    assessment = assess(evidence, config=config, now=_aware(row.created_at))
    verdict = assessment.verdict.as_dict()
    if not _changed(row, verdict):
        return Reassessment(claim_id, "unchanged")
    before = _summary(row.responsible_party, row.party_id)
    after = _summary(assessment.verdict.responsible_party, assessment.verdict.party_id)
    cited = [
        {"index": i, "leaf_hash": ledger.entry(i).leaf_hash.hex()} for i in sorted(set(records))
    ]
    body = {
        "claim_id": claim_id,
        "records": cited,
        "previous": {"verdict_index": row.verdict_idx, "responsible_party": before},
        "verdict": verdict,
        "by": actor or "machine",
    }
    settled = _settled(conn, row)
    if settled is not None:
        (entry,) = w.append_many([("claim.flagged", {**body, "settled": settled})])
        _history(conn, claim_id, "flagged", entry.index, body, now)
        refresh_queue(conn, [claim_id])
        _notify(
            w, config, "claim.flagged", claim_id, now, {**body, "settled": settled}, entry.index
        )
        return Reassessment(claim_id, "flagged", entry.index, before, after)
    (entry,) = w.append_many([("claim.reassessed", body)])
    compensation = _compensation(conn, claim_id, assessment, now)
    conn.execute(
        update(claims)
        .where(claims.c.id == claim_id)
        .values(
            status=assessment.status,
            responsible_party=verdict["responsible_party"],
            party_id=verdict["party_id"],
            confidence=verdict["confidence"],
            verdict=json.dumps(verdict),
            compensation=json.dumps(compensation),
            verdict_idx=entry.index,
        )
    )
    _history(conn, claim_id, "reassessed", entry.index, body, now)
    refresh_queue(conn, [claim_id])
    payload = {**body, "status": assessment.status, "compensation": compensation}
    _notify(w, config, "claim.reassessed", claim_id, now, payload, entry.index)
    return Reassessment(claim_id, "updated", entry.index, before, after)


def _compensation(
    conn: Connection, claim_id: str, assessment: Assessment, now: datetime
) -> dict[str, Any]:
    proposal = assessment.compensation
    out = {**jsonable(dataclasses.asdict(proposal)), "paid": False}
    if proposal.auto_pay:
        payment = pay(conn=conn, claim_id=claim_id, proposal=proposal, decided_by="auto", now=now)
        out |= {"paid": True, "payment": jsonable(dataclasses.asdict(payment))}
    return out


def _history(
    conn: Connection, claim_id: str, kind: str, index: int, body: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        insert(claim_reassessments).values(
            claim_id=claim_id,
            kind=kind,
            body=json.dumps(body),
            ledger_idx=index,
            created_at=now,
        )
    )


def _notify(
    w: LedgerWriter,
    config: ClaimsConfig,
    event_type: str,
    claim_id: str,
    now: datetime,
    body: dict[str, Any],
    index: int,
) -> None:
    enqueue(
        conn=w.conn,
        event_type=event_type,
        endpoints=list(config.webhooks),
        now=now,
        order_key=claim_id,
        payload={**body, "ledger": {"entry": index}},
    )


def reassess_lots(
    *,
    ledger: Ledger,
    records: Mapping[str, Sequence[int]],
    config: ClaimsConfig,
    now: datetime,
    actor: str | None = None,
) -> list[Reassessment]:
    """Assess every claim on each lot of ``records`` (lot key → the new entries) again, once
    per claim, oldest claim first.

    A claim is on a lot when it was filed by one of the lot's keys, or when its lot key
    (``claims.lot_keys``: the lot's one name) is one of theirs: a claim filed by the pack's
    Digital Link follows records captured under the lot's URN. One ledger transaction per
    claim, so a long lot never holds the lock for long.
    """
    with ledger.engine.connect() as conn:
        found = _claims_on_lots(conn, records)
    out: list[Reassessment] = []
    for claim_id, indices in found:
        with ledger.writer() as w:
            out.append(
                _reassess_one(
                    w,
                    ledger=ledger,
                    claim_id=claim_id,
                    records=indices,
                    config=config,
                    now=now,
                    actor=actor,
                )
            )
    return out


def _claims_on_lots(
    conn: Connection, records: Mapping[str, Sequence[int]]
) -> list[tuple[str, tuple[int, ...]]]:
    """The claims on the lots of ``records`` (see ``reassess_lots``), oldest first, each with
    the new entries about any of the names it was found by."""
    by_name: dict[str, set[int]] = {}
    by_key: dict[str, set[int]] = {}
    for lot, indices in records.items():
        by_name.setdefault(lot, set()).update(indices)
        by_key.setdefault(identity(lot), set()).update(indices)
    entries: dict[str, set[int]] = {}
    created: dict[str, datetime] = {}
    queries = (
        (claims.c.lot, by_name, select(claims.c.id, claims.c.created_at, claims.c.lot)),
        (
            claim_lot_keys.c.lot_key,
            by_key,
            select(claims.c.id, claims.c.created_at, claim_lot_keys.c.lot_key).join(
                claim_lot_keys, claim_lot_keys.c.claim_id == claims.c.id
            ),
        ),
    )
    for column, wanted, query in queries:
        for claim_id, at, name in conn.execute(query.where(column.in_(sorted(wanted)))):
            entries.setdefault(claim_id, set()).update(wanted[name])
            created[claim_id] = at
    order = sorted(entries, key=lambda c: (created[c], c))
    return [(c, tuple(sorted(entries[c]))) for c in order]


def reassess_after_capture(
    *,
    ledger: Ledger,
    appended: Iterable[int],
    config: ClaimsConfig,
    now: datetime,
    actor: str | None = None,
) -> list[Reassessment]:
    """``reassess_lots`` for the lots the newly appended entries name."""
    with ledger.engine.connect() as conn:
        records = lots_of_entries(conn, list(appended))
    return reassess_lots(ledger=ledger, records=records, config=config, now=now, actor=actor)
