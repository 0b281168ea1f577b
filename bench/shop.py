"""A shop's week through the public API against a real server: every user at once.

A real server (``freshproof serve`` on the embedded defaults, a temporary data folder, the
published rate limits) and a local webhook receiver; the admin makes a key per user through
``POST /v1/keys``. Lots of every fault kind the real photos can show (simulator) go
through suppliers, carriers and warehouses, each party posting its own records with its own
key (some loggers report a leg as min/max/mean, some legs' readings arrive after the first
claim); customers file claims with real held-out photos (some copied from another claim,
some above the adjudicator's limit); stations grade returned items of the same lots;
adjudicators work the queue; an auditor samples it. Then the invariants are checked and
the figures printed; then (unless ``--no-retrain``) a retraining round from the week's
decisions: ``freshproof feedback export``, ``models retrain`` with a short budget, and
``models promote`` through the gate, on a copy of the weights (the repository's weights/
and weights/gate-looks.jsonl are left alone).

    .venv/bin/python bench/shop.py [--lots 50] [--claims 300] [--batches 20] [--seed 7]
        [--classifier-hours 0.02] [--no-retrain] [--dataset var/datasets/fp-v1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from simulator.invariants import wrong_lines  # noqa: E402
from simulator.photos import HeldOutPhotos  # noqa: E402
from simulator.receiver import webhook_receiver  # noqa: E402
from simulator.shopweek import WeekPhotos, WeekResult, play  # noqa: E402
from simulator.week import plan_week  # noqa: E402
from vision.registry import resolve_model  # noqa: E402

POOLS = REPO.parent / "shared" / "datasets"
SPLIT = REPO / "datasets" / "splits" / "fp-v0-test.txt"
FRESHPROOF = str(REPO / ".venv" / "bin" / "freshproof")
SECRET = "bench-shop-webhook-secret"


def main() -> None:
    """Play the week, print its figures and invariants, then the retraining round."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=50)
    ap.add_argument("--claims", type=int, default=300)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--customers", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--customers-at-once", type=int, default=4)
    ap.add_argument("--adjudicators", type=int, default=3)
    ap.add_argument("--no-retrain", action="store_true")
    ap.add_argument("--dataset", type=Path, default=REPO / "var" / "datasets" / "fp-v1")
    ap.add_argument("--classifier-hours", type=float, default=0.02)
    ap.add_argument("--keep", type=Path, help="keep the data folder here (default: removed)")
    ap.add_argument("--verbose", action="store_true", help="print every wrong verdict")
    args = ap.parse_args()
    if not POOLS.is_dir():
        sys.exit(f"the real photo pools are not at {POOLS}")
    tmp = Path(tempfile.mkdtemp(prefix="fp-bench-shop-"))
    try:
        data = tmp / "var"
        result = week(args, data, tmp)
        report(result)
        if args.verbose:
            print("wrong verdicts:")
            print("\n".join(wrong_lines(result.week, result.seen)))
        if not args.no_retrain:
            retrain(args, data, tmp)
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
        if not result.ok:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def week(args: argparse.Namespace, data: Path, tmp: Path) -> WeekResult:
    """The week against a real server; returns what it did and whether it held."""
    now = datetime.now(UTC) - timedelta(minutes=2)
    plan = plan_week(
        seed=args.seed,
        now=now,
        lots=args.lots,
        claims=args.claims,
        batches=args.batches,
        customers=args.customers,
    )
    t0 = time.perf_counter()
    photos = WeekPhotos(
        plan,
        HeldOutPhotos(
            pools=POOLS,
            split=SPLIT,
            seed=args.seed,
            product_photo=resolve_model(verify=False).product_photo,
        ),
    )
    print(f"photos chosen in {time.perf_counter() - t0:.0f} s")
    with webhook_receiver(SECRET) as (url, received):
        env = {
            **os.environ,
            "FRESHPROOF_DATA_DIR": str(data),
            "FRESHPROOF_ANCHOR_BACKEND": "none",
            "FRESHPROOF_WEBHOOK_URLS": url,
            "FRESHPROOF_WEBHOOK_SECRET": SECRET,
            "FRESHPROOF_RELAY_INTERVAL_SECONDS": "0.5",
        }
        server = Server(env, tmp / "server.log")
        print(f"server up in {server.start():.1f} s at {server.base} ({os.cpu_count()} CPUs)")
        try:
            admin = (data / "admin.key").read_text().strip()
            approver = senior_key(env)
            second_admin = shell_key(env, "admin", "Second admin")
            with httpx.Client(base_url=server.base, timeout=300) as client:
                result = play(
                    client,
                    plan,
                    admin_token=admin,
                    photos=photos,
                    received=received,
                    customers_at_once=args.customers_at_once,
                    adjudicators=args.adjudicators,
                    approver_token=approver,
                    second_admin_token=second_admin,
                    drain_seconds=300,
                    webhook_wait=120,
                )
        finally:
            tracebacks = server.count("Traceback")
            server.stop()
    print(f"server log: {tracebacks} tracebacks")
    return result


def senior_key(env: dict[str, str]) -> str | None:
    """A senior adjudicator's key with an approval limit, from the server's shell as the
    README shows (the API never grants one); None where keys carry no approval limit."""
    done = subprocess.run(
        [FRESHPROOF, "keys", "create", "--role", "adjudicator", "--name", "Senior adjudicator",
         "--approval-limit", "5000.00"],
        env=env, capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"no approver: keys create --approval-limit answered {done.stderr.strip()[-200:]}")
        return None
    return done.stdout.strip().splitlines()[-1]


def shell_key(env: dict[str, str], role: str, name: str) -> str:
    """A key from the server's shell (``freshproof keys create``), the root of trust: the
    second admin approves the adjudicator keys the first asks for through the API."""
    done = subprocess.run(
        [FRESHPROOF, "keys", "create", "--role", role, "--name", name],
        env=env, capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def report(result: WeekResult) -> None:
    """Print the figures and which invariants held."""
    print("\n== a shop's week")
    for line in result.figures.lines:
        print(line)
    print("invariants:")
    for h in result.held:
        print(h.line())
    for e in result.seen.errors[:10]:
        print(f"  unexpected: {e}")


def retrain(args: argparse.Namespace, data: Path, tmp: Path) -> None:
    """The retraining round from the week's decisions, on a copy of the weights."""
    print("\n== retraining from the week's decisions")
    weights = tmp / "weights"
    shutil.copytree(REPO / "weights", weights)
    env = {
        **os.environ,
        "FRESHPROOF_DATA_DIR": str(data),
        "FRESHPROOF_WEIGHTS_DIR": str(weights),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
    }

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        t0 = time.perf_counter()
        done = subprocess.run(
            [FRESHPROOF, *cmd], env=env, capture_output=True, text=True, cwd=REPO, check=False
        )
        took = time.perf_counter() - t0
        if done.returncode not in (0, 1):
            print(f"   {' '.join(cmd[:2])} failed ({done.returncode}, {took:.0f} s):")
            print("   " + (done.stderr.strip() or done.stdout.strip())[-2000:])
            raise SystemExit(1)
        print(f"   ({took:.0f} s)")
        return done

    if not (args.dataset / "samples.jsonl").exists():
        run("datasets", "build", "--pools", str(POOLS), "--dataset", str(args.dataset))
        print(f"0. built {args.dataset} (the base pools the retraining replays)")
    feedback = tmp / "feedback"
    exported = run("feedback", "export", str(feedback))
    print(f"1. feedback export: {exported.stdout.strip()[-600:]}")
    version = f"0.9.{args.seed}-shop"
    retrained = run(
        "models", "retrain", version,
        "--feedback", str(feedback),
        "--dataset", str(args.dataset),
        "--classifier-hours", str(args.classifier_hours),
        "--out", str(tmp / "runs"),
        "--candidate", str(tmp / "candidate"),
    )  # fmt: skip
    print(f"2. retrain: {retrained.stdout.strip()[-600:]}")
    gate = run("models", "promote", str(tmp / "candidate"), "--dataset", str(args.dataset))
    try:
        verdict = json.loads(gate.stdout)
    except json.JSONDecodeError:
        verdict = gate.stdout.strip()[-1500:]
    print("3. the gate on the test split (a copy of the weights; the repository's untouched):")
    print(json.dumps(verdict, indent=2) if isinstance(verdict, dict) else verdict)
    print(gate.stderr.strip()[-1500:])


if __name__ == "__main__":
    main()
