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

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from claims.assessment import Assessment, ClaimEvidence, ClaimsConfig, assess
from claims.compensation import pay
from claims.duplicates import DuplicateMatch, remember_photos, search_duplicates
from claims.errors import (
    IdempotencyConflictError,
    InvalidClaimError,
    PhotoRejectedError,
)
from claims.jsonutil import jsonable
from claims.lot_keys import lot_key
from claims.models import ClaimInput
from claims.queue_index import refresh_queue
from claims.segments import LedgerRef, Party, Timeline
from claims.tables import claim_families, claim_lot_keys, claim_photos, claims, lot_alerts
from claims.timeline import build_timeline
from claims.views import get_claim
from ledger.log import Ledger, LedgerWriter
from notifications.outbox import enqueue
from storage.evidence import EvidenceStore, StoredEvidence
from storage.schema import metadata
from supplychain.lot_names import AmbiguousLotError
from supplychain.trace import UnknownLotError
from vision.errors import ImageRejected
from vision.label_text import LabelReading
from vision.ocr import LabelReaderLike
from vision.phash import format_phash
from vision.predictor import Inspection, Inspector

__all__ = [
    "ClaimInput",
    "ClaimsConfig",
    "LotRecords",
    "claim_records",
    "create_claim_tables",
    "file_claim",
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
    # A claim naming no family hashes as claims did before it could: a retry of a claim
    # filed before the field existed still answers the first claim.
    body = {
        **jsonable(claim.model_dump(exclude={"family"} if claim.family is None else None)),
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
    label_reader: LabelReaderLike | None = None,
) -> tuple[dict[str, Any], bool]:
    """File the claim; returns it and whether it was created (False: an idempotent replay).

    ``actor`` (who filed it: an API key) is named in the evidence entry. ``label_reader``
    (None: label reading is off) reads each photo's printed lot and dates (``claims.labels``).

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
    records = claim_records(ledger, claim)
    inspections = _inspect(inspector, photos, family=claim.family)
    if not any(i.quality.ok for i in inspections):
        # Nothing can be judged: tell the customer how to retake, and file nothing.
        advice = sorted({issue.message for i in inspections for issue in i.quality.issues})
        raise InvalidClaimError("photos", "no photo can be judged: " + "; ".join(advice))
    # Before the ledger's lock, as the photos' judging is: OCR is the slowest step of all.
    labels = tuple(label_reader.read(data) for _, data in photos) if label_reader else ()
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
        key = lot_key(conn, claim.lot)
    try:
        with ledger.writer() as w:
            duplicates = search.complete(w.conn)
            evidence = ClaimEvidence(
                claim=claim,
                inspections=tuple(inspections),
                timeline=records.timeline,
                ambiguous_lots=records.ambiguous,
                duplicates=tuple(tuple(d) for d in duplicates),
                recent_lot_claims=_recent_defect_claims(w.conn, key, config, now),
                model_release=_release_ref(ledger, inspections),
                labels=labels,
            )
            _record(
                w,
                claim_id=claim_id,
                evidence=evidence,
                assessment=assess(evidence, config=config, now=now),
                stored=stored,
                lot_key=key,
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


@dataclasses.dataclass(frozen=True)
class LotRecords:
    """What the ledger says of a claim's lot: its custody timeline (None: no record of it,
    or a lot number that names several lots, listed in ``ambiguous``)."""

    timeline: Timeline | None
    ambiguous: tuple[str, ...] = ()


def claim_records(ledger: Ledger, claim: ClaimInput) -> LotRecords:
    """The lot's custody timeline; the complaint stands without one either way: it is
    accepted and goes to a person."""
    customer = Party(claim.customer_id or "customer", "customer", "customer")
    try:
        return LotRecords(
            build_timeline(
                ledger=ledger, lot=claim.lot, delivered_at=claim.delivered_at, customer=customer
            )
        )
    except UnknownLotError:
        return LotRecords(None)
    except AmbiguousLotError as exc:
        # Two companies' lot "L1": which one the customer bought is a person's call.
        return LotRecords(None, exc.lots)


def _recent_defect_claims(
    conn: Connection, key: str, config: ClaimsConfig, now: datetime
) -> tuple[str, ...]:
    """Ids of defect claims on the lot (by its lot key, ``claims.lot_keys``: whichever of its
    names each was filed by) inside the lot-alert window."""
    since = now - config.lot_alert_window
    keyed = claim_lot_keys.c
    return tuple(
        conn.execute(
            select(keyed.claim_id)
            .join(claims, claims.c.id == keyed.claim_id)
            .where(keyed.lot_key == key, keyed.created_at >= since, claims.c.defective == 1)
        ).scalars()
    )


def _record(
    w: LedgerWriter,
    *,
    claim_id: str,
    evidence: ClaimEvidence,
    assessment: Assessment,
    stored: Sequence[StoredEvidence],
    lot_key: str,
    request: tuple[str | None, str],
    webhooks: Sequence[str],
    now: datetime,
    actor: str | None = None,
) -> None:
    """Write the decision in the open ledger transaction, in four steps: the ledger entries,
    the compensation (paid here when the policy pays without a person), the claim's rows,
    and the ticket's webhook notice (sent by the outbox after commit)."""
    labels = evidence.labels or (None,) * len(evidence.inspections)
    refs = _append_entries(
        w,
        claim_id=claim_id,
        evidence=evidence,
        assessment=assessment,
        stored=stored,
        labels=labels,
        lot_key=lot_key,
        actor=actor,
        now=now,
    )
    compensation = _compensate(w.conn, claim_id=claim_id, assessment=assessment, now=now)
    ticket = jsonable(dataclasses.asdict(assessment.ticket))
    _insert_rows(
        w.conn,
        claim_id=claim_id,
        evidence=evidence,
        assessment=assessment,
        stored=stored,
        labels=labels,
        lot_key=lot_key,
        refs=refs,
        request=request,
        ticket=ticket,
        compensation=compensation,
        now=now,
    )
    claim, verdict = evidence.claim, assessment.verdict
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
            "ledger": {"evidence": refs.evidence, "verdict": refs.verdict},
        },
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _EntryRefs:
    """Where a claim's evidence and verdict landed on the ledger."""

    evidence: int
    verdict: int


def _append_entries(
    w: LedgerWriter,
    *,
    claim_id: str,
    evidence: ClaimEvidence,
    assessment: Assessment,
    stored: Sequence[StoredEvidence],
    labels: Sequence[LabelReading | None],
    lot_key: str,
    actor: str | None,
    now: datetime,
) -> _EntryRefs:
    """The claim's ledger entries: its evidence, the verdict citing it, and a lot alert when
    this claim completes one (with the alert's row, which names the entry). The alert names
    the lot by its key: its claims may each have named it differently."""
    claim, verdict = evidence.claim, assessment.verdict
    body = _evidence(
        claim_id=claim_id,
        claim=claim,
        stored=stored,
        inspections=evidence.inspections,
        duplicates=evidence.duplicates,
        labels=labels,
    )
    (ev,) = w.append_many([("claim.evidence", {**body, "filed_by": actor})])
    verdict_body = {
        "claim_id": claim_id,
        "evidence_index": ev.index,
        "category": claim.category,
        **({"family": claim.family} if claim.family else {}),
        **verdict.as_dict(),
    }
    (vd,) = w.append_many([("claim.verdict", verdict_body)])
    if assessment.lot_alert is not None:
        members = [*assessment.lot_alert, claim_id]
        (al,) = w.append_many([("lot.alert", {"lot": lot_key, "claims": members})])
        w.conn.execute(
            insert(lot_alerts).values(
                lot=lot_key, claim_ids=json.dumps(members), ledger_idx=al.index, created_at=now
            )
        )
    return _EntryRefs(evidence=ev.index, verdict=vd.index)


def _compensate(
    conn: Connection, *, claim_id: str, assessment: Assessment, now: datetime
) -> dict[str, Any]:
    """The compensation as stored and notified; paid now only when the policy auto-pays."""
    proposal = assessment.compensation
    compensation = {**jsonable(dataclasses.asdict(proposal)), "paid": False}
    if proposal.auto_pay:
        payment = pay(conn=conn, claim_id=claim_id, proposal=proposal, decided_by="auto", now=now)
        compensation |= {"paid": True, "payment": jsonable(dataclasses.asdict(payment))}
    return compensation


def _insert_rows(
    conn: Connection,
    *,
    claim_id: str,
    evidence: ClaimEvidence,
    assessment: Assessment,
    stored: Sequence[StoredEvidence],
    labels: Sequence[LabelReading | None],
    lot_key: str,
    refs: _EntryRefs,
    request: tuple[str | None, str],
    ticket: dict[str, Any],
    compensation: dict[str, Any],
    now: datetime,
) -> None:
    """The claim's row, its lot key, one row per photo, the photos' hashes for later copy
    searches, and the claim's place in the review queue."""
    claim, inspections, verdict = evidence.claim, evidence.inspections, assessment.verdict
    idempotency_key, request_hash = request
    conn.execute(
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
            evidence_idx=refs.evidence,
            verdict_idx=refs.verdict,
            created_at=now,
        )
    )
    conn.execute(insert(claim_lot_keys).values(claim_id=claim_id, lot_key=lot_key, created_at=now))
    if claim.family is not None:
        conn.execute(insert(claim_families).values(claim_id=claim_id, family=claim.family))
    conn.execute(
        insert(claim_photos),
        [
            {
                "claim_id": claim_id,
                "position": n,
                "sha256": s.sha256,
                "inspection": json.dumps({**i.as_dict(), "duplicate_of": _matches(d), **_label(r)}),
            }
            for n, (s, i, d, r) in enumerate(
                zip(stored, inspections, evidence.duplicates, labels, strict=True)
            )
        ],
    )
    remember_photos(
        conn=conn,
        claim_id=claim_id,
        photos=[(s.sha256, i.phash) for s, i in zip(stored, inspections, strict=True)],
    )
    refresh_queue(conn, [claim_id])


def _inspect(
    inspector: Inspector, photos: Sequence[tuple[str, bytes]], *, family: str | None = None
) -> list[Inspection]:
    """Judge every photo (of ``family``, when the claim named one), or refuse the claim
    naming every photo that is not an image."""
    out = []
    rejected = []
    for index, (name, data) in enumerate(photos):
        try:
            out.append(inspector.inspect(data, image=name, family=family))
        except ImageRejected as exc:
            rejected.append((index, name, exc))
    if rejected:
        raise PhotoRejectedError(rejected)
    return out


def _evidence(
    *,
    claim_id: str,
    claim: ClaimInput,
    stored: Sequence[StoredEvidence],
    inspections: Sequence[Inspection],
    duplicates: Sequence[Sequence[DuplicateMatch]],
    labels: Sequence[LabelReading | None],
) -> dict[str, Any]:
    """The ``claim.evidence`` ledger body: every photo's hashes, findings and near-copies,
    and its label read when label reading is on."""
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
                # What the photo decides per family and whether alone: a reassessment
                # holds the claim for a person just as its filing did.
                **(
                    {"decisions": {f: x.as_dict() for f, x in i.decisions.items()}}
                    if i.decisions
                    else {}
                ),
                **_label(r),
            }
            for s, i, d, r in zip(stored, inspections, duplicates, labels, strict=True)
        ],
        "model": inspections[0].model,
    }


def _label(read: LabelReading | None) -> dict[str, Any]:
    """A photo's label read as stored with it (nothing when labels were not read)."""
    return {} if read is None else {"label": read.as_dict()}


def _matches(found: Sequence[DuplicateMatch]) -> list[dict[str, object]]:
    return [m.as_dict() for m in found]
