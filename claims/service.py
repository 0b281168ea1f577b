"""File a claim: photos → findings → custody → verdict → ticket → compensation, as one act.

Everything that can fail on bad input (validation, a photo that is not an image) fails
before anything is written. A lot without records is not bad input: the claim is accepted,
undetermined, for a person to decide. The ledger entries (evidence, verdict, a lot
alert), the claim row, the outbox messages and an automatic payment then commit in one
transaction; the idempotency key is unique per customer in that same transaction, so a
retried request can never file the claim twice, and one customer's key never meets another's.
(A claim filed for no customer, as tools and tests may, has its keys checked before the
write only: SQL unique keys treat every NULL customer as distinct.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from claims.adjudication import Review, claim_state, load_reviews, open_ids, queue_filter
from claims.assessment import Assessment, ClaimEvidence, ClaimsConfig, assess
from claims.compensation import pay
from claims.custody import LedgerRef, Party, Timeline
from claims.duplicates import DuplicateMatch, remember_photos, search_duplicates
from claims.errors import (
    IdempotencyConflictError,
    InvalidClaimError,
    PhotoRejectedError,
    UnknownClaimError,
)
from claims.jsonutil import jsonable
from claims.models import ClaimInput
from claims.state import allowed_actions, current_state
from claims.tables import claim_photos, claims, lot_alerts
from claims.timeline import build_timeline
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue
from storage.evidence import EvidenceStore, StoredEvidence
from storage.schema import metadata
from supplychain.trace import UnknownLotError
from vision.errors import ImageRejected
from vision.phash import format_phash
from vision.predictor import Inspection, Inspector

__all__ = [
    "ClaimInput",
    "ClaimsConfig",
    "claim_timeline",
    "count_claims",
    "create_claim_tables",
    "file_claim",
    "get_claim",
    "list_claims",
]

MAX_PHOTOS = 10


def create_claim_tables(engine: Engine) -> None:
    """Create every table defined so far if missing (tests; the service migrates instead).

    Every table, not only the claims': they share one MetaData, and claims need the
    ledger's and its projections' tables too.
    """
    metadata.create_all(engine)


def _release_ref(ledger: Ledger, inspections: Sequence[Inspection]) -> LedgerRef | None:
    """The release entry the judged photos' model names (``Predictor.release_entry``)."""
    named = {i.model.get("release_entry") for i in inspections if i.quality.ok} - {None}
    if len(named) != 1:  # no release known, or (a reload mid-claim) two: cite none
        return None
    index = int(str(named.pop()))
    return LedgerRef(index, ledger.entry(index).leaf_hash.hex())


def _validate(
    claim: ClaimInput, photos: Sequence[tuple[str, bytes]], config: ClaimsConfig, now: datetime
) -> None:
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise InvalidClaimError("photos", f"send 1 to {MAX_PHOTOS} photos, not {len(photos)}")
    if claim.category not in config.profiles:
        # Named as the schema's own errors name the claim part's fields (claim.<name>).
        known = ", ".join(sorted(config.profiles))
        raise InvalidClaimError(
            "claim.category", f"{claim.category!r} is not a category here; one of: {known}"
        )
    # Shape, bounds and text were checked when the ClaimInput was built (claims/models.py);
    # what is left needs the configuration or the clock.
    if claim.delivered_at > now + timedelta(minutes=5):
        raise InvalidClaimError("claim.delivered_at", "is in the future")


def _request_hash(claim: ClaimInput, photos: Sequence[tuple[str, bytes]]) -> str:
    body = {
        **jsonable(claim.model_dump()),
        "photos": [hashlib.sha256(d).hexdigest() for _, d in photos],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _existing(
    engine: Engine, customer_id: str | None, key: str, request_hash: str
) -> dict[str, Any] | None:
    """The claim this customer filed under ``key`` (None: none), or a conflict when its
    content differs. Keys are the customer's own: another customer's same key is not seen."""
    scope = (
        claims.c.customer_id.is_(None)
        if customer_id is None
        else claims.c.customer_id == customer_id
    )
    with engine.connect() as conn:
        row = conn.execute(
            select(claims.c.id, claims.c.request_hash).where(scope, claims.c.idempotency_key == key)
        ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyConflictError(key)
    return get_claim(engine, row.id)


def file_claim(
    *,
    ledger: Ledger,
    store: EvidenceStore,
    inspector: Inspector,
    claim: ClaimInput,
    photos: Sequence[tuple[str, bytes]],
    now: datetime,
    idempotency_key: str | None = None,
    config: ClaimsConfig = ClaimsConfig(),
    actor: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """File the claim; returns it and whether it was created (False: an idempotent replay).

    ``actor`` (who filed it: an API key) is named in the evidence entry.

    Gathers the evidence (photos judged, the lot's timeline), stores the photos, searches
    for copies of them in other claims, and under the ledger's write lock looks up what
    other claims say (copies stored since that search, the lot's recent defect claims),
    lets the pure ``assess`` decide, and records the decision.
    """
    engine = ledger.engine
    _validate(claim, photos, config, now)
    request_hash = _request_hash(claim, photos)
    customer = claim.customer_id
    if idempotency_key is not None and (
        found := _existing(engine, customer, idempotency_key, request_hash)
    ):
        return found, False
    timeline = claim_timeline(ledger, claim)
    inspections = _inspect(inspector, photos)
    if not any(i.quality.ok for i in inspections):
        # Nothing can be judged: tell the customer how to retake, and file nothing.
        advice = sorted({issue.message for i in inspections for issue in i.quality.issues})
        raise InvalidClaimError("photos", "no photo can be judged: " + "; ".join(advice))
    stored = [store.put(data) for _, data in photos]
    claim_id = uuid.uuid4().hex
    # Only photos that passed the quality gate are looked up: a featureless photo (black,
    # blank, blurred flat) has a near-arbitrary hash and carries no finding. Searched before
    # the ledger's write lock, so no other writer waits on it; completed under the lock,
    # which every claim takes: of two copies filed at the same instant, the second to get
    # the lock sees the first's hashes.
    with engine.connect() as conn:
        search = search_duplicates(
            conn=conn,
            phashes=[i.phash if i.quality.ok else None for i in inspections],
            max_distance=config.duplicate_max_distance,
        )
    try:
        with ledger.writer() as w:
            duplicates = search.complete(w.conn)
            evidence = ClaimEvidence(
                claim=claim,
                inspections=tuple(inspections),
                timeline=timeline,
                duplicates=tuple(tuple(d) for d in duplicates),
                recent_lot_claims=_recent_defect_claims(w.conn, claim.lot, config, now),
                model_release=_release_ref(ledger, inspections),
            )
            _record(
                w,
                claim_id=claim_id,
                evidence=evidence,
                assessment=assess(evidence, config=config, now=now),
                stored=stored,
                request=(idempotency_key, request_hash),
                webhooks=config.webhooks,
                now=now,
                actor=actor,
            )
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        if idempotency_key is not None and (
            found := _existing(engine, customer, idempotency_key, request_hash)
        ):
            return found, False
        raise
    return get_claim(engine, claim_id, now=now), True


def claim_timeline(ledger: Ledger, claim: ClaimInput) -> Timeline | None:
    """The lot's custody timeline, or None when the ledger holds no record of the lot."""
    customer = Party(claim.customer_id or "customer", "customer", "customer")
    try:
        return build_timeline(
            ledger=ledger, lot=claim.lot, delivered_at=claim.delivered_at, customer=customer
        )
    except UnknownLotError:
        # The complaint stands without records: it is accepted and goes to a person.
        return None


def _recent_defect_claims(
    conn: Connection, lot: str, config: ClaimsConfig, now: datetime
) -> tuple[str, ...]:
    """Ids of defect claims on the lot inside the lot-alert window."""
    since = now - config.lot_alert_window
    return tuple(
        conn.execute(
            select(claims.c.id).where(
                claims.c.lot == lot, claims.c.defective == 1, claims.c.created_at >= since
            )
        ).scalars()
    )


def _record(
    w: LedgerWriter,
    *,
    claim_id: str,
    evidence: ClaimEvidence,
    assessment: Assessment,
    stored: Sequence[StoredEvidence],
    request: tuple[str | None, str],
    webhooks: Sequence[str],
    now: datetime,
    actor: str | None = None,
) -> None:
    """Write the decision in the open ledger transaction: entries, rows, payment, webhooks."""
    claim, inspections, verdict = evidence.claim, evidence.inspections, assessment.verdict
    body = _evidence(
        claim_id=claim_id,
        claim=claim,
        stored=stored,
        inspections=inspections,
        duplicates=evidence.duplicates,
    )
    (ev,) = w.append_many([("claim.evidence", {**body, "filed_by": actor})])
    (vd,) = w.append_many(
        [
            (
                "claim.verdict",
                {
                    "claim_id": claim_id,
                    "evidence_index": ev.index,
                    "category": claim.category,
                    **verdict.as_dict(),
                },
            )
        ]
    )
    if assessment.lot_alert is not None:
        members = [*assessment.lot_alert, claim_id]
        (al,) = w.append_many([("lot.alert", {"lot": claim.lot, "claims": members})])
        w.conn.execute(
            insert(lot_alerts).values(
                lot=claim.lot, claim_ids=json.dumps(members), ledger_idx=al.index, created_at=now
            )
        )
    proposal = assessment.compensation
    compensation = {**jsonable(dataclasses.asdict(proposal)), "paid": False}
    if proposal.auto_pay:
        payment = pay(conn=w.conn, claim_id=claim_id, proposal=proposal, decided_by="auto", now=now)
        compensation |= {"paid": True, "payment": jsonable(dataclasses.asdict(payment))}
    ticket = jsonable(dataclasses.asdict(assessment.ticket))
    idempotency_key, request_hash = request
    w.conn.execute(
        insert(claims).values(
            id=claim_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            order_id=claim.order_id,
            customer_id=claim.customer_id,
            lot=claim.lot,
            category=claim.category,
            line_value=claim.line_value,
            currency=claim.currency,
            delivered_at=claim.delivered_at,
            description=claim.description,
            status=assessment.status,
            defective=int(bool(evidence.defects)),
            responsible_party=verdict.responsible_party,
            party_id=verdict.party_id,
            confidence=verdict.confidence,
            verdict=json.dumps(verdict.as_dict()),
            ticket=json.dumps(ticket),
            compensation=json.dumps(compensation),
            evidence_idx=ev.index,
            verdict_idx=vd.index,
            created_at=now,
        )
    )
    w.conn.execute(
        insert(claim_photos),
        [
            {
                "claim_id": claim_id,
                "position": n,
                "sha256": s.sha256,
                "inspection": json.dumps({**i.as_dict(), "duplicate_of": _matches(d)}),
            }
            for n, (s, i, d) in enumerate(
                zip(stored, inspections, evidence.duplicates, strict=True)
            )
        ],
    )
    remember_photos(
        conn=w.conn,
        claim_id=claim_id,
        photos=[(s.sha256, i.phash) for s, i in zip(stored, inspections, strict=True)],
    )
    enqueue(
        conn=w.conn,
        event_type="ticket.created",
        endpoints=list(webhooks),
        now=now,
        order_key=claim_id,
        payload={
            "claim_id": claim_id,
            "lot": claim.lot,
            "order_id": claim.order_id,
            "responsible_party": verdict.responsible_party,
            "ticket": ticket,
            "compensation": compensation,
            "ledger": {"evidence": ev.index, "verdict": vd.index},
        },
    )


def _inspect(inspector: Inspector, photos: Sequence[tuple[str, bytes]]) -> list[Inspection]:
    """Judge every photo, or refuse the claim naming the first photo that is not an image."""
    out = []
    for index, (name, data) in enumerate(photos):
        try:
            out.append(inspector.inspect(data, image=name))
        except ImageRejected as exc:
            raise PhotoRejectedError(index, exc) from exc
    return out


def _evidence(
    *,
    claim_id: str,
    claim: ClaimInput,
    stored: Sequence[StoredEvidence],
    inspections: Sequence[Inspection],
    duplicates: Sequence[Sequence[DuplicateMatch]],
) -> dict[str, Any]:
    """The ``claim.evidence`` ledger body: every photo's hashes, findings and near-copies."""
    return {
        "claim_id": claim_id,
        "order_id": claim.order_id,
        "lot": claim.lot,
        "photos": [
            {
                "sha256": s.sha256,
                "bytes": s.size,
                "quality": i.quality.as_dict(),
                "findings": [f.as_dict() for f in i.findings],
                "phash": format_phash(i.phash),
                "duplicate_of": _matches(d),
            }
            for s, i, d in zip(stored, inspections, duplicates, strict=True)
        ],
        "model": inspections[0].model,
    }


def _matches(found: Sequence[DuplicateMatch]) -> list[dict[str, object]]:
    return [m.as_dict() for m in found]


def _row_to_dict(
    row: Any, photos: list[Any], now: datetime | None, review: Review | None = None
) -> dict[str, Any]:
    """A claim as the API shows it: its one current state, with the machine's as history.

    ``verdict`` and ``compensation`` are the claim's state now (a person's decision, a
    payment, a proposal waiting for approval: ``claims.state.current_state``);
    ``machine_verdict`` and ``machine_compensation`` are what the machine said, as filed
    (or as re-assessed before anyone settled it). ``responsible_party`` and ``party_id``
    repeat the current verdict's. ``actions``: what a person may do now.
    """
    ticket = json.loads(row.ticket)
    review = review or Review((), None)
    machine_verdict = json.loads(row.verdict)
    machine_compensation = json.loads(row.compensation)
    verdict, compensation = current_state(
        machine_verdict=machine_verdict,
        machine_compensation=machine_compensation,
        decision=review.decision,
        payment=review.payment,
        proposal=review.pending,
    )
    out = {
        "id": row.id,
        "status": row.status,
        "order_id": row.order_id,
        "customer_id": row.customer_id,
        "lot": row.lot,
        "category": row.category,
        "line_value": str(row.line_value),
        "currency": row.currency,
        "delivered_at": row.delivered_at.isoformat(),
        "description": row.description,
        "created_at": row.created_at.isoformat(),
        "photos": [
            # Claims filed before duplicate detection have no duplicate_of; they read as none.
            {
                "position": p.position,
                "sha256": p.sha256,
                "duplicate_of": [],
                **json.loads(p.inspection),
            }
            for p in photos
        ],
        "responsible_party": verdict["responsible_party"],
        "party_id": verdict.get("party_id"),
        "verdict": verdict,
        "ticket": ticket,
        "compensation": compensation,
        "machine_verdict": machine_verdict,
        "machine_compensation": machine_compensation,
        "approval": review.proposal,
        "ledger": {"evidence_index": row.evidence_idx, "verdict_index": row.verdict_idx},
    }
    out["outcome"] = review.decision
    out["actions"] = allowed_actions(claim_state(row, review)).as_dict()
    # Late records: each re-assessment, and a settled claim's flag while no one has acted.
    out["reassessments"] = list(review.reassessments)
    out["flagged"] = review.flag
    if now is not None:
        status = review.status(ticket, now)
        out["ticket"] |= {
            "state": status.state,
            # Deadlines moved by the time spent waiting on the customer.
            "due": {
                "first_response": status.first_response_due.isoformat(),
                "resolution": status.resolution_due.isoformat(),
                "paused_s": status.paused.total_seconds(),
            },
            "sla": jsonable(dataclasses.asdict(status.sla)),
            "history": [e.as_dict() for e in review.events],
        }
    return out


def get_claim(engine: Engine, claim_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """One claim with its findings, verdict, ticket (SLA state at ``now``) and ledger refs."""
    with engine.connect() as conn:
        row = conn.execute(select(claims).where(claims.c.id == claim_id)).first()
        if row is None:
            raise UnknownClaimError(claim_id)
        return _views(conn, [row], now)[0]


def list_claims(
    engine: Engine,
    *,
    limit: int = 50,
    cursor: str | None = None,
    status: str | None = None,
    responsible_party: str | None = None,
    lot: str | None = None,
    now: datetime | None = None,
    customer_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, filtered; the cursor is the (created_at, id) of the last item shown."""
    query = select(claims).order_by(claims.c.created_at.desc(), claims.c.id.desc())
    if customer_id is not None:
        query = query.where(claims.c.customer_id == customer_id)
    if status:
        query = query.where(claims.c.status == status)
    if responsible_party:
        query = query.where(claims.c.responsible_party == responsible_party)
    if lot:
        query = query.where(claims.c.lot == lot)
    if cursor:
        try:
            at_text, last_id = cursor.split("~", 1)
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise InvalidClaimError("cursor", "is not a cursor this API returned") from exc
        query = query.where(
            or_(claims.c.created_at < at, and_(claims.c.created_at == at, claims.c.id < last_id))
        )
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
        items = _views(conn, rows[:limit], now)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return items, (f"{last.created_at.isoformat()}~{last.id}" if last is not None else None)


def _views(conn: Connection, rows: Sequence[Any], now: datetime | None) -> list[dict[str, Any]]:
    """Claim rows as the API shows them, with their photos and reviews in two more queries."""
    ids = [r.id for r in rows]
    photos = (
        conn.execute(
            select(claim_photos)
            .where(claim_photos.c.claim_id.in_(ids))
            .order_by(claim_photos.c.position)
        ).all()
        if ids
        else []
    )
    reviews = load_reviews(conn, ids)
    by_claim: dict[str, list[Any]] = {}
    for p in photos:
        by_claim.setdefault(p.claim_id, []).append(p)
    return [_row_to_dict(r, by_claim.get(r.id, []), now, reviews[r.id]) for r in rows]


def review_queue(
    engine: Engine, *, view: str | None, now: datetime, limit: int = 100, scan: int = 1000
) -> list[dict[str, Any]]:
    """Open claims in a queue view, the soonest resolution deadline first.

    Reads the ``scan`` most recent open claims; the views are computed on them.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(claims).where(claims.c.id.in_(open_ids(conn, scan)))).all()
        found = _views(conn, rows, now)
    # A resolved claim is back in the queue only while a late record's flag stands.
    chosen = [
        c
        for c in found
        if (c["status"] != "resolved" or c["flagged"] is not None) and queue_filter(view, c)
    ]
    chosen.sort(key=lambda c: c["ticket"]["due"]["resolution"])
    return chosen[:limit]


def count_claims(engine: Engine) -> int:
    """Total claims filed (for health and tests)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(claims)).scalar_one())
