"""The webhook relay: delivers due outbox rows and loses nothing.

The relay POSTs each due row, signed (``notifications.signatures``), and on any failure
retries with jittered exponential backoff until the receiver accepts or the row has used
its attempts and is dead-lettered. Delivery is at least once: receivers deduplicate on the
``Freshproof-Delivery-Id`` header, which stays the same across retries.

A row is not sent while an earlier row with its ``order_key`` and endpoint is still
pending; a dead-lettered row stops holding the ones behind it (they would otherwise wait
forever).

Claiming a row is a short transaction that leases it (pushes ``next_attempt_at`` past the
send); the outcome is written in a second one. A relay that dies mid-send therefore leaves
the row pending, and it is sent again once the lease has run out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import Engine, Row, select, update

from notifications.errors import InvalidRelaySettingError
from notifications.outbox import OutboxStatus, outbox
from notifications.signatures import (
    DELIVERY_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    sign,
)
from notifications.times import as_utc, utc_now

__all__ = ["Relay", "RelayReport"]

log = logging.getLogger("freshproof.outbox")

_MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class RelayReport:
    """What one relay pass did."""

    delivered: int
    retried: int
    dead: int


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
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        max_attempts: int = 30,
        base_delay_s: float = 2.0,
        max_delay_s: float = 3600.0,
        timeout_s: float = 5.0,
        lease_s: float | None = None,
    ) -> None:
        if not secret:
            raise InvalidRelaySettingError("secret", "must not be empty")
        if max_attempts < 1:
            raise InvalidRelaySettingError("max_attempts", "must be at least 1")
        if not 0 < base_delay_s <= max_delay_s:
            raise InvalidRelaySettingError("base_delay_s", "need 0 < base_delay_s <= max_delay_s")
        if timeout_s <= 0:
            raise InvalidRelaySettingError("timeout_s", "must be positive")
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
        return as_utc(self.clock(), "clock()")

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
