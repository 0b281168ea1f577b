"""Queued station batches over repeated SIGKILLs: none lost, none graded twice.

A real server (uvicorn, in a child process: ``tests/api/test_station_recovery.py``'s
``serve``, with a photo double that takes ``--delay`` seconds a photo) is SIGKILLed
``--kills`` times while batches are queued and grading; each time a new process starts on
the same data dir. Every round posts a few batches (every one answered 202 is counted as
acknowledged), waits until grading is under way, and kills. At the end a last process runs
until every acknowledged batch is done, and the ledger is read: each item's inspection
event must be on it exactly once.

    .venv/bin/python bench/station_crashes.py --kills 10

Prints the figures (acknowledged, done, lost, items on the ledger once / twice / missing,
seconds from the last restart until every batch was done). Exit status 1 if any
batch was lost or any item graded twice.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.services import build_services  # noqa: E402
from tests.api.test_station_recovery import READ_POINT, _batch, _Child, _settings  # noqa: E402


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--batches", type=int, default=3, help="batches posted per round")
    parser.add_argument("--items", type=int, default=5, help="items per batch (above sync 2)")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds per photo")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fp-crashes-")) / "var"
    services = build_services(_settings(data))
    token, _ = services.keys.create(
        role="station", name="dock", created_by="bench", station_id="DOCK-3", read_point=READ_POINT
    )
    services.close()
    station = {"Authorization": f"Bearer {token}"}
    judged = data / "judged.log"

    acknowledged: dict[str, int] = {}  # job url -> items
    expected: list[str] = []
    serial = 10_000
    for kill in range(args.kills):
        child = _Child(data, delay=args.delay)
        for _ in range(args.batches):
            form, files = _batch(serial, args.items)
            resp = httpx.post(
                f"{child.base}/v1/stations/batches",
                headers=station,
                data=form,
                files=files,
                timeout=30,
            )
            if resp.status_code == 202:
                acknowledged[resp.json()["url"]] = args.items
                expected += [
                    f"urn:epc:id:sgtin:4000001.012345.{serial + i}" for i in range(args.items)
                ]
            serial += 1000
        # Kill while this round's work is grading: a few photos after the round began.
        mark = _lines(judged)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _lines(judged) < mark + 2:
            time.sleep(0.05)
        child.stop(signal.SIGKILL)
        print(f"kill {kill + 1}: {len(acknowledged)} batches acknowledged so far", flush=True)

    last = _Child(data, delay=0)
    started = time.monotonic()
    try:
        states = {u: _wait(last.base, station, u) for u in acknowledged}
        recovered = time.monotonic() - started
    finally:
        last.stop(signal.SIGTERM)

    services = build_services(_settings(data))
    try:
        ledger = services.ledger
        graded = Counter(
            e.body["event"]["epcList"][0]
            for e in (ledger.entry(i) for i in range(ledger.size()))
            if e.body.get("event", {}).get("bizStep") == "inspecting"
        )
    finally:
        services.close()
    done = sum(1 for s in states.values() if s and s["status"] == "done")
    for url, state in states.items():
        if not state or state["status"] != "done":
            print(f"not done: {url}: {json.dumps(state)[:600]}", flush=True)
    lost = len(acknowledged) - done
    once = sum(1 for epc in expected if graded[epc] == 1)
    twice = sum(1 for epc in expected if graded[epc] > 1)
    missing = sum(1 for epc in expected if graded[epc] == 0)
    print(
        json.dumps(
            {
                "kills": args.kills,
                "batches_acknowledged": len(acknowledged),
                "batches_done": done,
                "batches_lost": lost,
                "items_expected": len(expected),
                "items_on_ledger_once": once,
                "items_twice": twice,
                "items_missing": missing,
                "last_restart_to_all_done_s": round(recovered, 1),
            },
            indent=2,
        )
    )
    return 0 if lost == 0 and twice == 0 and missing == 0 else 1


def _wait(base: str, headers: dict[str, str], url: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state: dict[str, Any] = httpx.get(f"{base}{url}", headers=headers, timeout=10).json()
        if state.get("status") != "pending":
            return state
        time.sleep(0.2)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
