"""Warehouse stations grade returns: a batch of items (EPC + photos) → a grade and, per item,
one EPCIS 2.0 ``ObjectEvent`` on the ledger (bizStep ``inspecting``, the station's read
point, the CBV disposition, the photos' hashes).

Failures are per item: an EPC that does not decode, the same EPC twice in a batch, or a
photo that is not an image fails its item, never the batch. An EPC whose lot the ledger does
not know is graded anyway, and the result says so; when the ledger knows the lot, the event
names it too, so the lot's trace shows the observation and responsibility reads it as a
handover inspection. A grade below the policy's confidence is left to a person: no event is
appended for it. Batch ids are the station's own and idempotent: the same id and content from
the same station answer the stored result, another content under the same id is refused, and
another station's same id is another batch (it neither sees nor blocks this one). The events
and the batch row commit together, so a batch graded twice (a retried job) is recorded once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.exc import IntegrityError

from ledger.log import Ledger
from stations.errors import BatchConflictError
from stations.grading import Grade, GradingPolicy, Kind, grade, other_lot
from storage.evidence import EvidenceStore
from storage.schema import metadata
from supplychain.capture import capture_in
from supplychain.epcis import build, parse_document
from supplychain.epcis.build import ObjectEvent, Quantity
from supplychain.identifiers.digital_link import lot as lot_of_key
from supplychain.identifiers.tds import EPCError, decode_epc
from supplychain.trace import lot_classes_of
from vision.errors import ImageRejected
from vision.ocr import LabelReaderLike
from vision.predictor import Inspector

__all__ = [
    "BatchResult",
    "ItemInput",
    "ItemResult",
    "Station",
    "batch_digest",
    "create_station_tables",
    "epcis_document",
    "grade_batch",
    "inspection_event",
    "request_digest",
    "station_batches",
    "station_reviews",
    "stored_batch",
]

station_batches = Table(
    "station_batches",
    metadata,
    Column("batch_id", String(200), nullable=False),
    Column("station_id", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A batch id is its station's own (migration 0005).
    PrimaryKeyConstraint("station_id", "batch_id"),
)
# Items the model was not sure of, until a person grades them (stations.review).
station_reviews = Table(
    "station_reviews",
    metadata,
    Column("batch_id", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("station_id", String(200), nullable=False),
    Column("read_point", String(300), nullable=False),
    Column("epc", String(300), nullable=False),
    Column("uri", String(300), nullable=False),
    Column("lot", String(300)),
    Column("kind", String(12), nullable=False),
    Column("photos", Text, nullable=False),  # JSON list of SHA-256
    Column("model_grade", Text, nullable=False),  # JSON: what the model said, and why not sure
    Column("status", String(12), nullable=False, index=True),  # open, graded
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("graded_at", DateTime(timezone=True)),
    Column("graded_by", String(200)),
    Column("condition", String(20)),
    Column("ledger_index", Integer),
    # The family the station named (migration 0015): a person's grade of the item is then
    # evidence for that family's operating points (cases.feedback, training.operating).
    Column("family", String(12)),
    PrimaryKeyConstraint("station_id", "batch_id", "position"),
)
_NS = "https://freshproof.dev/epcis/"
_CONTEXT = (build.EPCIS_CONTEXT, {"fp": _NS})


def create_station_tables(engine: Engine) -> None:
    """Create the batch table if missing."""
    metadata.create_all(engine)


@dataclass(frozen=True)
class Station:
    """Who grades: the station's id, its SGLN read point, and its key as the ledger names it."""

    station_id: str
    read_point: str
    actor: str


@dataclass(frozen=True)
class ItemInput:
    """One item as the station sends it."""

    epc: str
    kind: Kind
    photos: tuple[tuple[str, bytes], ...]
    # Where each photo is among the request's photo parts (an item names them by index);
    # empty: in the item's own order.
    request_photos: tuple[int, ...] = ()
    # What the item is (produce, parcel, can, pouch), when the station knows: the operating
    # point its grade is held to. None: every family its kind may be (the strictest).
    family: str | None = None
    # The photos' SHA-256 when the evidence store holds them already (a queued job's items,
    # stored by the API): not stored, nor hashed, again. Empty: stored as they are graded.
    stored: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome, in the order sent: its grade and event, or its error."""

    position: int
    epc: str
    uri: str | None = None
    gtin: str | None = None
    lot: str | None = None
    grade: Grade | None = None
    photos: tuple[str, ...] = ()
    ledger_index: int | None = None
    error: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    # The model that graded it: its version and release entry (from the inspections).
    model: dict[str, str] | None = None
    # The family the station named for it (produce, parcel, can, pouch), None if none.
    family: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ItemResult:
        """Back from ``as_dict``."""
        return cls(
            raw["position"],
            raw["epc"],
            raw["uri"],
            raw["gtin"],
            raw["lot"],
            Grade.from_dict(raw["grade"]) if raw["grade"] else None,
            tuple(raw["photos"]),
            raw["ledger_index"],
            raw["error"],
            tuple(raw["notes"]),
            raw["model"],
            raw.get("family"),  # items kept before the family was
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "position": self.position,
            "epc": self.epc,
            "uri": self.uri,
            "gtin": self.gtin,
            "lot": self.lot,
            "grade": self.grade.as_dict() if self.grade else None,
            "photos": list(self.photos),
            "ledger_index": self.ledger_index,
            "error": self.error,
            "notes": list(self.notes),
            "model": self.model,
            "family": self.family,
        }


@dataclass(frozen=True)
class BatchResult:
    """The batch's items, and whether this answer was stored before (a replay)."""

    batch_id: str
    station_id: str
    items: tuple[dict[str, Any], ...]
    replay: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def request_digest(items: Sequence[ItemInput]) -> str:
    """A batch's content as sent (``batch_digest`` of its photos' SHA-256).

    A queued item's photos come with their SHA-256 (``stored``: the store checked the bytes
    against it as it read them), so they are not hashed again.
    """
    return batch_digest(
        (
            i.epc,
            _kind_key(i.kind, i.family),
            [
                (name, sha256)
                for (name, _), sha256 in zip(i.photos, i.stored or _sha256s(i.photos), strict=True)
            ],
        )
        for i in items
    )


def _sha256s(photos: Sequence[tuple[str, bytes]]) -> list[str]:
    return [hashlib.sha256(data).hexdigest() for _, data in photos]


def _kind_key(kind: str, family: str | None) -> str:
    """The kind as the digest hashes it: with the family when one is named, so a batch
    without families hashes as it did before families existed."""
    return kind if family is None else f"{kind}/{family}"


def batch_digest(items: Iterable[tuple[str, str, Sequence[tuple[str, str]]]]) -> str:
    """What a batch's content hashes to: per item its EPC, kind and photos (name, SHA-256).

    A batch id sent again with this digest is a retry; with another, a conflict.
    """
    h = hashlib.sha256()
    for epc, kind, photos in items:
        h.update(json.dumps([epc, kind]).encode())
        for name, sha256 in photos:
            h.update(name.encode() + b"\0" + bytes.fromhex(sha256))
    return h.hexdigest()


def _identify(position: int, item: ItemInput, seen: set[str]) -> ItemResult:
    """The item's EPC decoded, or its error; ``seen`` catches an EPC sent twice."""
    try:
        sgtin = decode_epc(item.epc)
    except EPCError as exc:
        return ItemResult(position, item.epc, error={"type": "invalid-epc", "detail": exc.reason})
    if sgtin.uri in seen:
        err = {
            "type": "duplicate-epc",
            "detail": "this EPC is already an earlier item of the batch",
        }
        return ItemResult(position, item.epc, sgtin.uri, sgtin.gtin, error=err)
    seen.add(sgtin.uri)
    return ItemResult(position, item.epc, sgtin.uri, sgtin.gtin)


def _grade_item(
    found: ItemResult,
    item: ItemInput,
    *,
    inspector: Inspector,
    store: EvidenceStore,
    lot: str | None,
    policy: GradingPolicy,
    label_reader: LabelReaderLike | None = None,
) -> ItemResult:
    """One identified item judged, graded and its photos kept (``lot``: the one the ledger
    knows for its EPC); with a ``label_reader``, an item whose label reads another lot is
    left to a person.

    Independent of every other item, so the items of a batch run side by side.
    """
    inspections = []
    for n, (name, data) in enumerate(item.photos):
        try:
            inspections.append(inspector.inspect(data, image=name, family=item.family))
        except ImageRejected as exc:
            rejected = photo_rejected(str(exc), n, item.request_photos)
            return replace(found, error=rejected)
    photos = item.stored or tuple(store.put(data).sha256 for _, data in item.photos)
    notes: tuple[str, ...] = () if lot else ("the ledger knows no lot for this EPC: graded anyway",)
    graded = grade(item.kind, inspections, policy, family=item.family)
    if label_reader is not None:
        labels = [label_reader.read(data) for _, data in item.photos]
        graded, note = other_lot(graded, lot=lot_of_key(lot) if lot else None, labels=labels)
        notes += (note,) if note else ()
    return replace(found, lot=lot, grade=graded, photos=photos, notes=notes,
                   model=inspections[0].model if inspections else None,
                   family=item.family)  # fmt: skip


def photo_rejected(detail: str, n: int, request_photos: Sequence[int]) -> dict[str, Any]:
    """An item's photo-rejected error: ``photo_index`` counts within the item's ``photos``,
    ``request_photo_index`` among the request's photo parts (the index the item named)."""
    at = request_photos[n] if n < len(request_photos) else n
    return {
        "type": "photo-rejected",
        "detail": detail,
        "photo_index": n,
        "request_photo_index": at,
    }


def inspection_event(
    *,
    uri: str,
    lot: str | None,
    photos: Sequence[str],
    grade: Grade,
    station: Station,
    now: datetime,
    graded_by: str | None = None,
    model: dict[str, str] | None = None,
) -> ObjectEvent:
    """The EPCIS 2.0 ``ObjectEvent`` of one graded item: bizStep ``inspecting`` at the
    station's read point, the CBV disposition, the grade and the photos' hashes.

    ``graded_by``: the person who graded an item the model left to people (their key as the
    ledger names it); the model's own grades carry its confidence instead, and ``model``
    names the release that made them (its version and release entry).
    """
    verdict: dict[str, Any] = {"condition": grade.condition}
    if graded_by is None:
        verdict["confidence"] = round(grade.confidence, 4)
    else:
        verdict["graded_by"] = graded_by
    extensions: dict[str, Any] = {
        "fp:station": station.station_id,
        "fp:grade": verdict,
        "fp:photos": list(photos),
    }
    if model:
        extensions["fp:model"] = {
            k: model[k] for k in ("name", "version", "release_entry") if k in model
        }
    return ObjectEvent(
        event_time=now,
        biz_step="inspecting",
        disposition=grade.disposition,
        epcs=(uri,),
        quantities=(Quantity(lot, 1),) if lot else (),
        read_point=station.read_point,
        extensions=extensions,
    )


def epcis_document(events: Sequence[ObjectEvent], now: datetime) -> dict[str, Any]:
    """Station events as one EPCIS 2.0 document, ready for ``parse_document``."""
    return build.epcis_document(events, creation_date=now, context=_CONTEXT)


def grade_batch(
    *,
    ledger: Ledger,
    store: EvidenceStore,
    inspector: Inspector,
    station: Station,
    batch_id: str,
    items: Sequence[ItemInput],
    policy: GradingPolicy,
    now: datetime,
    refused: Mapping[int, dict[str, Any]] | None = None,
    pool: Executor | None = None,
    graded: Mapping[int, ItemResult] | None = None,
    on_graded: Callable[[ItemResult], None] | None = None,
    label_reader: LabelReaderLike | None = None,
) -> BatchResult:
    """Grade every item, append one event per graded item, remember the batch (see module).

    ``refused``: items already failed before grading (a photo the store could not keep).
    ``pool``: where the items are graded side by side (results keep the order sent); the
    inspector must then be safe to call from several threads, as ``Predictor`` is.
    ``graded``: items an earlier, interrupted run graded (by position), not graded again;
    ``on_graded`` is told of each item as this run grades it, so it can keep them.
    ``label_reader`` (None: off) reads each item's label; another lot leaves it to a person.
    """
    digest = request_digest(items)
    if (stored := stored_batch(ledger.engine, station.station_id, batch_id, digest)) is not None:
        return stored
    seen: set[str] = set()
    found = [
        ItemResult(position, item.epc, error=refused[position])
        if refused and position in refused
        else _identify(position, item, seen)
        for position, item in enumerate(items)
    ]

    def work(pair: tuple[ItemResult, ItemInput]) -> ItemResult:
        result, item = pair
        if result.error is not None:
            return result
        if graded and (earlier := graded.get(result.position)) is not None:
            return earlier
        done = _grade_item(
            result,
            item,
            inspector=inspector,
            store=store,
            lot=lots.get(result.uri or ""),
            policy=policy,
            label_reader=label_reader,
        )
        if on_graded is not None:
            on_graded(done)
        return done

    # Every item's lot in one query, not one round trip per item.
    todo = [r for r in found if r.error is None and not (graded and r.position in graded)]
    lots = lot_classes_of(ledger.engine, (r.uri for r in todo if r.uri))
    pairs = list(zip(found, items, strict=True))
    results = list(pool.map(work, pairs) if pool is not None else map(work, pairs))
    try:
        return _record(ledger, station, batch_id, digest, results, now)
    except IntegrityError:
        # Graded at the same time by another run (a job taken over while its first run still
        # went): that run's events and row stand, this one's rolled back with the insert.
        if (stored := stored_batch(ledger.engine, station.station_id, batch_id, digest)) is None:
            raise
        return stored


def _record(
    ledger: Ledger,
    station: Station,
    batch_id: str,
    digest: str,
    results: list[ItemResult],
    now: datetime,
) -> BatchResult:
    graded = [r for r in results if r.grade is not None and not r.grade.manual]
    events = [
        inspection_event(
            uri=r.uri or "",
            lot=r.lot,
            photos=r.photos,
            grade=r.grade,
            station=station,
            now=now,
            model=r.model,
        )
        for r in graded
        if r.grade
    ]
    with ledger.writer() as w:
        if events:
            captured = capture_in(
                w, parse_document(epcis_document(events, now)), actor=station.actor
            )
            indices = iter(i for _, i in captured.appended)
            by_position = {r.position: next(indices, None) for r in graded}
            results = [replace(r, ledger_index=by_position.get(r.position)) for r in results]
        manual = [
            _review_row(batch_id, r, station, now)
            for r in results
            if r.grade is not None and r.grade.manual
        ]
        if manual:
            w.conn.execute(station_reviews.insert(), manual)
        items = tuple(r.as_dict() for r in results)
        w.conn.execute(
            station_batches.insert().values(
                batch_id=batch_id,
                station_id=station.station_id,
                request_hash=digest,
                result=json.dumps(items),
                created_at=now,
            )
        )
    return BatchResult(batch_id, station.station_id, items, counts=_counts(items))


def _review_row(batch_id: str, r: ItemResult, station: Station, now: datetime) -> dict[str, Any]:
    assert r.grade is not None and r.uri is not None  # a graded item was identified
    return {
        "batch_id": batch_id,
        "position": r.position,
        "station_id": station.station_id,
        "read_point": station.read_point,
        "epc": r.epc,
        "uri": r.uri,
        "lot": r.lot,
        "kind": r.grade.kind,
        "family": r.family,
        "photos": json.dumps(list(r.photos)),
        "model_grade": json.dumps(r.grade.as_dict()),
        "status": "open",
        "created_at": now,
    }


def _counts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    out = {"items": len(items), "graded": 0, "manual": 0, "failed": 0}
    for i in items:
        key = "failed" if i["error"] else "manual" if i["grade"]["manual"] else "graded"
        out[key] += 1
    return out


def stored_batch(engine: Engine, station_id: str, batch_id: str, digest: str) -> BatchResult | None:
    """The station's batch recorded under ``batch_id`` as a replay, None when it has none;
    ``BatchConflictError`` when it was recorded with other content (``digest``)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(station_batches).where(
                station_batches.c.station_id == station_id, station_batches.c.batch_id == batch_id
            )
        ).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise BatchConflictError(batch_id)
    items = tuple(json.loads(row.result))
    return BatchResult(batch_id, row.station_id, items, replay=True, counts=_counts(items))
