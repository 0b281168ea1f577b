"""Transactional outbox and a webhook relay that loses nothing.

Events are written to ``outbox`` in the caller's transaction, so a ticket event exists
exactly when its verdict does. The relay then POSTs each row, signed the way Stripe signs
webhooks (``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``), and on any failure
retries with jittered exponential backoff until the receiver accepts or the row has used
its attempts and is dead-lettered. Delivery is at least once: receivers deduplicate on the
``Freshproof-Delivery-Id`` header, which stays the same across retries.

Events that share an ``order_key`` (a claim's id) reach an endpoint in the order they were
queued: a row is not sent while an earlier row with its key and endpoint is still pending,
so after an outage a claim's ``ticket.updated`` never overtakes its ``ticket.created``. A
dead-lettered row stops holding the ones behind it (they would otherwise wait forever).

Claiming a row is a short transaction that leases it (pushes ``next_attempt_at`` past the
send); the outcome is written in a second one. A relay that dies mid-send therefore leaves
the row pending, and it is sent again once the lease has run out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import httpx
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from claims.errors import (
    DeliveryNotDeadError,
    InvalidEventError,
    InvalidPolicyError,
    MalformedSignatureError,
    NaiveDatetimeError,
    SignatureMismatchError,
    StaleSignatureError,
    UnknownDeliveryError,
)
from storage.schema import metadata

__all__ = [
    "DELIVERY_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "OutboxStatus",
    "Relay",
    "RelayReport",
    "canonical_json",
    "enqueue",
    "outbox",
    "redeliver",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "Freshproof-Signature"
DELIVERY_ID_HEADER = "Freshproof-Delivery-Id"
EVENT_TYPE_HEADER = "Freshproof-Event-Type"

OutboxStatus = Literal["pending", "delivered", "dead"]

log = logging.getLogger("freshproof.outbox")

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(32), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("endpoint", String(2000), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    # Rows with the same key go to an endpoint in id order (migration 0002).
    Column("order_key", String(200)),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_order_key", "order_key"),
)
"""One row per (event, endpoint); ``delivery_id`` is what receivers deduplicate on."""

_MAX_ERROR_CHARS = 1000


def _utc(value: datetime, name: str) -> datetime:
    # SQLite stores datetimes without their offset; keeping every stored time in UTC is what
    # makes ``next_attempt_at <= now`` compare correctly there.
    if value.tzinfo is None:
        raise NaiveDatetimeError(name)
    return value.astimezone(UTC)


def canonical_json(payload: dict[str, Any], *, event_type: str = "?") -> str:
    """The payload as sent: sorted keys, no spaces, ASCII, no NaN."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(event_type, str(exc)) from exc


def enqueue(
    *,
    conn: Connection,
    event_type: str,
    payload: dict[str, Any],
    endpoints: Sequence[str],
    now: datetime,
    order_key: str | None = None,
) -> list[str]:
    """Queue one delivery per endpoint in the caller's transaction; returns the delivery ids.

    ``order_key`` (a claim's id): deliveries sharing it reach each endpoint in this order.
    """
    body = canonical_json(payload, event_type=event_type)
    at = _utc(now, "now")
    rows: list[dict[str, Any]] = [
        {
            "delivery_id": uuid.uuid4().hex,
            "event_type": event_type,
            "payload": body,
            "endpoint": url,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "order_key": order_key,
        }
        for url in dict.fromkeys(endpoints)  # the same endpoint twice is one delivery
    ]
    if rows:
        conn.execute(insert(outbox), rows)
    return [r["delivery_id"] for r in rows]


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(*, secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Freshproof-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    *, secret: bytes, header: str, body: bytes, now: datetime, tolerance_s: int = 300
) -> None:
    """For receivers: return if ``header`` signs ``body``, else raise a signature error.

    Several ``v1`` entries are allowed (a sender rotating secrets signs with both); the
    timestamp must be within ``tolerance_s`` of ``now`` either way, to refuse replays.
    """
    timestamp: int | None = None
    given: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignatureError(header)
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise MalformedSignatureError(header)
            timestamp = int(value)
        elif key == "v1":
            given.append(value)
        # Other schemes (v0, future ones) are ignored, as Stripe's receivers do.
    if timestamp is None or not given:
        raise MalformedSignatureError(header)
    current = int(_utc(now, "now").timestamp())
    if abs(current - timestamp) > tolerance_s:
        raise StaleSignatureError(timestamp, current, tolerance_s)
    expected = _mac(secret, timestamp, body)
    # compare_digest on every candidate: no early exit that leaks which one nearly matched.
    if not any([hmac.compare_digest(expected, g) for g in given]):
        raise SignatureMismatchError()


@dataclass(frozen=True)
class RelayReport:
    """What one relay pass did."""

    delivered: int
    retried: int
    dead: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Relay:
    """Delivers due outbox rows; several relays may run at once (rows are leased).

    The defaults keep a row trying for at least ~10 hours before it is dead-lettered
    (``min_retry_window``): a receiver down for an hour, or a night, needs no operator.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        secret: bytes,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        rng: random.Random | None = None,
        max_attempts: int = 30,
        base_delay_s: float = 2.0,
        max_delay_s: float = 3600.0,
        timeout_s: float = 5.0,
        lease_s: float | None = None,
    ) -> None:
        if not secret:
            raise InvalidPolicyError("secret", "must not be empty")
        if max_attempts < 1:
            raise InvalidPolicyError("max_attempts", "must be at least 1")
        if not 0 < base_delay_s <= max_delay_s:
            raise InvalidPolicyError("base_delay_s", "need 0 < base_delay_s <= max_delay_s")
        if timeout_s <= 0:
            raise InvalidPolicyError("timeout_s", "must be positive")
        self.engine = engine
        self.secret = secret
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        # httpx's timeout is per phase (connect, write, each read), so a send can take a few
        # timeouts; the lease must outlast it or a second relay would send the row again.
        self.lease = timedelta(seconds=lease_s if lease_s is not None else 30 + 10 * timeout_s)
        self._client = httpx.Client(transport=transport, timeout=timeout_s)

    def __enter__(self) -> Relay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def backoff(self, attempts: int) -> timedelta:
        """Equal-jitter exponential backoff after the ``attempts``-th failed try.

        Half the capped exponential delay plus a random share of the other half: relays
        still spread out after an outage, and the wait is never shorter than half, so the
        retry window has a floor (``min_retry_window``) rather than only an average.
        """
        cap = min(self.max_delay_s, self.base_delay_s * 2**attempts)
        return timedelta(seconds=cap / 2 + self.rng.uniform(0, cap / 2))

    def min_retry_window(self) -> timedelta:
        """The shortest time between a row's first try and its dead-lettering."""
        floor = sum(
            min(self.max_delay_s, self.base_delay_s * 2**n) / 2 for n in range(1, self.max_attempts)
        )
        return timedelta(seconds=floor)

    def run_once(self, limit: int = 100) -> RelayReport:
        """Try each due pending delivery once (at most ``limit``); outcomes are committed."""
        delivered = retried = dead = 0
        after_id = 0  # each row at most once per pass, even if its backoff is already over
        tried = 0
        while tried < limit:
            row, after_id = self._claim(after_id)
            if row is None:
                break
            if isinstance(row, _Lost):
                continue
            tried += 1
            error = self._send(row)
            outcome = self._record(row, error)
            delivered += outcome == "delivered"
            retried += outcome == "pending"
            dead += outcome == "dead"
        return RelayReport(delivered, retried, dead)

    def _now(self) -> datetime:
        return _utc(self.clock(), "clock()")

    def _claim(self, after_id: int) -> tuple[Row[Any] | _Lost | None, int]:
        now = self._now()
        earlier = outbox.alias("earlier")
        held_back = (
            select(earlier.c.id)
            .where(
                earlier.c.status == "pending",
                earlier.c.order_key == outbox.c.order_key,
                earlier.c.endpoint == outbox.c.endpoint,
                earlier.c.id < outbox.c.id,
            )
            .exists()
        )
        query = (
            select(outbox)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
                outbox.c.id > after_id,
                # NULL keys compare unequal, so unkeyed rows are never held back.
                ~held_back,
            )
            .order_by(outbox.c.id)
            .limit(1)
        )
        with self.engine.begin() as conn:
            if conn.dialect.name != "sqlite":
                # Rows another relay is claiming are skipped instead of waited for.
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None, after_id
            # The guard makes the lease correct without row locks too (SQLite): only one
            # relay's update still finds the row due.
            leased = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row.id,
                    outbox.c.status == "pending",
                    outbox.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + self.lease)
            ).rowcount
        return (row if leased == 1 else _LOST), row.id

    def _send(self, row: Row[Any]) -> str | None:
        body = row.payload.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(
                secret=self.secret, timestamp=int(self._now().timestamp()), body=body
            ),
            DELIVERY_ID_HEADER: row.delivery_id,
            EVENT_TYPE_HEADER: row.event_type,
        }
        try:
            # Streamed so that a receiver's large error page is never read in full.
            with self._client.stream("POST", row.endpoint, content=body, headers=headers) as resp:
                if 200 <= resp.status_code < 300:
                    return None
                snippet = next(resp.iter_bytes(200), b"")[:200].decode("utf-8", "replace")
                return f"HTTP {resp.status_code}" + (f": {snippet}" if snippet else "")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return f"{type(exc).__name__}: {exc}"

    def _record(self, row: Row[Any], error: str | None) -> OutboxStatus | None:
        now = self._now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        outcome: OutboxStatus
        if error is None:
            outcome = "delivered"
            values |= {"status": outcome, "delivered_at": now, "last_error": None}
        elif attempts >= self.max_attempts:
            outcome = "dead"
            values |= {"status": outcome, "last_error": error[:_MAX_ERROR_CHARS]}
            log.warning(
                "webhook %s to %s dead after %d attempts: %s",
                row.delivery_id,
                row.endpoint,
                attempts,
                error,
            )
        else:
            outcome = "pending"
            values |= {
                "last_error": error[:_MAX_ERROR_CHARS],
                "next_attempt_at": now + self.backoff(attempts),
            }
        with self.engine.begin() as conn:
            # If this relay outlived its lease and another one already recorded this
            # attempt, ours is not written over theirs.
            written = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row.id,
                    outbox.c.status == "pending",
                    outbox.c.attempts == row.attempts,
                )
                .values(**values)
            ).rowcount
        return outcome if written == 1 else None


class _Lost:
    """A row another relay leased between our select and our update."""


_LOST = _Lost()


def redeliver(*, engine: Engine, delivery_id: str, now: datetime | None = None) -> None:
    """Put a dead delivery back in the queue with fresh attempts (after the receiver is fixed)."""
    at = _utc(now, "now") if now is not None else _utc_now()
    with engine.begin() as conn:
        status = conn.execute(
            select(outbox.c.status).where(outbox.c.delivery_id == delivery_id)
        ).scalar_one_or_none()
        if status is None:
            raise UnknownDeliveryError(delivery_id)
        changed = conn.execute(
            update(outbox)
            .where(outbox.c.delivery_id == delivery_id, outbox.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=at)
        ).rowcount
        if changed != 1:
            raise DeliveryNotDeadError(delivery_id, status)
