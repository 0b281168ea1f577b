"""The outbox and its relay, against a real HTTP receiver on 127.0.0.1 that fails, then recovers."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from notifications.deliveries import redeliver
from notifications.errors import (
    DeliveryNotDeadError,
    InvalidEventError,
    MalformedSignatureError,
    SignatureMismatchError,
    StaleSignatureError,
    UnknownDeliveryError,
    WebhookSignatureError,
)
from notifications.outbox import enqueue, outbox
from notifications.relay import Relay, RelayReport
from notifications.signatures import sign, verify_signature

SECRET = b"whsec_test"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Receiver:
    """A real webhook receiver: answers 503 to its first ``fail`` requests, then 204.

    Given a secret it verifies every signature the way a customer's endpoint would (400 when
    one does not verify), and it processes each delivery id once.
    """

    def __init__(
        self,
        fail: int = 0,
        *,
        secret: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        delay_s: float = 0.0,
        port: int = 0,
    ) -> None:
        self.fail = fail
        self.seen: list[tuple[str, bytes, str]] = []  # (delivery id, body, signature header)
        self.event_types: list[str] = []
        self.rejected: list[str] = []
        self.processed: dict[str, bytes] = {}
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["Freshproof-Delivery-Id"]
                header = self.headers["Freshproof-Signature"]
                with lock:
                    receiver.seen.append((delivery, body, header))
                    receiver.event_types.append(self.headers["Freshproof-Event-Type"])
                    failing = len(receiver.seen) <= receiver.fail
                if delay_s:
                    time.sleep(delay_s)
                code = 503 if failing else 204
                if not failing and secret is not None:
                    try:
                        verify_signature(secret=secret, header=header, body=body, now=clock())
                    except WebhookSignatureError as exc:
                        receiver.rejected.append(exc.reason)
                        code = 400
                if code == 204:
                    with lock:
                        receiver.processed.setdefault(delivery, body)  # dedupe on the id
                try:
                    self.send_response(code)
                    self.end_headers()
                except OSError:
                    pass  # the relay gave up waiting (the timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=lambda: self.server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def clock() -> Clock:
    """A hand-driven clock."""
    return Clock()


@pytest.fixture
def receiver(clock: Clock) -> Iterator[Receiver]:
    """A receiver that fails twice, then accepts, verifying signatures on the test clock."""
    r = Receiver(fail=2, secret=SECRET, clock=clock)
    yield r
    r.close()


class MaxRandom(random.Random):
    """Full jitter at its ceiling, so backoff growth is exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class DyingTransport(httpx.BaseTransport):
    """A relay process that dies in the middle of a send."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("relay killed mid-send")


def _rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)))


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes, PostgreSQL aware ones.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _enqueue(engine: sa.Engine, clock: Clock, payload: dict[str, Any], *urls: str) -> list[str]:
    with engine.begin() as conn:
        return enqueue(
            conn=conn,
            event_type="ticket.created",
            payload=payload,
            endpoints=list(urls),
            now=clock.now,
        )


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"claim_id":"c1"}'
    at = datetime.fromtimestamp(1_700_000_000, UTC)
    header = sign(secret=SECRET, timestamp=1_700_000_000, body=body)
    # Known answer, computed with `openssl dgst -sha256 -hmac whsec_test`.
    assert header == (
        "t=1700000000,v1=31de3650d07543e1d4cd9ed9a52ae0aeff23936b573457e0533981383fb38daf"
    )
    verify_signature(secret=SECRET, header=header, body=body, now=at + timedelta(seconds=299))
    rotated = f"t=1700000000,v1={'0' * 64},{header.split(',')[1]}"
    verify_signature(secret=SECRET, header=rotated, body=body, now=at)
    with pytest.raises(SignatureMismatchError):
        verify_signature(secret=SECRET, header=header, body=b'{"claim_id":"c2"}', now=at)
    with pytest.raises(SignatureMismatchError):
        verify_signature(secret=b"other", header=header, body=body, now=at)
    for when in (at + timedelta(seconds=301), at - timedelta(minutes=10)):
        with pytest.raises(StaleSignatureError):
            verify_signature(secret=SECRET, header=header, body=body, now=when)
    for bad in ("", "garbage", "t=1700000000", "v1=abc", "t=soon,v1=abc", "t=1,t=2,v1=a"):
        with pytest.raises(MalformedSignatureError):
            verify_signature(secret=SECRET, header=bad, body=body, now=at)


def test_enqueue_writes_in_the_callers_transaction(claims_db: sa.Engine, clock: Clock) -> None:
    with claims_db.connect() as conn:
        tx = conn.begin()
        enqueue(conn=conn, event_type="x", payload={"a": 1}, endpoints=["http://a"], now=clock.now)
        tx.rollback()  # the verdict failed: its event must not exist either
    assert _rows(claims_db) == []
    ids = _enqueue(
        claims_db, clock, {"b": [1, 2], "a": "é"}, "http://a/h", "http://b/h", "http://a/h"
    )
    rows = _rows(claims_db)
    assert [r.delivery_id for r in rows] == ids and len(set(ids)) == 2
    assert [r.endpoint for r in rows] == ["http://a/h", "http://b/h"]
    assert {(r.payload, r.status, r.attempts) for r in rows} == {
        ('{"a":"\\u00e9","b":[1,2]}', "pending", 0)
    }
    with claims_db.begin() as conn, pytest.raises(InvalidEventError):
        enqueue(
            conn=conn,
            event_type="x",
            payload={"v": float("nan")},
            endpoints=["http://a"],
            now=clock.now,
        )


def test_failing_receiver_recovers_and_nothing_is_lost(
    claims_db: sa.Engine, clock: Clock, receiver: Receiver
) -> None:
    (delivery,) = _enqueue(claims_db, clock, {"claim_id": "c1", "value": "3.20"}, receiver.url)
    relay = Relay(claims_db, secret=SECRET, clock=clock, rng=random.Random(7))
    assert relay.run_once() == RelayReport(delivered=0, retried=1, dead=0)
    for attempts, ceiling_s in ((1, 4), (2, 8)):  # full jitter under base 2 s * 2**attempts
        (row,) = _rows(claims_db)
        assert (row.status, row.attempts, row.last_error) == ("pending", attempts, "HTTP 503")
        wait = _utc(row.next_attempt_at) - clock.now
        assert timedelta(0) < wait <= timedelta(seconds=ceiling_s)
        assert relay.run_once() == RelayReport(0, 0, 0)  # not due yet: nothing goes out early
        clock.now = _utc(row.next_attempt_at)
        want = RelayReport(0, 1, 0) if attempts == 1 else RelayReport(1, 0, 0)
        assert relay.run_once() == want
    (row,) = _rows(claims_db)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    assert _utc(row.delivered_at) == clock.now
    # The same delivery id on every try, the stored canonical bytes on the wire, all signed.
    assert [d for d, _, _ in receiver.seen] == [delivery] * 3
    assert {body for _, body, _ in receiver.seen} == {row.payload.encode()}
    assert receiver.event_types == ["ticket.created"] * 3
    assert receiver.rejected == [] and receiver.processed == {delivery: row.payload.encode()}
    assert json.loads(receiver.processed[delivery]) == {"claim_id": "c1", "value": "3.20"}
    relay.close()


def test_receiver_down_backs_off_then_dead_letters_then_redelivers(
    sqlite_claims_db: sa.Engine, clock: Clock
) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/hook"
    (delivery,) = _enqueue(sqlite_claims_db, clock, {"claim_id": "c2"}, url)
    relay = Relay(
        sqlite_claims_db,
        secret=SECRET,
        clock=clock,
        rng=MaxRandom(),
        max_attempts=4,
        base_delay_s=1.0,
    )
    waits = []
    for attempt in (1, 2, 3):
        assert relay.run_once().retried == 1
        (row,) = _rows(sqlite_claims_db)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error.startswith("ConnectError")
        waits.append((_utc(row.next_attempt_at) - clock.now).total_seconds())
        assert relay.run_once().retried == 0  # backing off: not tried again before it is due
        clock.now = _utc(row.next_attempt_at)
    assert waits == [2.0, 4.0, 8.0]  # base * 2**attempts, jitter at its ceiling
    assert relay.run_once().dead == 1
    (row,) = _rows(sqlite_claims_db)
    assert (row.status, row.attempts) == ("dead", 4)
    clock.advance(days=1)
    assert relay.run_once().delivered == 0  # dead rows are left alone...
    # ...until ops put them back once the receiver is up again, on the same port.
    up = Receiver(secret=SECRET, clock=clock, port=port)
    try:
        redeliver(engine=sqlite_claims_db, delivery_id=delivery, now=clock.now)
        (row,) = _rows(sqlite_claims_db)
        assert (row.status, row.attempts) == ("pending", 0)
        assert relay.run_once().delivered == 1
    finally:
        up.close()
    assert list(up.processed) == [delivery] and up.rejected == []
    relay.close()


def test_redeliver_refuses_unknown_and_live_rows(sqlite_claims_db: sa.Engine, clock: Clock) -> None:
    (delivery,) = _enqueue(sqlite_claims_db, clock, {"claim_id": "c5"}, "http://127.0.0.1:1/x")
    with pytest.raises(DeliveryNotDeadError) as err:
        redeliver(engine=sqlite_claims_db, delivery_id=delivery)
    assert err.value.status == "pending"
    with pytest.raises(UnknownDeliveryError):
        redeliver(engine=sqlite_claims_db, delivery_id="nope")


def test_slow_receiver_times_out_and_is_retried(sqlite_claims_db: sa.Engine, clock: Clock) -> None:
    slow = Receiver(delay_s=1.0)
    try:
        _enqueue(sqlite_claims_db, clock, {"claim_id": "c6"}, slow.url)
        with Relay(sqlite_claims_db, secret=SECRET, clock=clock, timeout_s=0.2) as relay:
            assert relay.run_once().retried == 1
    finally:
        slow.close()
    (row,) = _rows(sqlite_claims_db)
    assert (row.status, row.attempts) == ("pending", 1) and "Timeout" in row.last_error


def test_a_relay_that_dies_mid_send_loses_nothing(
    sqlite_claims_db: sa.Engine, clock: Clock, receiver: Receiver
) -> None:
    receiver.fail = 0
    (delivery,) = _enqueue(sqlite_claims_db, clock, {"claim_id": "c7"}, receiver.url)
    dying = Relay(
        sqlite_claims_db, secret=SECRET, clock=clock, transport=DyingTransport(), lease_s=60
    )
    with pytest.raises(RuntimeError):
        dying.run_once()
    healthy = Relay(sqlite_claims_db, secret=SECRET, clock=clock)
    # While the lease runs nobody else sends it (that would be a double send)...
    assert healthy.run_once().delivered == 0
    (row,) = _rows(sqlite_claims_db)
    assert (row.status, row.attempts) == ("pending", 0)
    # ...and once it has run out, the row goes out.
    clock.advance(seconds=61)
    assert healthy.run_once().delivered == 1
    assert list(receiver.processed) == [delivery]
    dying.close()
    healthy.close()


def test_two_relays_at_once_send_each_row_once(claims_db: sa.Engine) -> None:
    ok = Receiver()
    try:
        clock = Clock()
        ids = [_enqueue(claims_db, clock, {"n": n}, ok.url)[0] for n in range(30)]
        relays = [Relay(claims_db, secret=SECRET) for _ in range(2)]
        reports = []

        def work(relay: Relay) -> None:
            reports.append(relay.run_once())

        threads = [threading.Thread(target=work, args=(r,)) for r in relays]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        ok.close()
    for r in relays:
        r.close()
    assert sum(r.delivered for r in reports) == 30
    assert sorted(d for d, _, _ in ok.seen) == sorted(ids)  # no delivery sent twice
    assert {r.status for r in _rows(claims_db)} == {"delivered"}


def test_a_claims_events_arrive_in_order_after_a_failure(
    claims_db: sa.Engine, clock: Clock
) -> None:
    """The receiver refuses a claim's first event: its second waits; another claim's does not."""
    receiver = Receiver(fail=1, secret=SECRET, clock=clock)
    try:
        with claims_db.begin() as conn:
            ids = [
                enqueue(
                    conn=conn,
                    event_type=kind,
                    payload={"claim_id": claim, "kind": kind},
                    endpoints=[receiver.url],
                    now=clock.now,
                    order_key=claim,
                )[0]
                for claim, kind in (
                    ("c1", "ticket.created"),
                    ("c1", "ticket.updated"),
                    ("c2", "ticket.created"),
                )
            ]
        relay = Relay(claims_db, secret=SECRET, clock=clock, rng=MaxRandom(), base_delay_s=1.0)
        report = relay.run_once()
        # c1's created failed (the receiver's first answer): c1's updated is held back.
        assert (report.delivered, report.retried) == (1, 1)
        assert list(receiver.processed) == [ids[2]]
        assert [r.attempts for r in _rows(claims_db)] == [1, 0, 1]
        clock.advance(seconds=2)
        assert relay.run_once().delivered == 2
        assert list(receiver.processed) == [ids[2], ids[0], ids[1]]
        relay.close()
    finally:
        receiver.close()


def test_default_retries_outlast_a_night_without_an_operator(claims_db: sa.Engine) -> None:
    relay = Relay(claims_db, secret=SECRET)
    try:
        assert relay.min_retry_window() >= timedelta(hours=10)
        assert all(
            relay.backoff(n) >= timedelta(seconds=min(3600, 2 * 2**n) / 2) for n in range(1, 30)
        )
    finally:
        relay.close()
