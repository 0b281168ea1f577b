"""Initial schema: every table as the models defined it when migrations began.

Databases made before then (by ``create_all`` at start-up) have exactly these tables and
are adopted at this revision (``storage.migrate``). Lengths are literals, not the models'
constants: a revision is frozen history.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Index name -> (table, columns), created after the tables and dropped before them.
_INDEXES = {
    "ix_event_lots_hash": ("epcis_event_lots", ["hash_id"]),
    "ix_claims_lot_created": ("claims", ["lot", "created_at"]),
    "ix_claims_created": ("claims", ["created_at", "id"]),
    "ix_ticket_events_claim_id": ("ticket_events", ["claim_id"]),
    "ix_claim_decisions_claim_id": ("claim_decisions", ["claim_id"]),
    "ix_outbox_due": ("outbox", ["status", "next_attempt_at"]),
    "ix_model_releases_name": ("model_releases", ["name"]),
    "ix_model_gate_looks_split_id": ("model_gate_looks", ["split_id"]),
    "ix_web_sessions_key_id": ("web_sessions", ["key_id"]),
    "ix_station_reviews_status": ("station_reviews", ["status"]),
}


def _utc(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table and index."""
    # ledger/schema.py: the log, its tree nodes and its checkpoints.
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("idx", name=op.f("ledger_entries_pkey")),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("ledger_nodes_pkey")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("seq", name=op.f("ledger_checkpoints_pkey")),
    )

    # supplychain/projections.py: the party registry and the EPCIS event index.
    op.create_table(
        "parties",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("parties_pkey")),
    )
    op.create_table(
        "epcis_events",
        sa.Column("hash_id", sa.String(length=120), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        _utc("event_time"),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("biz_step", sa.String(length=60), nullable=True),
        sa.Column("disposition", sa.String(length=60), nullable=True),
        sa.Column("source_party", sa.String(length=200), nullable=True),
        sa.Column("destination_party", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("hash_id", name=op.f("epcis_events_pkey")),
        sa.UniqueConstraint("ledger_idx", name=op.f("epcis_events_ledger_idx_key")),
    )
    op.create_table(
        "epcis_event_lots",
        sa.Column("lot", sa.String(length=300), nullable=False),
        sa.Column("hash_id", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("lot", "hash_id", name=op.f("epcis_event_lots_pkey")),
    )

    # claims/tables.py: claims, their photos, alerts, tickets and decisions.
    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("lot", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("line_value", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _utc("delivered_at"),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("defective", sa.Integer(), nullable=False),
        sa.Column("responsible_party", sa.String(length=20), nullable=False),
        sa.Column("party_id", sa.String(length=200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("ticket", sa.Text(), nullable=False),
        sa.Column("compensation", sa.Text(), nullable=False),
        sa.Column("evidence_idx", sa.BigInteger(), nullable=False),
        sa.Column("verdict_idx", sa.BigInteger(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("claims_pkey")),
        sa.UniqueConstraint("idempotency_key", name=op.f("claims_idempotency_key_key")),
    )
    op.create_table(
        "claim_photos",
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("inspection", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "position", name=op.f("claim_photos_pkey")),
    )
    op.create_table(
        "claim_photo_hashes",
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("phash", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "position", name=op.f("claim_photo_hashes_pkey")),
    )
    op.create_table(
        "lot_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lot", sa.String(length=300), nullable=False),
        sa.Column("claim_ids", sa.Text(), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("lot_alerts_pkey")),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        _utc("at"),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=False),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("ticket_events_pkey")),
    )
    op.create_table(
        "claim_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("claim_decisions_pkey")),
    )

    # claims/compensation.py and claims/outbox.py: payments, webhook deliveries.
    op.create_table(
        "claims_payments",
        sa.Column("claim_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("voucher", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        _utc("paid_at"),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("claims_payments_pkey")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _utc("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("created_at"),
        _utc("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("outbox_pkey")),
        sa.UniqueConstraint("delivery_id", name=op.f("outbox_delivery_id_key")),
    )

    # claims/releases.py: which model release serves, by model name; the gate's looks.
    op.create_table(
        "model_releases",
        # No autoincrement=False, as in the model: a SERIAL on PostgreSQL, as it always was.
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ledger_idx", name=op.f("model_releases_pkey")),
    )
    op.create_table(
        "model_gate_looks",
        sa.Column("ledger_idx", sa.BigInteger(), nullable=False),
        sa.Column("split_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("candidate", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("ledger_idx", name=op.f("model_gate_looks_pkey")),
    )

    # api/auth/keys.py and api/web/session.py: API keys, workbench sessions.
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("station_id", sa.String(length=100), nullable=True),
        sa.Column("read_point", sa.String(length=200), nullable=True),
        _utc("created_at"),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _utc("expires_at", nullable=True),
        _utc("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("api_keys_pkey")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        _utc("created_at"),
        _utc("expires_at"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("web_sessions_pkey")),
    )

    # claims/stations.py and claims/station_jobs.py: station batches, reviews, queued jobs.
    op.create_table(
        "station_batches",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("station_id", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("station_batches_pkey")),
    )
    op.create_table(
        "station_reviews",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=200), nullable=False),
        sa.Column("read_point", sa.String(length=300), nullable=False),
        sa.Column("epc", sa.String(length=300), nullable=False),
        sa.Column("uri", sa.String(length=300), nullable=False),
        sa.Column("lot", sa.String(length=300), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("photos", sa.Text(), nullable=False),
        sa.Column("model_grade", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        _utc("created_at"),
        _utc("graded_at", nullable=True),
        sa.Column("graded_by", sa.String(length=200), nullable=True),
        sa.Column("condition", sa.String(length=20), nullable=True),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("station_reviews_pkey")),
    )
    op.create_table(
        "station_jobs",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("station_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _utc("submitted_at"),
        _utc("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("station_jobs_pkey")),
    )

    for name, (table, columns) in _INDEXES.items():
        op.create_index(op.f(name), table, columns, unique=False)


def downgrade() -> None:
    """Drop every index and table: the database is as empty as before revision 0001."""
    for name, (table, _) in reversed(_INDEXES.items()):
        op.drop_index(op.f(name), table_name=table)
    for table in (
        "station_jobs",
        "station_reviews",
        "station_batches",
        "web_sessions",
        "api_keys",
        "model_gate_looks",
        "model_releases",
        "outbox",
        "claims_payments",
        "claim_decisions",
        "ticket_events",
        "lot_alerts",
        "claim_photo_hashes",
        "claim_photos",
        "claims",
        "epcis_event_lots",
        "epcis_events",
        "parties",
        "ledger_checkpoints",
        "ledger_nodes",
        "ledger_entries",
    ):
        op.drop_table(table)
