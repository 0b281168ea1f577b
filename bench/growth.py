"""Claim filing as the claims and photos already stored grow: 10**3, 10**5, 10**6 (issue 24).

For each database (SQLite file, PostgreSQL) and each size N, a fresh database is migrated
and seeded directly with N claims and their N photos (bulk inserts, COPY on PostgreSQL:
claims, claim_photos, claim_photo_hashes and the near-duplicate index claim_photo_bands),
with uniformly random 64-bit pHashes. Then ``claims.service.file_claim`` files ``--claims``
claims one after another, each with its own new photo (a generated scene JPEG), and the
bench reports their p50/p95 and claims/s (one at a time: 1 / mean). The sizes' databases
are all seeded first and the claims filed in rounds that visit each size in turn, so a
change in the (shared, noisy) machine's load falls on every size alike.

The peer, measured in the same run on the same database: the old copied-photo check, a scan
of every stored hash in Python (``claims.duplicates.scan_duplicates``), which used to run
inside every claim's write lock; beside it the indexed search that replaced it
(``find_duplicates``) and how many stored rows its band lookups had to fetch and compare.

The photos are judged by a stub with the real decode, quality gate and pHash and a fixed
finding (``--inspector model``: the shipped model instead, ~60 ms a photo here), so what
grows with the stored claims is not hidden under the model's time. The lots have no
supply-chain records (the claim is filed undetermined): the custody timeline's cost
depends on the lot's records, not on the claims stored. The seeded claims have no ledger
entries; the ledger grows only by the claims filed here.

    .venv/bin/python bench/growth.py [--sizes 1000,100000,1000000] [--db sqlite,postgres]
        [--claims 200] [--rounds 10] [--inspector stub|model] [--peer-reps 3]

PostgreSQL: FRESHPROOF_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1
:5432/test); each size gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from api.services import Services, build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from claims.duplicates import find_duplicates, scan_duplicates  # noqa: E402
from claims.hash_bands import probe_plan, to_bands, to_signed  # noqa: E402
from claims.models import ClaimInput  # noqa: E402
from claims.service import file_claim  # noqa: E402
from claims.tables import claim_photos, claims, photo_bands, photo_hashes  # noqa: E402
from tests.conftest import jpeg_bytes, scene  # noqa: E402
from vision.image import assess_quality, decode_image  # noqa: E402
from vision.phash import phash  # noqa: E402
from vision.predictor import Finding, Inspection, Inspector  # noqa: E402

POSTGRES_URL = os.environ.get(
    "FRESHPROOF_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_BATCH = 20_000
# What a stored photo's inspection looks like (claim_photos.inspection), at its usual size.
_INSPECTION = json.dumps(
    {
        "image": "p0.jpg",
        "width": 480,
        "height": 360,
        "quality": {"ok": True, "issues": [], "brightness": 121.5, "sharpness": 311.2},
        "findings": [{"label": "spoilage", "score": 0.91, "box": [12.0, 40.5, 210.0, 300.25]}],
        "model": {"name": "freshproof-det", "version": "3", "sha256": "ab" * 32},
        "timing_ms": {"decode": 2.1, "preprocess": 1.2, "inference": 41.0, "postprocess": 0.4},
        "duplicate_of": [],
    }
)


class StubInspector:
    """Real decode, quality gate and pHash; a fixed spoilage finding on every good photo."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        """Judge one photo the cheap way (see the module docstring)."""
        decoded = decode_image(data)
        quality = assess_quality(decoded.rgb)
        box = (0.0, 0.0, float(decoded.width), float(decoded.height))
        return Inspection(
            image,
            hashlib.sha256(data).hexdigest(),
            decoded.width,
            decoded.height,
            quality,
            (Finding("spoilage", 0.95, box, False),) if quality.ok else (),
            {"name": "stub", "sha256": "0" * 64},
            phash=phash(decoded.rgb),
        )


@dataclass(frozen=True)
class Figures:
    """One database at one size."""

    db: str
    stored: int
    seed_s: float
    p50_ms: float
    p95_ms: float
    claims_per_s: float
    indexed_ms: float
    scan_ms: float
    candidates: int


# ---- seeding --------------------------------------------------------------------------------


def _rows(rng: random.Random, start: int, stop: int, now: datetime) -> dict[str, list[Any]]:
    """Claims ``start .. stop-1``, one photo each, as the bulk inserts take them."""
    out: dict[str, list[Any]] = {"claims": [], "photos": [], "hashes": [], "bands": []}
    for n in range(start, stop):
        claim_id = f"{rng.getrandbits(128):032x}"
        sha = f"{rng.getrandbits(256):064x}"
        value = rng.getrandbits(64)
        created = now - timedelta(seconds=60 * (stop - n))
        out["claims"].append(
            (
                claim_id, None, "0" * 64, f"ORD-{n}", f"cust-{n % 5000}", f"SEED-{n % 100_000}",
                "chilled", Decimal("12.50"), "EUR", created - timedelta(hours=3), None,
                "needs_review", 1, "undetermined", None, 0.4, '{"responsible_party": '
                '"undetermined", "reasons": []}', '{"priority": "P2"}', '{"paid": false}',
                2 * n, 2 * n + 1, created,
            )
        )  # fmt: skip
        out["photos"].append((claim_id, 0, sha, _INSPECTION))
        out["hashes"].append((claim_id, 0, sha, f"{value:016x}"))
        out["bands"].append((claim_id, 0, to_signed(value), *to_bands(value)))
    return out


_COLUMNS = {
    "claims": [c.name for c in claims.columns],
    "photos": [c.name for c in claim_photos.columns],
    "hashes": [c.name for c in photo_hashes.columns],
    "bands": ["claim_id", "position", "phash", "band0", "band1", "band2"],
}
_TABLES = {"claims": claims, "photos": claim_photos, "hashes": photo_hashes, "bands": photo_bands}


def _insert(conn: sa.Connection, kind: str, rows: list[Any]) -> None:
    table, columns = _TABLES[kind], _COLUMNS[kind]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor().copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def seed(engine: sa.Engine, count: int, rng: random.Random) -> float:
    """Store ``count`` claims with a photo each; the seconds it took."""
    started = time.perf_counter()
    now = datetime.now(UTC) - timedelta(days=1)
    for start in range(0, count, _BATCH):
        rows = _rows(rng, start, min(count, start + _BATCH), now)
        with engine.begin() as conn:
            for kind in ("claims", "photos", "hashes", "bands"):
                _insert(conn, kind, rows[kind])
    # What autovacuum does by itself on PostgreSQL: statistics, and the visibility map that
    # lets the band lookups read the indexes alone (index-only scans).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
    return time.perf_counter() - started


# ---- measuring ------------------------------------------------------------------------------


def _claim(n: int) -> ClaimInput:
    return ClaimInput(
        order_id=f"ORD-B{n}",
        lot=f"BENCH-{uuid.uuid4().hex[:12]}",
        category="chilled",
        line_value=Decimal("12.50"),
        currency="EUR",
        delivered_at=datetime.now(UTC) - timedelta(hours=2),
        customer_id=f"bench-{n}",
    )


def file_claims(services: Services, inspector: Inspector, photos: list[bytes]) -> list[float]:
    """File one claim per photo, one after another; each one's seconds."""
    took = []
    for n, photo in enumerate(photos):
        started = time.perf_counter()
        _, created = file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=inspector,
            claim=_claim(n),
            photos=[(f"p{n}.jpg", photo)],
            now=datetime.now(UTC),
            config=services.claims_config,
        )
        took.append(time.perf_counter() - started)
        assert created
    return took


def _median_ms(call: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def searches(engine: sa.Engine, reps: int, t: int, rng: random.Random) -> tuple[float, float, int]:
    """The indexed search and the old scan for one new hash: ms each; rows the index fetched."""
    query = rng.getrandbits(64)
    with engine.connect() as conn:
        indexed = _median_ms(
            lambda: find_duplicates(conn=conn, phashes=[query], max_distance=t), 5 * reps
        )
        scan = _median_ms(lambda: scan_duplicates(conn=conn, phashes=[query], max_distance=t), reps)
        plan = probe_plan([query], t) or []
        candidates = 0
        for column, values in zip(
            (photo_bands.c.band0, photo_bands.c.band1, photo_bands.c.band2),
            plan,
            strict=False,
        ):
            if values:
                found = sa.select(sa.func.count()).where(column.in_(sorted(values)))
                candidates += int(conn.execute(found).scalar_one())
    return indexed, scan, candidates


@contextmanager
def database(kind: str, scratch: Path) -> Iterator[str]:
    """A fresh database's URL: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'growth.db'}"
        return
    schema = f"growth_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Prepared:
    """One seeded database, open, and the claims timed on it so far."""

    size: int
    services: Services
    seed_s: float
    took: list[float]


def prepare(stack: ExitStack, kind: str, size: int, warm: list[bytes]) -> Prepared:
    """A fresh database seeded with ``size`` claims, a few claims filed on it untimed."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="growth-")))
    url = stack.enter_context(database(kind, tmp))
    settings = Settings(data_dir=tmp / "var", database_url=url, anchor_backend="none")
    services = build_services(settings)
    stack.callback(services.close)
    seed_s = seed(services.engine, size, random.Random(size))
    print(f"  {kind} {size:>9,}: seeded in {seed_s:.0f} s", flush=True)
    file_claims(services, StubInspector(), warm)
    return Prepared(size, services, seed_s, [])


def measure(
    kind: str, sizes: list[int], args: argparse.Namespace, inspector: Inspector
) -> list[Figures]:
    """Seed a database per size, then file the claims in rounds that visit every size in
    turn, so a change in the machine's load falls on every size alike."""
    seeds = iter(range(10**7, 10**8))
    with ExitStack() as stack:
        dbs = [
            prepare(
                stack, kind, size, [jpeg_bytes(scene(seed=next(seeds))) for _ in range(args.warmup)]
            )
            for size in sizes
        ]
        per_round = max(1, args.claims // args.rounds)
        for r in range(args.rounds):
            for db in dbs[r % len(dbs) :] + dbs[: r % len(dbs)]:
                photos = [jpeg_bytes(scene(seed=next(seeds))) for _ in range(per_round)]
                db.took += file_claims(db.services, inspector, photos)
        rows = []
        for db in dbs:
            t = db.services.claims_config.duplicate_max_distance
            indexed, scan, candidates = searches(
                db.services.engine, args.peer_reps, t, random.Random(-db.size)
            )
            ms = sorted(1000 * s for s in db.took)
            rows.append(
                Figures(
                    db=kind,
                    stored=db.size,
                    seed_s=db.seed_s,
                    p50_ms=statistics.median(ms),
                    p95_ms=ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
                    claims_per_s=len(ms) / sum(db.took),
                    indexed_ms=indexed,
                    scan_ms=scan,
                    candidates=candidates,
                )
            )
        return rows


def report(rows: list[Figures]) -> None:
    """The table, and each database's p50 at its largest size against its smallest."""
    print(
        f"\n{'db':<9}{'stored':>10}{'p50 ms':>9}{'p95 ms':>9}{'claims/s':>10}"
        f"{'index ms':>10}{'scan ms (peer)':>16}{'scan/index':>12}{'fetched':>9}"
    )
    for r in rows:
        print(
            f"{r.db:<9}{r.stored:>10,}{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}{r.claims_per_s:>10.1f}"
            f"{r.indexed_ms:>10.2f}{r.scan_ms:>16.1f}{r.scan_ms / r.indexed_ms:>11.0f}x"
            f"{r.candidates:>9,}"
        )
    for db in dict.fromkeys(r.db for r in rows):
        mine = [r for r in rows if r.db == db]
        if len(mine) > 1:
            small, large = mine[0], mine[-1]
            ratio = large.p50_ms / small.p50_ms
            verdict = "within 15%" if ratio <= 1.15 else "NOT within 15%"
            print(
                f"{db}: claim p50 at {large.stored:,} stored / at {small.stored:,}: "
                f"{ratio:.2f} ({verdict})"
            )


def main() -> None:
    """Parse the options, measure every database at every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="stored claims, comma-separated")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--claims", type=int, default=200, help="claims filed and timed")
    parser.add_argument("--warmup", type=int, default=10, help="claims filed first, untimed")
    parser.add_argument("--rounds", type=int, default=10, help="rounds over the sizes")
    parser.add_argument("--inspector", choices=["stub", "model"], default="stub")
    parser.add_argument("--peer-reps", type=int, default=3, help="runs of the old scan")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.inspector == "model":
        from vision.predictor import Predictor

        inspector: Inspector = Predictor.from_weights()
    else:
        inspector = StubInspector()
    rows = []
    for kind in args.db.split(","):
        rows += measure(kind, sizes, args, inspector)
        report([r for r in rows if r.db == kind])
    print(
        f"\nper size: {args.claims} claims filed in {args.rounds} rounds over the sizes "
        f"(after {args.warmup} untimed), one photo each; inspector: {args.inspector}"
    )
    report(rows)


if __name__ == "__main__":
    main()
