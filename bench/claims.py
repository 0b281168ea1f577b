"""End-to-end time of a one-photo claim over HTTP, against plain inspection of the same photo.

A real uvicorn server on localhost (embedded defaults: SQLite, local evidence, in-process
jobs) is fed a supply chain once; then N claims, each on its own lot, are filed one at a
time. The peer, measured in the same run on the same photo, is POST /v1/inspect: the
difference is what custody, rules, ledger and ticketing cost on top of the model.

Each call carries its caller's API key, made with ``freshproof keys create`` in the data
dir before the server starts: the supply chain's for parties and events, and one customer
app's for both the claims and the peer's inspections, so both pay the same key check.

    .venv/bin/python bench/claims.py [--n 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.server import Server  # noqa: E402
from supplychain.epcis.build import ZULU, epcis_document  # noqa: E402
from tests.api.test_claims import DC, FARM, TRUCK, _event, _series, _t  # noqa: E402


def _create_key(env: dict[str, str], role: str, *bindings: str) -> dict[str, str]:
    """``freshproof keys create`` in the bench's data dir; the key's Authorization header."""
    command = [sys.executable, "-m", "api.cli", "keys", "create", "--role", role]
    command += ["--name", f"bench {role}", *bindings]
    out = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {"Authorization": f"Bearer {out.stdout.strip()}"}


def _chain_doc(lot: str, delivered: datetime) -> dict[str, object]:
    t0 = delivered - timedelta(hours=14)
    events = [
        _event(lot, t0, "packing", src=FARM, temps=_series(t0, 2, [3, 3, 3])),
        _event(lot, t0 + timedelta(hours=2), "shipping", src=FARM, dst=DC),
        _event(
            lot,
            t0 + timedelta(hours=10),
            "shipping",
            src=DC,
            dst=TRUCK,
            temps=_series(t0 + timedelta(hours=2), 8, [3, 4, 3]),
        ),
        _event(
            lot,
            t0 + timedelta(hours=10, minutes=1),
            "storing",
            src=TRUCK,
            temps=_series(t0 + timedelta(hours=10, minutes=1), 3.9, [4, 11, 12, 4]),
        ),
    ]
    return epcis_document(events, creation_date=delivered, times=ZULU)


def main() -> None:
    """Start a server, file claims, print medians."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    photo = (REPO / "datasets" / "fixtures" / "swollen_pouch.jpg").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "FRESHPROOF_DATA_DIR": tmp,
            "FRESHPROOF_ANCHOR_BACKEND": "none",
            # No rate limit: the customer app's key sends 2 N + 4 requests back to back
            # (claims and inspections), past the default 120-request burst from --n 59 on
            # on a fast machine; a 429 would end the run rather than measure it.
            "FRESHPROOF_RATE_LIMIT_PER_MINUTE": "0",
        }
        parties = [arg for pid in (FARM, DC, TRUCK) for arg in ("--party", pid)]
        supply_chain = _create_key(env, "supply_chain", *parties)
        customer_app = _create_key(env, "customer_app", "--customer", "BENCH-CUSTOMER")
        server = Server(env, Path(tmp) / "server.log")
        server.start()
        try:
            with httpx.Client(base_url=server.base, timeout=30) as client:
                for pid, role in ((FARM, "supplier"), (DC, "warehouse"), (TRUCK, "carrier")):
                    client.post(
                        "/v1/parties",
                        json={"id": pid, "role": role, "name": role},
                        headers=supply_chain,
                    ).raise_for_status()
                delivered = datetime.now(UTC) - timedelta(hours=1)
                for i in range(args.n + 2):
                    client.post(
                        "/v1/events",
                        json=_chain_doc(f"BENCH-{i}", delivered),
                        headers=supply_chain,
                    ).raise_for_status()
                client.headers.update(customer_app)  # claims and the peer's inspections
                files = [("photos", ("p.jpg", photo, "image/jpeg"))]
                claim_ms, inspect_ms = [], []
                for i in range(args.n + 2):
                    claim = {
                        "order_id": f"B{i}",
                        "lot": f"BENCH-{i}",
                        "category": "chilled",
                        "line_value": "9.90",
                        "currency": "EUR",
                        "delivered_at": _t(delivered),
                    }
                    t = time.perf_counter()
                    r = client.post("/v1/claims", files=files, data={"claim": json.dumps(claim)})
                    elapsed = (time.perf_counter() - t) * 1e3
                    assert r.status_code == 201, r.text
                    t = time.perf_counter()
                    client.post("/v1/inspect", files=files).raise_for_status()
                    if i >= 2:  # the first two warm the model and the connection pool
                        claim_ms.append(elapsed)
                        inspect_ms.append((time.perf_counter() - t) * 1e3)
        finally:
            server.stop()
    print(f"{args.n} one-photo claims over HTTP on localhost, {os.cpu_count()} CPUs, SQLite")
    print(
        f"POST /v1/claims  median {statistics.median(claim_ms):7.1f} ms   "
        f"p95 {sorted(claim_ms)[int(0.95 * (len(claim_ms) - 1))]:7.1f} ms"
    )
    print(f"POST /v1/inspect median {statistics.median(inspect_ms):7.1f} ms   (peer: same photo)")
    print(f"claim / inspect: {statistics.median(claim_ms) / statistics.median(inspect_ms):.2f}x")


if __name__ == "__main__":
    main()
