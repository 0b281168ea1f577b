"""State shared across processes (issue 24): the cost of a key lookup and of a rate check.

Each figure beside its peer, measured in the same run, medians over ``--rounds``:

1. ``KeyStore.authenticate`` of one valid key: reading the key table on every call (the
   store as it was) and with the in-process cache of ``FRESHPROOF_KEY_CACHE_SECONDS=1``,
   on SQLite and, when it answers, on PostgreSQL (FRESHPROOF_TEST_POSTGRES_URL, a
   throwaway schema).
2. One rate-limit check: this process's token bucket, and the same bucket in Redis
   (FRESHPROOF_TEST_REDIS_URL, a throwaway key prefix) when Redis answers.
3. Whole requests in process (``TestClient``, one client back to back), ``GET
   /v1/ledger/entries/0`` with an auditor key (a key check and one entry read), on SQLite
   and PostgreSQL: no cache + local bucket (as it was), cache + local bucket, and cache +
   the bucket in Redis. Requests/s on a busy machine swing with its load; the CPU time
   this process spent per request (app, client and driver; not the database's or Redis's
   own) swings much less.

    .venv/bin/python bench/shared_state.py [--calls 2000] [--requests 100] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from api.auth.keys import KeyStore, create_key_tables  # noqa: E402
from api.auth.rate_limit import LocalBuckets, RedisBuckets  # noqa: E402
from storage.db import make_engine  # noqa: E402

POSTGRES_URL = os.environ.get(
    "FRESHPROOF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FRESHPROOF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _median_us(run: Callable[[], None], calls: int, rounds: int) -> float:
    """Median over rounds of the µs one call takes (``calls`` calls a round)."""
    per_call = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        per_call.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(per_call)


@contextmanager
def _postgres() -> Iterator[str | None]:
    """A URL into a throwaway PostgreSQL schema, dropped afterwards; None if none answers."""
    schema = f"bench_keys_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any driver or network failure: SQLite alone
        print(f"(PostgreSQL not measured: {type(exc).__name__})")
        yield None
        return
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def _databases(tmp: Path) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of each database to measure: SQLite, and PostgreSQL when it answers."""
    with _postgres() as pg:
        sqlite = [("sqlite", f"sqlite:///{tmp / f'{uuid.uuid4().hex[:6]}.db'}")]
        yield sqlite + ([("postgresql", pg)] if pg else [])


def bench_lookups(tmp: Path, calls: int, rounds: int) -> None:
    """1. authenticate: table every call vs. the 1 s cache."""
    print("1. KeyStore.authenticate, one valid key (µs per call, median)")
    with _databases(tmp) as databases:
        for name, url in databases:
            engine = make_engine(url)
            create_key_tables(engine)
            token, _ = KeyStore(engine).create(role="auditor", name="bench", created_by="bench")
            uncached = KeyStore(engine)
            cached = KeyStore(engine, cache_seconds=1.0)
            table_call = partial(uncached.authenticate, token)
            cache_call = partial(cached.authenticate, token)
            table_call(), cache_call()  # warm: connection pool, statement cache, the cache
            # Interleaved rounds, so drift in the machine's load hits both alike.
            table, cache = [], []
            for _ in range(rounds):
                table.append(_median_us(table_call, calls, 1))
                cache.append(_median_us(cache_call, calls, 1))
            t, c = statistics.median(table), statistics.median(cache)
            print(
                f"   {name:<10} table every call {t:8.1f} µs   cached {c:6.1f} µs   "
                f"ratio {t / c:5.1f}x"
            )
            engine.dispose()


def _redis_buckets(prefix: str) -> RedisBuckets | None:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"(Redis not measured: {type(exc).__name__})")
        return None
    finally:
        client.close()
    # 100,000 a second, a million at once: every check spends a token, the common case.
    return RedisBuckets.from_url(
        REDIS_URL, per_minute=6_000_000, burst=1_000_000, prefix=prefix, timeout=1.0
    )


def _forget(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def bench_rate_checks(calls: int, rounds: int, prefix: str) -> None:
    """2. One rate check: local bucket vs. Redis's."""
    print("2. one rate-limit check (µs per call, median)")
    local = LocalBuckets(6_000_000, 1_000_000)
    shared = _redis_buckets(prefix)
    local.spend("k")
    if shared is None:
        print(f"   local bucket {_median_us(partial(local.spend, 'k'), calls, rounds):6.1f} µs")
        return
    shared.spend("k")  # warm: the connection, the script loaded
    los, shs = [], []
    for _ in range(rounds):  # interleaved, as above
        los.append(_median_us(partial(local.spend, "k"), calls, 1))
        shs.append(_median_us(partial(shared.spend, "k"), calls, 1))
    shared.close()
    lo, sh = statistics.median(los), statistics.median(shs)
    print(
        f"   local bucket {lo:6.1f} µs   Redis (GCRA script) {sh:6.1f} µs   ratio {sh / lo:5.1f}x"
    )


@contextmanager
def _client(url: str, data: Path, **settings: Any) -> Iterator[tuple[Any, dict[str, str]]]:
    """A started app on ``url`` and an auditor's headers (the key's creation is entry 0)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(data_dir=data, database_url=url, anchor_backend="none", **settings))
    with TestClient(app) as client:
        token, _ = app.state.services.keys.create(role="auditor", name="b", created_by="bench")
        yield client, {"Authorization": f"Bearer {token}"}


def _rate(client: Any, headers: dict[str, str], requests: int) -> tuple[float, float]:
    """Requests per second (wall clock), and this process's CPU ms per request."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        answer = client.get("/v1/ledger/entries/0", headers=headers)
        assert answer.status_code == 200, answer.text
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return requests / wall, cpu / requests * 1e3


def bench_requests(tmp: Path, requests: int, rounds: int, prefix: str) -> None:
    """3. Whole requests in process, as it was and with each change, rounds interleaved."""
    print("3. GET /v1/ledger/entries/0 in process, one client (medians; CPU: this process only)")
    big = {"rate_limit_per_minute": 6_000_000, "rate_limit_burst": 1_000_000}
    configs: list[tuple[str, dict[str, Any]]] = [
        ("no cache, local bucket", {"key_cache_seconds": 0}),
        ("cache, local bucket", {"key_cache_seconds": 1.0}),
    ]
    if _redis_buckets(prefix) is not None:
        shared = {"redis_url": REDIS_URL, "redis_key_prefix": prefix}
        configs.append(("cache, Redis bucket", {"key_cache_seconds": 1.0, **shared}))
    names = ("sqlite", "postgresql")
    for name in names:
        with ExitStack() as stack:
            clients = []
            for _, config in configs:
                # A database of its own per app: each starts from the same empty state.
                urls = dict(stack.enter_context(_databases(tmp)))
                if name not in urls:
                    break
                data = tmp / f"app-{uuid.uuid4().hex[:6]}"
                clients.append(stack.enter_context(_client(urls[name], data, **config, **big)))
            if len(clients) != len(configs):
                continue
            # Interleaved rounds: the machine's load drifts alike for every configuration.
            rates: list[list[tuple[float, float]]] = [[] for _ in configs]
            for _ in range(rounds):
                for i, (client, headers) in enumerate(clients):
                    rates[i].append(_rate(client, headers, requests))
        print(f"   {name}")
        walls = []
        for (label, _), runs in zip(configs, rates, strict=True):
            wall = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            walls.append(wall)
            print(f"     {label:<24} {wall:7.1f} requests/s   {cpu:5.2f} ms CPU a request here")
        print(f"     cache / no cache: {walls[1] / walls[0]:4.2f}x requests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (1, 2)")
    parser.add_argument("--requests", type=int, default=100, help="requests per round (3)")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            bench_lookups(Path(tmp), args.calls, args.rounds)
            bench_rate_checks(args.calls, args.rounds, prefix)
            bench_requests(Path(tmp), args.requests, args.rounds, prefix)
        finally:
            _forget(prefix)


if __name__ == "__main__":
    main()
