"""Ledger speed: appends/s (single and batched) on SQLite and PostgreSQL, proof generation
time and size at a large tree, and the time of a full audit.

    .venv/bin/python bench/ledger.py [--entries 1000000] [--postgres URL]

Published peers for context (not measured here): Tessera about 2,900 appends/s on a 12-core
VM with POSIX storage; immudb about 1.2 M entries/s embedded, 1,000-entry batches, 4 cores.
This machine has 2 cores; quote medians.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, text  # noqa: E402

from ledger.audit import audit  # noqa: E402
from ledger.log import Ledger  # noqa: E402
from ledger.note import Signer, generate_key  # noqa: E402
from ledger.proof import verify_consistency, verify_inclusion  # noqa: E402
from storage.db import make_engine  # noqa: E402

BODY = {"type": "ObjectEvent", "lot": "LOT-0001", "celsius": 4.2, "epc": "urn:epc:id:sgtin:1.2.3"}


def _rate(ledger: Ledger, *, batch: int, batches: int) -> list[float]:
    rates = []
    for _ in range(batches):
        items = [("bench", {**BODY, "i": i}) for i in range(batch)]
        t = time.perf_counter()
        if batch == 1:
            ledger.append(kind="bench", body=items[0][1])
        else:
            ledger.append_many(items)
        rates.append(batch / (time.perf_counter() - t))
    return rates


def _appends(name: str, engine: Engine) -> None:
    ledger = Ledger(engine)
    single = _rate(ledger, batch=1, batches=300)
    batched = _rate(ledger, batch=1000, batches=20)
    print(
        f"{name:10} single appends/s: median {statistics.median(single):9.0f}   "
        f"batched (1000) appends/s: median {statistics.median(batched):9.0f}, "
        f"best {max(batched):9.0f}"
    )


def _large(entries: int, signer: Signer, verifier: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/large.db")
        ledger = Ledger(engine)
        t = time.perf_counter()
        done = 0
        while done < entries:
            n = min(10_000, entries - done)
            ledger.append_many([("bench", {**BODY, "i": done + i}) for i in range(n)])
            done += n
        build = time.perf_counter() - t
        ledger.sign_checkpoint(signer)
        size = ledger.size()
        root = ledger.root(size)
        rng = random.Random(1)
        times, sizes = [], []
        for _ in range(200):
            idx = rng.randrange(size)
            t = time.perf_counter()
            proof = ledger.inclusion_proof(idx, size)
            times.append((time.perf_counter() - t) * 1e3)
            sizes.append(len(proof) * 32)
            verify_inclusion(
                leaf_index=idx,
                tree_size=size,
                leaf_hash=ledger.entry(idx).leaf_hash,
                proof=proof,
                root=root,
            )
        ctimes = []
        for _ in range(50):
            m = rng.randrange(1, size)
            t = time.perf_counter()
            cproof = ledger.consistency_proof(m, size)
            ctimes.append((time.perf_counter() - t) * 1e3)
            verify_consistency(size1=m, size2=size, proof=cproof, root1=ledger.root(m), root2=root)
        print(
            f"built {size} entries in {build:.1f} s ({size / build:.0f} appends/s, "
            f"batches of 10,000)"
        )
        print(
            f"inclusion proof at {size}: median {statistics.median(times):.3f} ms, "
            f"p95 {sorted(times)[int(0.95 * len(times))]:.3f} ms, "
            f"{statistics.median(sizes):.0f} bytes ({statistics.median(sizes) / 32:.0f} hashes)"
        )
        print(f"consistency proof: median {statistics.median(ctimes):.3f} ms")
        t = time.perf_counter()
        report = audit(engine, verifier_key=verifier)
        print(
            f"full audit of {report.size} entries ({report.nodes_checked} nodes, "
            f"{report.checkpoints_checked} checkpoint): {time.perf_counter() - t:.1f} s"
        )
        engine.dispose()


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "FRESHPROOF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        _appends("SQLite", engine)
        engine.dispose()
    try:
        engine = make_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS fp_bench CASCADE"))
            conn.execute(text("CREATE SCHEMA fp_bench"))
        engine.dispose()
        engine = make_engine(args.postgres, connect_args={"options": "-csearch_path=fp_bench"})
        _appends("PostgreSQL", engine)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA fp_bench CASCADE"))
        engine.dispose()
    except Exception as exc:  # a bench reports what it could not measure and goes on
        print(f"PostgreSQL: not measured ({type(exc).__name__}: {exc})")
    signer_text, verifier = generate_key("bench.local/ledger")
    _large(args.entries, Signer.from_string(signer_text), verifier)


if __name__ == "__main__":
    main()
