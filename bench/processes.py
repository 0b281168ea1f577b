"""Claims/s with one and with two ``freshproof serve`` processes on one PostgreSQL (issue 24).

Every claim takes the ledger's write lock (a PostgreSQL advisory lock, shared by every
process); the copied-photo search now runs before it, on the index in the database that
all processes share, so a second process should add throughput until the lock or the CPU
is the limit. A fresh PostgreSQL schema is migrated and seeded with ``--stored`` claims and
photos (``bench/growth.py``'s bulk seeding); two servers run on it with one data dir. Each
round drives, for ``--seconds``, ``--workers`` client threads at one server, then the same
threads split over both (the order alternating by round), each thread filing one-photo
claims back to back; figures are medians over the rounds.

The servers judge photos with a tiny ONNX model of the shipped layout
(``tests.conftest.tiny_onnx``; ``--model shipped`` for the real one, ~60 ms of CPU a photo
here): on this 2-core machine the real model alone would fill both cores, and the question
is what the database lets through.

    .venv/bin/python bench/processes.py [--stored 100000] [--seconds 20] [--rounds 3]
        [--workers 4] [--model tiny|shipped]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from api.services import build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.growth import database, seed  # noqa: E402
from bench.reliability import Outcome, base_env, create_key, file_claim  # noqa: E402
from bench.server import Server  # noqa: E402
from tests.conftest import jpeg_bytes, scene, write_tiny_release  # noqa: E402

_seeds = iter(range(2 * 10**8, 3 * 10**8))
_seeds_lock = threading.Lock()


def _photo() -> bytes:
    with _seeds_lock:
        n = next(_seeds)
    return jpeg_bytes(scene(240, 320, seed=n))


def drive(
    bases: list[str], headers: dict[str, str], *, workers: int, seconds: float
) -> tuple[list[Outcome], float]:
    """``workers`` threads, spread over ``bases``, filing claims back to back for ``seconds``."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < deadline:
                outcome = file_claim(client, headers, photo=_photo())
                with lock:
                    outcomes.append(outcome)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(bases[n % len(bases)],)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, time.monotonic() - started


def main() -> None:
    """Seed, start two servers, run the rounds, print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stored", type=int, default=100_000, help="claims seeded first")
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4, help="client threads in every phase")
    ap.add_argument("--model", choices=["tiny", "shipped"], default="tiny")
    args = ap.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fp-procs-")))
        url = stack.enter_context(database("postgres", tmp))
        data = tmp / "var"
        extra = {"FRESHPROOF_DATABASE_URL": url}
        if args.model == "tiny":
            extra["FRESHPROOF_WEIGHTS_DIR"] = str(write_tiny_release(tmp / "weights"))
        env = base_env(data, **extra)
        services = build_services(Settings(data_dir=data, database_url=url, anchor_backend="none"))
        try:
            took = seed(services.engine, args.stored, random.Random(args.stored))
        finally:
            services.close()
        print(f"seeded {args.stored:,} claims in {took:.0f} s", flush=True)
        headers = create_key(env, "customer_app", "--customer", "C-PROCS")
        servers = [Server(env, tmp / f"server{n}.log") for n in range(2)]
        for server in servers:
            stack.callback(server.stop)
            server.start()
            with httpx.Client(base_url=server.base, timeout=60) as client:
                file_claim(client, headers, photo=_photo())  # the model loads before any clock
        results: dict[int, list[float]] = {1: [], 2: []}
        errors: Counter[str] = Counter()
        for n in range(args.rounds):
            for procs in (1, 2) if n % 2 == 0 else (2, 1):
                bases = [s.base for s in servers[:procs]]
                outcomes, elapsed = drive(
                    bases, headers, workers=args.workers, seconds=args.seconds
                )
                per_s = sum(o.status == 201 for o in outcomes) / elapsed
                errors.update(str(o.status or o.error) for o in outcomes if o.status != 201)
                results[procs].append(per_s)
                ms = sorted(1000 * o.latency for o in outcomes)
                print(
                    f"round {n + 1}: {procs} process(es) {per_s:6.1f} claims/s  "
                    f"p50 {statistics.median(ms):6.1f} ms",
                    flush=True,
                )
    one, two = (statistics.median(results[p]) for p in (1, 2))
    print(
        f"\n{args.workers} client threads, {args.seconds:g} s phases, median of {args.rounds}, "
        f"{args.stored:,} claims stored first, model {args.model}:"
    )
    print(f"1 process: {one:.1f} claims/s; 2 processes: {two:.1f} claims/s ({two / one:.2f}x)")
    print(f"errors: {dict(errors) or 'none'}")


if __name__ == "__main__":
    main()
