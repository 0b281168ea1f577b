"""Claim rows: the queryable state of each claim; the ledger holds its evidence and verdict."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storage.schema import metadata

__all__ = [
    "claim_decisions",
    "claim_families",
    "claim_lot_keys",
    "claim_photos",
    "claim_reassessments",
    "claims",
    "lot_alerts",
    "photo_bands",
    "photo_hashes",
    "review_queue",
    "ticket_events",
]

claims = Table(
    "claims",
    metadata,
    Column("id", String(32), primary_key=True),
    # Unique per customer (``customer_idempotency_key`` below), not globally: one customer's
    # key never blocks, answers or reveals another's (``claims.service._existing``).
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", String(100), nullable=False),
    Column("customer_id", String(100)),
    Column("lot", String(300), nullable=False),
    Column("category", String(40), nullable=False),
    Column("line_value", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    Column("description", Text),
    Column("status", String(20), nullable=False),
    Column("defective", Integer, nullable=False),
    Column("responsible_party", String(20), nullable=False),
    Column("party_id", String(200)),
    Column("confidence", Float, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("ticket", Text, nullable=False),
    Column("compensation", Text, nullable=False),
    Column("evidence_idx", BigInteger, nullable=False),
    Column("verdict_idx", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_claims_lot_created", "lot", "created_at"),
    Index("ix_claims_created", "created_at", "id"),
    UniqueConstraint("customer_id", "idempotency_key", name="claims_customer_idempotency_key"),
)

# Its own table, not a column of claims: migration 0009 indexes the claims already filed by
# reading their rows whole with today's model, so a column added to claims after it would break
# upgrading any database from 0008 or before.
claim_lot_keys = Table(
    "claim_lot_keys",
    metadata,
    Column("claim_id", String(32), primary_key=True),
    Column("lot_key", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),  # the claim's
    Index("ix_claim_lot_keys_lot_created", "lot_key", "created_at"),
)
"""Each claim's lot key: the one name of its lot, whatever name the customer filed it by
(``claims.lot_keys``); the lot alert counts claims by it."""

# Its own table for the same reason (migration 0016); a row only for a claim that names it.
claim_families = Table(
    "claim_families",
    metadata,
    Column("claim_id", String(32), primary_key=True),
    Column("family", String(12), nullable=False),
)
"""What the product of a claim is, when the claim named it (``ClaimInput.family``)."""

claim_photos = Table(
    "claim_photos",
    metadata,
    Column("claim_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("inspection", Text, nullable=False),
)

# Its own table, not a column of claim_photos: it came before the migrations, when create_all
# could add a missing table to an existing database but never a missing column.
photo_hashes = Table(
    "claim_photo_hashes",
    metadata,
    Column("claim_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    # Hex, not an integer: half of all 64-bit hashes overflow the signed BIGINT of both
    # SQLite and PostgreSQL.
    Column("phash", String(16), nullable=False),
)
"""The perceptual hash of every stored claim photo, as filed."""

photo_bands = Table(
    "claim_photo_bands",
    metadata,
    # Given out under the ledger's write lock, like every row here, so in commit order: a
    # search done before the lock re-checks, under it, only the rows with a higher id
    # (``claims.duplicates``). AUTOINCREMENT: SQLite never hands out an id again.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("claim_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    # The whole pHash as a signed BIGINT (``claims.hash_bands.to_signed``), to check the
    # distance of a candidate; ``claim_photo_hashes.phash`` keeps the hex form, as filed.
    Column("phash", BigInteger, nullable=False),
    # The pHash in bands of 22, 21 and 21 bits, highest first (``claims.hash_bands``): every
    # stored hash within t bits of a photo's has a band within a few bits of the photo's.
    Column("band0", Integer, nullable=False),
    Column("band1", Integer, nullable=False),
    Column("band2", Integer, nullable=False),
    # Each index holds the hash and the id too, so a lookup reads the index alone: at a
    # million photos, fetching each candidate's table row was a random page read.
    Index("ix_claim_photo_bands_band0", "band0", "phash", "id"),
    Index("ix_claim_photo_bands_band1", "band1", "phash", "id"),
    Index("ix_claim_photo_bands_band2", "band2", "phash", "id"),
    sqlite_autoincrement=True,
)
"""The near-duplicate index: one row per ``claim_photo_hashes`` row, its hash cut in bands."""

lot_alerts = Table(
    "lot_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lot", String(300), nullable=False),
    Column("claim_ids", Text, nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(24), nullable=False),
    Column("from_state", String(24), nullable=False),
    Column("to_state", String(24), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
)
"""A ticket's history; its state and SLA are computed from it (``claims.review``)."""

claim_decisions = Table(
    "claim_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""Adjudicators' decisions, newest last; the latest is the claim's outcome."""

claim_reassessments = Table(
    "claim_reassessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # reassessed | flagged
    Column("body", Text, nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""Verdicts changed by late records, and settled claims flagged by them (``claims.reassess``)."""

claim_proposals = Table(
    "claim_proposals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("proposed_by", String(200), nullable=False),
    # The decision as proposed (DecisionInput's JSON) and what it would pay.
    Column("body", Text, nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Null while it waits; "approved" or "rejected" once a person answers (set once).
    Column("answer", String(10)),
    Column("answered_by", String(200)),
    Column("answer_note", Text),
    Column("answer_ledger_idx", BigInteger),
    Column("answered_at", DateTime(timezone=True)),
)
"""Compensation above the adjudicator's limit, proposed by one person, answered by a second."""

review_queue = Table(
    "review_queue",
    metadata,
    Column("claim_id", String(32), primary_key=True),
    # A queue view (``claims.queue_index.QUEUE_FILTERS``) or ``all``: one row per view.
    Column("view", String(20), primary_key=True),
    # 1 while the ticket waits on the customer: its deadline then moves with the clock.
    Column("paused", Integer, nullable=False),
    # The effective resolution deadline in microseconds since the epoch; less the time now
    # while paused (the deadline at ``now`` is then ``due_us + now``).
    Column("due_us", BigInteger, nullable=False),
    Index("ix_review_queue_order", "view", "paused", "due_us", "claim_id"),
)
"""What the review queue filters and orders on, per claim in it (``claims.queue_index``)."""
