"""Held captures: documents that wait for the sender's own record of a handover.

Parties post their records on their own schedules, so a receiver's receipt often arrives
before its sender's shipment. The authorship rule (``supplychain.authorship``, step 4)
accepts a receipt naming its sender only once the sender's side of the handover is on
record; until then such a document is **held** here rather than refused, and appended as
it was sent once the sender's record arrives:

1. **Which documents wait** (``awaits_senders``): those whose every refusal stands on a
   receipt from a named sender (``authorship.awaits_sender``: a source that is none of the
   key's parties, a destination that is one of them), or on a later event about a lot such
   a refused receipt is about (the receiver's inspection at receipt, its storing: they stand
   on the receipt). Any other refusal refuses the whole document, as before. The choice
   reads the refusals' shapes, never the history, so a 202 tells an outsider no more than
   the refusal of the same receipt did: its forged receipt "from" the holder is held like
   any other, never released (the holder never ships to it), and expires.
2. **Held** (``capture_or_hold``): the document's bytes, their SHA-256, the capturing key,
   its actor and the parties it spoke for, the lot identities it is about (one row each in
   ``held_capture_lots``) and the senders it awaits; decided and written under the ledger's
   write lock, so a sender's record cannot slip in between the refusal and the hold. The
   same bytes from the same key while held are the same held capture; a key holds at most
   ``HoldPolicy.max_per_key`` at once (``TooManyHeldError``), each for ``HoldPolicy.ttl``.
3. **Released** (``retry_held``): retried, whole, through the same capture and the same
   authorship check with its own key's parties and actor, in its own transaction, once
   records about its lots naming a sender it awaits arrive (``held_about``). One that now
   passes is appended and marked released with its ledger indices (its bytes dropped:
   its events are on the ledger, each as it was sent); one still refused stays
   held; an expired one is marked expired (its bytes dropped) and never released. Who
   drives the retries (after each capture, and whether the key still stands) is the API's
   business (``api.held_captures``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from ledger.log import Ledger
from supplychain.authorship import (
    NotYourCustodyError,
    Refused,
    awaits_sender,
    bound_to,
    identities,
)
from supplychain.capture import CaptureResult, by_event, capture_in
from supplychain.epcis import CaptureEvent, EPCISDocument, EPCISDocumentError, parse_document
from supplychain.errors import SupplyChainError
from supplychain.projections import projection_metadata

__all__ = [
    "Capturer",
    "HeldCapture",
    "HeldStatus",
    "HoldPolicy",
    "Released",
    "TooManyHeldError",
    "UnknownHeldCaptureError",
    "arrivals",
    "awaits_senders",
    "capture_or_hold",
    "get_held",
    "held_about",
    "held_capture_lots",
    "held_captures",
    "may_release",
    "retry_held",
]

HeldStatus = Literal["held", "released", "expired"]

held_captures = Table(
    "held_captures",
    projection_metadata,
    Column("id", String(40), primary_key=True),
    Column("digest", String(64), nullable=False),  # SHA-256 of ``document``, hex
    Column("document", LargeBinary, nullable=False),  # the bytes as sent; emptied when done
    Column("key_id", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("parties", Text, nullable=False),  # JSON array: the parties the key spoke for
    Column("senders", Text, nullable=False),  # JSON array: the senders it awaits
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("status", String(10), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    Column("ledger_indices", Text),  # JSON array, once released
    # A key's held documents: the per-key cap and the same bytes sent again.
    Index("ix_held_captures_key", "key_id", "status", "digest"),
    Index("ix_held_captures_expiry", "status", "expires_at"),
)

held_capture_lots = Table(
    "held_capture_lots",
    projection_metadata,
    Column("lot", String(300), primary_key=True),  # a lot identity (``lot_names.identity``)
    Column("held_id", String(40), primary_key=True),
    Index("ix_held_capture_lots_held", "held_id"),
)


@dataclass(frozen=True)
class Capturer:
    """Who sent a document: the key's id, how ledger entries name it, the parties it spoke for."""

    key_id: str
    actor: str
    parties: tuple[str, ...]


@dataclass(frozen=True)
class HoldPolicy:
    """How long a document waits for its senders' records, and how many one key may hold."""

    ttl: timedelta
    max_per_key: int


@dataclass(frozen=True)
class HeldCapture:
    """A document waiting for (or released by, or expired before) its senders' records."""

    id: str
    digest: str
    capturer: Capturer
    lots: tuple[str, ...]
    senders: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    status: HeldStatus
    released_at: datetime | None = None
    ledger_indices: tuple[int, ...] = ()

    def status_at(self, now: datetime) -> HeldStatus:
        """Its status at ``now``: a held document past ``expires_at`` is expired, marked or not."""
        return "expired" if self.status == "held" and self.expires_at <= now else self.status


class TooManyHeldError(SupplyChainError):
    """The key already holds as many documents as one key may (a key cannot fill the store)."""

    def __init__(self, key_id: str, limit: int) -> None:
        self.key_id, self.limit = key_id, limit
        self.reason = (
            f"this key already has {limit} documents held for their senders' records; "
            "send this one again once some are released or have expired"
        )
        super().__init__(self.reason)


class UnknownHeldCaptureError(SupplyChainError):
    """No held capture has this id (or not one the caller may see)."""

    def __init__(self, held_id: str) -> None:
        self.held_id = held_id
        self.reason = f"no held capture {held_id!r}"
        super().__init__(self.reason)


# --------------------------------------------------------------------------- the shape


def awaits_senders(
    events_in: Sequence[CaptureEvent], refusals: Collection[Refused], parties: Collection[str]
) -> bool:
    """Every refusal stands on a receipt awaiting its sender's record (step 1 above): it is on
    such a receipt, or on an event after one (in authorship's order: time, then document
    position) about a lot that receipt is about. A ``names-another-party`` refusal never
    waits: no record can change it."""
    if not refusals or any(r.rule != "not-your-custody" for r in refusals):
        return False
    by_index = {e.index: e for e in events_in}
    refused = [by_index[i] for i in sorted({r.event_index for r in refusals})]
    receipts = [e for e in refused if awaits_sender(e, parties)]

    def stands_on_receipt(e: CaptureEvent) -> bool:
        return any(
            (r.event_time, r.index) < (e.event_time, e.index) and identities(r) & identities(e)
            for r in receipts
        )

    return bool(receipts) and all(
        awaits_sender(e, parties) or stands_on_receipt(e) for e in refused
    )


_GIVEN = "<given>"
"""An arrival's ``to`` when the record gave the party the goods (it names it as receiver)."""


def arrivals(events_in: Iterable[CaptureEvent]) -> frozenset[tuple[str, str, str | None]]:
    """What captured events may release (``held_about``): per lot identity, each party an
    event names as sender with whom it names as receiver (None: no one), and each party it
    names as receiver with ``_GIVEN``."""
    out: set[tuple[str, str, str | None]] = set()
    for e in events_in:
        src, dst = e.possessing_party_source(), e.possessing_party_destination()
        for lot in identities(e):
            if src is not None:
                out.add((lot, src, dst))
            if dst is not None:
                out.add((lot, dst, _GIVEN))
    return frozenset(out)


def may_release(held: HeldCapture, arrived: Collection[tuple[str, str, str | None]]) -> bool:
    """A record about one of the document's lots that an awaited sender's side of the handover
    may stand on: the sender handing goods to one of the document's parties or to no one
    named, or a record giving the sender the goods (it may cite the receiver's order). A
    sender's records for anyone else do not retry it: a key holding forged receipts "from" a
    busy holder would otherwise make each of the holder's captures retry them all."""
    return any(
        lot in held.lots
        and sender in held.senders
        and (to in (None, _GIVEN) or to in held.capturer.parties)
        for lot, sender, to in arrived
    )


# --------------------------------------------------------------------------- holding


def capture_or_hold(
    *,
    ledger: Ledger,
    document: EPCISDocument,
    raw: bytes,
    capturer: Capturer,
    policy: HoldPolicy,
    now: datetime,
) -> CaptureResult | HeldCapture:
    """Capture the document (``capture_events`` with the authorship check), or hold it when
    its refusals all await senders' records (``awaits_senders``); any other refusal raises
    ``NotYourCustodyError`` as capture does. One transaction under the write lock."""
    with ledger.writer() as w:
        try:
            allowed = bound_to(capturer.parties)(w.conn, document.events)
        except NotYourCustodyError as exc:
            if not awaits_senders(document.events, exc.refusals, capturer.parties):
                raise
            senders = {
                p
                for e in document.events
                if awaits_sender(e, capturer.parties)
                and (p := e.possessing_party_source()) is not None
            }
            return _hold(w.conn, document, raw, capturer, sorted(senders), policy, now)
        return capture_in(
            w,
            document,
            actor=capturer.actor,
            speaks_for=capturer.parties,
            took_part=by_event(allowed),
        )


def _hold(
    conn: Connection,
    document: EPCISDocument,
    raw: bytes,
    capturer: Capturer,
    senders: Sequence[str],
    policy: HoldPolicy,
    now: datetime,
) -> HeldCapture:
    _expire(conn, now)
    digest = hashlib.sha256(raw).hexdigest()
    c = held_captures.c
    mine = (c.key_id == capturer.key_id) & (c.status == "held")
    same = conn.execute(select(held_captures).where(mine, c.digest == digest)).first()
    if same is not None:
        return _held_of(conn, same)
    count = conn.execute(select(func.count()).select_from(held_captures).where(mine)).scalar()
    if (count or 0) >= policy.max_per_key:
        raise TooManyHeldError(capturer.key_id, policy.max_per_key)
    held_id = secrets.token_hex(16)
    lots = sorted({lot for e in document.events for lot in identities(e)})
    conn.execute(
        insert(held_captures).values(
            id=held_id,
            digest=digest,
            document=raw,
            key_id=capturer.key_id,
            actor=capturer.actor,
            parties=json.dumps(sorted(capturer.parties)),
            senders=json.dumps(list(senders)),
            created_at=now,
            expires_at=now + policy.ttl,
            status="held",
        )
    )
    if lots:
        conn.execute(insert(held_capture_lots), [{"lot": k, "held_id": held_id} for k in lots])
    return HeldCapture(
        held_id,
        digest,
        Capturer(capturer.key_id, capturer.actor, tuple(sorted(capturer.parties))),
        tuple(lots),
        tuple(senders),
        now,
        now + policy.ttl,
        "held",
    )


def _expire(conn: Connection, now: datetime) -> None:
    """Mark every held document past its time expired and drop its bytes: a hostile key's
    forgeries do not stay in the store."""
    c = held_captures.c
    conn.execute(
        update(held_captures)
        .where(c.status == "held", c.expires_at <= now)
        .values(status="expired", document=b"")
    )


# --------------------------------------------------------------------------- releasing


def held_about(
    engine: Engine, *, arrived: Collection[tuple[str, str, str | None]]
) -> list[HeldCapture]:
    """The documents still held about the lots of ``arrived`` (``arrivals``) that those
    records may release (``may_release``), oldest first: the ones worth retrying (those past
    their time too, which ``retry_held`` marks expired)."""
    lots = sorted({lot for lot, _, _ in arrived})
    if not lots:
        return []
    c = held_captures.c
    found: dict[str, HeldCapture] = {}
    with engine.connect() as conn:
        for start in range(0, len(lots), 500):
            ids = select(held_capture_lots.c.held_id).where(
                held_capture_lots.c.lot.in_(lots[start : start + 500])
            )
            rows = conn.execute(select(held_captures).where(c.id.in_(ids), c.status == "held"))
            for row in rows:
                found[row.id] = _held_of(conn, row)
    due = [h for h in found.values() if may_release(h, arrived)]
    return sorted(due, key=lambda h: (h.created_at, h.id))


@dataclass(frozen=True)
class Released:
    """A held document appended at last: its record as released, what capture did, its events."""

    held: HeldCapture
    result: CaptureResult
    events: tuple[CaptureEvent, ...]


def retry_held(*, ledger: Ledger, held_id: str, now: datetime) -> Released | None:
    """Capture the held document now, whole, as its key would (its parties, its actor), in
    its own transaction: ``Released`` once it passes (marked released with its indices);
    None while still refused, once expired (marked so) or no longer held."""
    c = held_captures.c
    with ledger.writer() as w:
        row = w.conn.execute(select(held_captures).where(c.id == held_id)).first()
        if row is None or row.status != "held":
            return None
        if row.expires_at <= now:
            _expire(w.conn, now)
            return None
        try:  # checked against the capture limits when it was held
            document = parse_document(bytes(row.document))
        except EPCISDocumentError:
            return None  # a reader changed since refuses it: it waits, and expires
        parties: list[str] = json.loads(row.parties)
        try:
            allowed = bound_to(parties)(w.conn, document.events)
        except NotYourCustodyError:
            return None
        result = capture_in(
            w, document, actor=row.actor, speaks_for=parties, took_part=by_event(allowed)
        )
        w.conn.execute(
            update(held_captures)
            .where(c.id == held_id)
            .values(
                status="released",
                released_at=now,
                ledger_indices=json.dumps(result.indices),
                document=b"",  # the events are on the ledger now, each as it was sent
            )
        )
        row = w.conn.execute(select(held_captures).where(c.id == held_id)).one()
        return Released(_held_of(w.conn, row), result, document.events)


def get_held(engine: Engine, held_id: str) -> HeldCapture:
    """The held capture with this id, or ``UnknownHeldCaptureError``."""
    with engine.connect() as conn:
        row = conn.execute(select(held_captures).where(held_captures.c.id == held_id)).first()
        if row is None:
            raise UnknownHeldCaptureError(held_id)
        return _held_of(conn, row)


def _held_of(conn: Connection, row: Any) -> HeldCapture:
    lots = conn.execute(
        select(held_capture_lots.c.lot)
        .where(held_capture_lots.c.held_id == row.id)
        .order_by(held_capture_lots.c.lot)
    ).scalars()
    return HeldCapture(
        id=row.id,
        digest=row.digest,
        capturer=Capturer(row.key_id, row.actor, tuple(json.loads(row.parties))),
        lots=tuple(lots),
        senders=tuple(json.loads(row.senders)),
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=row.status,
        released_at=row.released_at,
        ledger_indices=tuple(json.loads(row.ledger_indices or "[]")),
    )
