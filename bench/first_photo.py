"""The first photo after the API starts: how long a customer waits for its answer with the
model loaded when the service starts (``FRESHPROOF_PRELOAD_MODEL=true``, the default) and
with the model loaded by that first photo (``false``, the peer: how the service ran before),
measured in the same run, the two alternating on fresh data dirs.

    .venv/bin/python bench/first_photo.py [--rounds 3] [--settle 0]

Each round starts ``freshproof serve`` on an empty data dir and waits for what a load
balancer would wait for before sending it a customer: ``/healthz`` answering 200 and, with
the preload, ``/readyz`` answering 200 (the peer had no readiness check beyond ``/healthz``).
Then it waits ``--settle`` seconds more (0: a customer arriving at once), posts one photo to
``POST /v1/inspect`` and times it, then a second photo (the warm figure). Also printed: from
the process start, when it counted as ready and when ``/healthz`` first named what runs
(``running``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.claims import _create_key  # noqa: E402
from bench.server import Server  # noqa: E402

PHOTO = REPO / "datasets" / "fixtures" / "swollen_pouch.jpg"
SIDES = ((False, "model loaded by the first photo"), (True, "model loaded at start (default)"))


def _round(preload: bool, settle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "FRESHPROOF_DATA_DIR": tmp,
            "FRESHPROOF_ANCHOR_BACKEND": "none",
            "FRESHPROOF_PRELOAD_MODEL": "true" if preload else "false",
        }
        key = _create_key(env, "customer_app", "--customer", "BENCH-CUSTOMER")
        server = Server(env, Path(tmp) / "server.log")
        started = time.monotonic()
        up = server.start()
        try:
            with httpx.Client(base_url=server.base, timeout=60, headers=key) as client:
                while preload and client.get("/readyz").status_code != 200:
                    time.sleep(0.05)
                ready = time.monotonic() - started
                time.sleep(settle)
                files = [("photos", ("p.jpg", PHOTO.read_bytes(), "image/jpeg"))]
                times = []
                for _ in range(2):
                    t = time.perf_counter()
                    client.post("/v1/inspect", files=files).raise_for_status()
                    times.append(time.perf_counter() - t)
                running = float("nan")
                while time.monotonic() - started < 120:
                    if "running" in client.get("/healthz").json()["model"]:
                        running = time.monotonic() - started
                        break
                    time.sleep(0.05)
        finally:
            server.stop()
    return {"up": up, "ready": ready, "first": times[0], "second": times[1], "running": running}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=0.0, help="seconds after ready")
    args = ap.parse_args()
    got: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for r in range(args.rounds):
        for preload in (False, True) if r % 2 == 0 else (True, False):
            got[preload].append(_round(preload, args.settle))
    med = {p: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for p, rs in got.items()}
    print(
        f"{args.rounds} rounds each, alternating, settle {args.settle:.1f} s, {os.cpu_count()} CPUs"
    )
    print(
        f"{'side':34} {'healthz 200 s':>13} {'ready s':>8} {'1st photo s':>12} "
        f"{'2nd photo s':>12} {'running s':>10}"
    )
    for preload, label in SIDES:
        m = med[preload]
        print(
            f"{label:34} {m['up']:13.2f} {m['ready']:8.2f} {m['first']:12.3f} "
            f"{m['second']:12.3f} {m['running']:10.2f}"
        )
    ratio = med[False]["first"] / med[True]["first"]
    print(f"first photo after ready: peer/ours {ratio:.1f}x (higher: ours answers it sooner)")
    start = med[False]["ready"] + med[False]["first"], med[True]["ready"] + med[True]["first"]
    print(
        f"process start to the first photo answered: peer {start[0]:.2f} s, ours {start[1]:.2f} s"
    )


if __name__ == "__main__":
    main()
