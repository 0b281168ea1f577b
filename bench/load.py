"""Claims under sustained load: latency percentiles, throughput, errors, and nothing lost.

``freshproof serve`` runs on loopback (embedded defaults: SQLite, local evidence, no chain,
no rate limit, its own data dir); this process drives it with ``workers`` threads, each
sending back to back through httpx, for ``seconds`` per phase. Each round runs three phases
on the same server, so the peers are measured in the same run (GUIDE §7):

- ``GET /healthz``: the floor, what the server answers with no work behind it;
- ``POST /v1/inspect`` with one photo: the model alone, nothing stored;
- ``POST /v1/claims`` with one photo: inspection, custody, verdict, ledger, ticket, storage.

Figures are medians over the rounds. Afterwards every claim answered 201 is read back (GET)
and every claim row checked whole (ledger entries, photos stored). Each claim's photo is
a distinct generated scene (240x320 JPEG, made in the client's thread: ~4 ms of the
client's CPU, which the 2 cores share with the server), so no claim is flagged as a copy.

    .venv/bin/python bench/load.py [--seconds 20] [--workers 4] [--rounds 3] [--soak-windows 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.reliability import (  # noqa: E402
    Outcome,
    Server,
    base_env,
    check_claims,
    claim_photo,
    create_key,
    file_claim,
    read_back,
)
from storage.evidence import LocalEvidenceStore  # noqa: E402

Call = Callable[[httpx.Client], Outcome]


def _healthz(client: httpx.Client) -> Outcome:
    started = time.monotonic()
    try:
        status = client.get("/healthz").status_code
    except httpx.HTTPError as exc:
        return Outcome(started, time.monotonic(), None, error=type(exc).__name__)
    return Outcome(started, time.monotonic(), status)


def _inspect(headers: dict[str, str], photo: bytes) -> Call:
    def call(client: httpx.Client) -> Outcome:
        started = time.monotonic()
        try:
            resp = client.post(
                "/v1/inspect", headers=headers, files=[("photos", ("p.jpg", photo, "image/jpeg"))]
            )
        except httpx.HTTPError as exc:
            return Outcome(started, time.monotonic(), None, error=type(exc).__name__)
        return Outcome(started, time.monotonic(), resp.status_code)

    return call


def _claim(headers: dict[str, str]) -> Call:
    def call(client: httpx.Client) -> Outcome:
        return file_claim(client, headers, photo=claim_photo(240, 320))

    return call


def drive(base: str, call: Call, *, workers: int, seconds: float) -> tuple[list[Outcome], float]:
    """``workers`` threads calling back to back for ``seconds``; outcomes and elapsed time."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < deadline:
                outcome = call(client)
                with lock:
                    outcomes.append(outcome)

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, time.monotonic() - started


def summarise(outcomes: list[Outcome], elapsed: float, ok: int) -> dict[str, Any]:
    """Throughput of answers with status ``ok``, latency percentiles of all, errors."""
    latencies = sorted(o.latency * 1000 for o in outcomes)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "requests": len(outcomes),
        "per_s": sum(o.status == ok for o in outcomes) / elapsed,
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
        "errors": dict(Counter(str(o.status or o.error) for o in outcomes if o.status != ok)),
    }


def main() -> None:
    """Start a server, run the rounds, print medians and the after-check."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase")
    ap.add_argument("--workers", type=int, default=4, help="concurrent client threads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--soak-windows",
        type=int,
        default=0,
        help="then claims only, this many more phases back to back: does throughput drift "
        "as the database grows?",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fp-load-") as tmp:
        data = Path(tmp) / "var"
        env = base_env(data)
        headers = create_key(env, "customer_app", "--customer", "C-LOAD")
        server = Server(env, Path(tmp) / "server.log")
        phases: dict[str, tuple[Call, int]] = {
            "healthz": (_healthz, 200),
            "inspect": (_inspect(headers, claim_photo(240, 320)), 200),
            "claims": (_claim(headers), 201),
        }
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
        acknowledged: list[str] = []
        try:
            server.start()
            with httpx.Client(base_url=server.base, timeout=60) as client:
                warm = file_claim(client, headers)  # the model loads before any clock runs
            acknowledged += [warm.claim_id] if warm.claim_id else []
            for n in range(args.rounds):
                for name, (call, ok) in phases.items():
                    outcomes, elapsed = drive(
                        server.base, call, workers=args.workers, seconds=args.seconds
                    )
                    figures = summarise(outcomes, elapsed, ok)
                    results[name].append(figures)
                    acknowledged += [o.claim_id for o in outcomes if o.claim_id]
                    print(
                        f"round {n + 1} {name:8s} {figures['per_s']:8.1f}/s  "
                        f"p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms  "
                        f"p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']}",
                        flush=True,
                    )
            for n in range(args.soak_windows):
                outcomes, elapsed = drive(
                    server.base, phases["claims"][0], workers=args.workers, seconds=args.seconds
                )
                acknowledged += [o.claim_id for o in outcomes if o.claim_id]
                figures = summarise(outcomes, elapsed, 201)
                print(
                    f"soak {n + 1} claims {figures['per_s']:8.1f}/s  p95 {figures['p95_ms']:7.1f} "
                    f"ms  errors {figures['errors']}  ({len(acknowledged)} claims filed so far)",
                    flush=True,
                )
            found = read_back(server.base, headers, acknowledged)
        finally:
            server.stop()
        rows = check_claims(
            f"sqlite:///{data / 'freshproof.db'}", LocalEvidenceStore(data / "evidence")
        )
    print(
        f"\n{args.workers} client threads, {args.seconds:g} s per phase, median of {args.rounds}:"
    )
    print("| phase | answers/s | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    medians = {}
    for name, rounds in results.items():
        med = {
            k: statistics.median(r[k] for r in rounds)
            for k in ("per_s", "p50_ms", "p95_ms", "p99_ms")
        }
        medians[name] = med
        errors = sum(sum(r["errors"].values()) for r in rounds)
        print(
            f"| {name} | {med['per_s']:.1f} | {med['p50_ms']:.0f} | {med['p95_ms']:.0f} | "
            f"{med['p99_ms']:.0f} | {errors} |"
        )
    claims_s = medians["claims"]["per_s"]
    print(
        f"claims/s vs inspect/s: {claims_s / medians['inspect']['per_s']:.2f}; "
        f"vs healthz/s: {claims_s / medians['healthz']['per_s']:.3f}"
    )
    print(
        f"acknowledged {len(acknowledged)}, found {found}, lost {len(acknowledged) - found}; "
        f"claim rows {rows['claim_rows']}, half-written {rows['half_written']}"
    )


if __name__ == "__main__":
    main()
