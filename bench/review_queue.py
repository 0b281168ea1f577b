"""The review queue at 10^5 open claims: one indexed page against the views it replaced.

Claims are seeded straight into a fresh database (SQLite file, and a throwaway PostgreSQL
schema unless ``--no-postgres``): open ones over the last 30 days, a share acknowledged,
waiting on the customer (paused) or resumed, awaiting approval, on a lot alert, with a
copied photo; and resolved ones, a share of them flagged by late records. The queue's index
is then built the way the v0009 upgrade builds it (``claims.queue_index.refresh_queue`` a
thousand claims at a time), and timed.

Measured in the same run, medians of ``--repeat`` reads:

- ``index``: ``cases.queue.review_queue_page`` (one indexed SELECT per stream, the views of
  the page alone): the first page, each view's first page, and a page deep in the queue
  read through the cursor; and the upkeep every write now pays (one claim re-indexed);
- ``views``: the computation it replaced (issue 23's ``cases.queue.review_queue``): the
  1,000 most recent open claims' views built, filtered and sorted in Python; and how many
  of the right first page it shows at all (it never sees an older claim with a sooner
  deadline).

With ``--full``, the views of every open claim are also built once: what a right answer
cost before.

    .venv/bin/python bench/review_queue.py [--open 100000] [--resolved 10000] [--repeat 5]
        [--full] [--no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.database import load_tables  # noqa: E402
from cases.queue import QUEUE_FILTERS, queue_filter, review_queue_page  # noqa: E402
from claims.queue_index import refresh_queue  # noqa: E402
from claims.tables import (  # noqa: E402
    claim_photos,
    claim_reassessments,
    claims,
    review_queue,
    ticket_events,
)
from claims.views import views_of  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine  # noqa: E402

PAGE = 50
_VERDICT = {
    "responsible_party": "undetermined",
    "party_id": None,
    "confidence": 0.0,
    "reasons": [{"code": "NO_RECORDS", "message": "no records", "refs": [], "facts": {}}],
    "evidence": [],
    "relied_on": [],
    "rules_version": "bench",
}
_COMPENSATION = {
    "kind": "refund",
    "amount": "20.00",
    "currency": "EUR",
    "auto_pay": False,
    "reason": "an adjudicator decides",
    "refund": "20.00",
    "voucher": "0.00",
    "paid": False,
}


def _claim(rng: random.Random, now: datetime, n: int, resolved: bool) -> dict[str, Any]:
    created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
    alert = rng.random() < 0.05
    reasons = [{"rule": "lot_alert" if alert else "undetermined", "priority": "P1"}]
    hours = rng.choice((4, 24, 72))
    ticket = {
        "priority": "P1",
        "route": "adjudication",
        "first_response_due": (created + timedelta(hours=1)).isoformat(),
        "resolution_due": (created + timedelta(hours=hours)).isoformat(),
        "reasons": reasons,
    }
    status = "resolved" if resolved else rng.choice(("needs_review",) * 9 + ("awaiting_approval",))
    return {
        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "idempotency_key": None,
        "request_hash": "0" * 64,
        "order_id": f"o-{n}",
        "customer_id": "C-1",
        "lot": f"LOT-{n % 5000}",
        "category": "chilled_produce",
        "line_value": Decimal("20.00"),
        "currency": "EUR",
        "delivered_at": created - timedelta(hours=6),
        "description": None,
        "status": status,
        "defective": 1,
        "responsible_party": "undetermined",
        "party_id": None,
        "confidence": 0.0,
        "verdict": json.dumps(_VERDICT | {"needs_review": rng.random() < 0.7}),
        "ticket": json.dumps(ticket),
        "compensation": json.dumps(_COMPENSATION),
        "evidence_idx": 2 * n,
        "verdict_idx": 2 * n + 1,
        "created_at": created,
    }


def _photo(rng: random.Random, claim_id: str) -> dict[str, Any]:
    copied = [{"claim_id": "earlier", "position": 0, "distance": 2}] if rng.random() < 0.03 else []
    inspection = {"image": "p.jpg", "phash": "0" * 16, "findings": [], "duplicate_of": copied}
    return {
        "claim_id": claim_id,
        "position": 0,
        "sha256": "0" * 64,
        "inspection": json.dumps(inspection),
    }


def _moves(rng: random.Random, row: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """Ticket history: acknowledged, paused for the customer, paused then resumed, resolved."""
    at = row["created_at"] + timedelta(minutes=30)
    base = {"claim_id": row["id"], "actor": "bench", "note": "", "ledger_idx": index}
    if row["status"] == "resolved":
        return [base | {"at": at, "action": "resolve", "from_state": "new", "to_state": "resolved"}]
    kind = rng.random()
    if kind < 0.3:
        return [
            base
            | {"at": at, "action": "acknowledge", "from_state": "new", "to_state": "acknowledged"}
        ]
    if kind < 0.4:
        return [
            base
            | {
                "at": at,
                "action": "wait_on_customer",
                "from_state": "new",
                "to_state": "waiting_on_customer",
            }
        ]
    if kind < 0.5:
        return [
            base
            | {
                "at": at,
                "action": "wait_on_customer",
                "from_state": "new",
                "to_state": "waiting_on_customer",
            },
            base
            | {
                "at": at + timedelta(hours=5),
                "action": "resume",
                "from_state": "waiting_on_customer",
                "to_state": "acknowledged",
                "ledger_idx": index + 1,
            },
        ]
    return []


def _flag(row: dict[str, Any], index: int) -> dict[str, Any]:
    body = {
        "records": [{"index": 1}],
        "previous": {"responsible_party": "supplier"},
        "verdict": {"responsible_party": "warehouse"},
        "settled": "paid",
    }
    return {
        "claim_id": row["id"],
        "kind": "flagged",
        "body": json.dumps(body),
        "ledger_idx": index,
        "created_at": row["created_at"] + timedelta(hours=2),
    }


def seed(engine: sa.Engine, *, open_claims: int, resolved: int, now: datetime) -> float:
    """Fill the claims, photos, histories and flags; index them as the upgrade does (its time)."""
    rng = random.Random(24)
    batch = 5_000
    total = open_claims + resolved
    for start in range(0, total, batch):
        rows = [
            _claim(rng, now, n, n >= open_claims) for n in range(start, min(total, start + batch))
        ]
        index = 10 * (start + 1) * 10
        events, flags = [], []
        for k, row in enumerate(rows):
            events += _moves(rng, row, index + 4 * k)
            if row["status"] == "resolved" and rng.random() < 0.2:
                flags.append(_flag(row, index + 4 * k + 3))
        with engine.begin() as conn:
            conn.execute(sa.insert(claims), rows)
            conn.execute(sa.insert(claim_photos), [_photo(rng, r["id"]) for r in rows])
            if events:
                conn.execute(sa.insert(ticket_events), events)
            if flags:
                conn.execute(sa.insert(claim_reassessments), flags)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # the statistics autovacuum keeps on a live database
            conn.execute(sa.text("ANALYZE"))
    started = time.perf_counter()
    with engine.begin() as conn:
        ids = list(conn.execute(sa.select(claims.c.id).order_by(claims.c.id)).scalars())
        for start in range(0, len(ids), 1_000):
            refresh_queue(conn, ids[start : start + 1_000])
    indexing = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE review_queue"))
    return indexing


def old_queue(
    engine: sa.Engine, view: str | None, now: datetime, limit: int, scan: int = 1000
) -> list[dict[str, Any]]:
    """Issue 23's ``cases.queue.review_queue``, as it was (scan: the 1,000 most recent)."""
    flagged = sa.select(claim_reassessments.c.claim_id).where(
        claim_reassessments.c.kind == "flagged"
    )
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.select(claims.c.id)
                .where(sa.or_(claims.c.status != "resolved", claims.c.id.in_(flagged)))
                .order_by(claims.c.created_at.desc())
                .limit(scan)
            ).scalars()
        )
        found = []
        for start in range(0, len(ids), 5_000):  # under SQLite's bound-parameter limit
            chunk = ids[start : start + 5_000]
            rows = conn.execute(sa.select(claims).where(claims.c.id.in_(chunk))).all()
            found += views_of(conn, rows, now)
    chosen = [
        c
        for c in found
        if (c["status"] != "resolved" or c["flagged"] is not None) and queue_filter(view, c)
    ]
    chosen.sort(key=lambda c: c["ticket"]["due"]["resolution"])
    return chosen[:limit]


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _order_only(conn: sa.Connection, now: datetime) -> None:
    """The page's ids alone: what the index answers before any view is built."""
    q = review_queue.c
    for paused in (0, 1):
        query = sa.select(q.due_us, q.claim_id).where(q.view == "all", q.paused == paused)
        conn.execute(query.order_by(q.due_us, q.claim_id).limit(PAGE + 1)).all()


def _refresh_one(engine: sa.Engine, ids: list[str]) -> None:
    """What every write now adds: one claim's index rows rewritten (rolled back)."""
    with engine.connect() as conn:
        refresh_queue(conn, [ids.pop()])
        conn.rollback()


def _deep_cursor(engine: sa.Engine, now: datetime, pages: int) -> str | None:
    cursor = None
    for _ in range(pages):
        _, cursor = review_queue_page(engine, view=None, now=now, limit=PAGE, cursor=cursor)
    return cursor


def measure(name: str, engine: sa.Engine, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    migrate.upgrade(engine, metadata=load_tables())
    started = time.perf_counter()
    indexing = seed(engine, open_claims=args.open, resolved=args.resolved, now=now)
    seeding = time.perf_counter() - started - indexing
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(review_queue)).scalar_one()
    print(
        f"\n{name}: {args.open} open + {args.resolved} resolved claims seeded in {seeding:.1f} s;"
    )
    print(f"  indexed as the upgrade does in {indexing:.1f} s ({rows} review_queue rows)")
    deep = _deep_cursor(engine, now, args.deep)
    print(
        f"  {'read':<34} {'index ms':>9} {'views ms':>9} {'ratio':>7}  of the right page, views shows"
    )
    for view in (None, *QUEUE_FILTERS):
        new = _median_ms(
            lambda v=view: review_queue_page(engine, view=v, now=now, limit=PAGE), args.repeat
        )
        old = _median_ms(lambda v=view: old_queue(engine, v, now, PAGE), args.repeat)
        right = [c["id"] for c in review_queue_page(engine, view=view, now=now, limit=PAGE)[0]]
        got = [c["id"] for c in old_queue(engine, view, now, PAGE)]
        same = len(set(right) & set(got))
        label = f"first {PAGE}, view {view or '(all)'}"
        print(f"  {label:<34} {new:>9.1f} {old:>9.1f} {old / new:>6.1f}x  {same}/{len(right)}")
    page = _median_ms(
        lambda: review_queue_page(engine, view=None, now=now, limit=PAGE, cursor=deep), args.repeat
    )
    print(f"  {f'page {args.deep + 1} by cursor, (all)':<34} {page:>9.1f} {'-':>9} {'-':>7}")
    with engine.connect() as conn:
        streams = _median_ms(lambda: _order_only(conn, now), args.repeat)
    print(f"  {'of which the two index SELECTs':<34} {streams:>9.1f} {'-':>9} {'-':>7}")
    with engine.connect() as conn:
        some = list(conn.execute(sa.select(claims.c.id).limit(args.repeat * 20)).scalars())
    upkeep = _median_ms(lambda: _refresh_one(engine, some), len(some))
    print(f"  {'upkeep: one claim re-indexed':<34} {upkeep:>9.1f} {'-':>9} {'-':>7}")
    if args.full:
        started = time.perf_counter()
        everything = old_queue(engine, None, now, PAGE, scan=args.open + args.resolved)
        full = (time.perf_counter() - started) * 1000
        right = [c["id"] for c in review_queue_page(engine, view=None, now=now, limit=PAGE)[0]]
        same = [c["id"] for c in everything] == right
        print(f"  views of every open claim, (all), once: {full:.0f} ms; same page: {same}")


@contextmanager
def _postgres(url: str) -> Iterator[sa.Engine]:
    schema = f"bench_queue_{os.getpid()}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--resolved", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--deep", type=int, default=100, help="pages read before the deep one")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--full", action="store_true", help="also the views of every open claim, read once"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "FRESHPROOF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as scratch:
            engine = make_engine(f"sqlite:///{Path(scratch) / 'queue.db'}")
            try:
                measure("SQLite", engine, args)
            finally:
                engine.dispose()
    if not args.no_postgres:
        with _postgres(args.postgres) as engine:
            measure("PostgreSQL", engine, args)


if __name__ == "__main__":
    main()
