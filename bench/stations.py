"""Station throughput: batches of 32 photos at 1920x1080 JPEG graded end to end (upload,
decode, model, grade, ledger append) by Celery workers, one and then two, against stock
ultralytics predict on the same photos in the same run.

A real server (`freshproof serve`, FRESHPROOF_TASKS=celery) and `freshproof worker`
processes on RabbitMQ (5672) and Redis (6379); every batch is queued (202) and polled until
done, by one station client at a time and by two at once. A warm-up batch per side is not
counted. Every photo is a new shot (same pixels, other bytes): the evidence store keeps each.
Prints items/s, p50/p95 batch latency (POST to done, waited on with ``?wait=``), the median
time to the 202, and peak RSS (of the workers; of the whole process for stock).

    .venv/bin/python bench/stations.py [--batches 6]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
POOLS = REPO.parent / "shared" / "datasets"
SPLIT = REPO / "datasets" / "splits" / "fp-v0-test.txt"
BATCH = 32
FRESHPROOF = str(REPO / ".venv" / "bin" / "freshproof")

from bench.server import Server  # noqa: E402


def _frames(n: int) -> list[bytes]:
    """Held-out photos (parcels and fruit) scaled to 1920x1080 JPEG, as a station camera shoots."""
    names = [r for r in SPLIT.read_text().split() if r.startswith(("parcel_", "fruit_"))]
    out = []
    for name in names[:n]:
        with Image.open(POOLS / name) as img:
            frame = img.convert("RGB").resize((1920, 1080))
        buf = io.BytesIO()
        frame.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def _shot(frame: bytes, tag: str) -> bytes:
    """The frame as another shot: the same pixels, other bytes (a JPEG comment segment).

    A station never sends the same bytes twice, and the evidence store skips what it holds
    already, so every batch of the bench gets photos of its own.
    """
    comment = tag.encode()
    return frame[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + frame[2:]


def _rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _ours(photos: list[bytes], batches: int, workers: int, inflight: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fp-stations-"))
    env = {
        **os.environ,
        "FRESHPROOF_DATA_DIR": str(tmp / "var"),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
        "FRESHPROOF_TASKS": "celery",
        "FRESHPROOF_STATION_SYNC_ITEMS": "1",
        "FRESHPROOF_RATE_LIMIT_PER_MINUTE": "0",
        # Each worker grades as many items at once as it has cores to itself.
        "FRESHPROOF_STATION_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
    }
    key = subprocess.run(
        [FRESHPROOF, "keys", "create", "--role", "station", "--name", "bench", "--station",
         "ST-B", "--read-point", "urn:epc:id:sgln:4000001.00001.0"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    server = Server(env, tmp / "server.log")
    server.start()
    procs = [
        subprocess.Popen(
            [FRESHPROOF, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=server.base, timeout=300) as client:
            # Warm-up, not counted: workers connect, load the model and run it once.
            _batch(client, headers, photos, f"{workers}-warm")
            started = time.perf_counter()
            with ThreadPoolExecutor(inflight) as pool:
                timings = list(
                    pool.map(lambda b: _batch(client, headers, photos, f"{workers}-{b}"),
                             range(batches))
                )  # fmt: skip
        wall = time.perf_counter() - started
        rss = _rss_mb([p.pid for p in procs])
    finally:
        for p in procs:
            p.terminate()
        server.stop()
        for p in procs:
            p.wait(timeout=30)
    return _figures(batches, wall, [t for _, t in timings], rss) | {
        "accept": statistics.median(a for a, _ in timings)
    }


def _batch(
    client: httpx.Client, headers: dict[str, str], photos: list[bytes], tag: str
) -> tuple[float, float]:
    """Post one batch of new shots and poll it to done: (seconds to 202, seconds to done)."""
    items = [
        {"epc": f"urn:epc:id:sgtin:4000001.012345.{zlib.crc32(tag.encode()) % 10**6 * 1000 + i}",
         "kind": "package", "photos": [i]}
        for i in range(BATCH)
    ]  # fmt: skip
    t0 = time.perf_counter()
    resp = client.post(
        "/v1/stations/batches",
        headers=headers,
        files=[
            ("photos", (f"{i}.jpg", _shot(photos[i], f"{tag}-{i}"), "image/jpeg"))
            for i in range(BATCH)
        ],
        data={"batch": json.dumps({"batch_id": f"bench-{tag}", "items": items})},
    )
    assert resp.status_code == 202, resp.text
    accepted = time.perf_counter() - t0
    url = resp.json()["url"]
    # Long polling, as a station should: one request that waits for the batch, not one
    # every 20 ms (which cost the API about 5 ms of CPU per item of 1080p).
    while (state := client.get(f"{url}?wait=10", headers=headers).json())["status"] == "pending":
        pass
    assert state["status"] == "done", state.get("error")
    # Every item graded: on the ledger, or (below the release's operating points) left to a
    # person in the review queue, which is the release's answer too (0.3.1 decides nothing
    # alone, so all of them wait for a person).
    bad = [
        i for i in state["items"]
        if i["error"] is not None or i["grade"] is None
        or (i["ledger_index"] is None) != i["grade"]["manual"]
    ]  # fmt: skip
    assert not bad, bad[:1]
    return accepted, time.perf_counter() - t0


def _figures(batches: int, wall: float, latencies: list[float], rss: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "ips": batches * BATCH / wall,
        "p50": statistics.median(ordered),
        "p95": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "rss": rss,
    }


def _stock(photos: list[bytes], batches: int) -> dict[str, Any]:
    from training.offline import configure_offline

    configure_offline(Path(tempfile.mkdtemp()) / "yolo")
    from ultralytics import YOLO

    from vision.registry import resolve_model
    from vision.runtime_torch import checkpoint_for

    spec = resolve_model(REPO / "weights", None)
    det = YOLO(str(checkpoint_for(spec.path)))
    cls = YOLO(str(checkpoint_for(spec.classifier.path))) if spec.classifier else None
    # Warm-up, not counted, as for us: both networks load and run once (the classifier's
    # first call also builds its predictor; left to the first batch, it was counted).
    first = Image.open(io.BytesIO(photos[0])).convert("RGB")
    det.predict(first, imgsz=spec.imgsz, device="cpu", verbose=False)
    if cls is not None and spec.classifier is not None:
        cls.predict(first, imgsz=spec.classifier.imgsz, device="cpu", verbose=False)
    del first  # peak RSS counts what the loop holds, not 32 decoded frames kept for nothing
    latencies = []
    started = time.perf_counter()
    for _ in range(batches):
        t0 = time.perf_counter()
        for i in range(BATCH):
            # Decoding is part of the work, as it is for us.
            frame = Image.open(io.BytesIO(photos[i % len(photos)])).convert("RGB")
            det.predict(frame, imgsz=spec.imgsz, device="cpu", verbose=False)
            if cls is not None and spec.classifier is not None:
                cls.predict(frame, imgsz=spec.classifier.imgsz, device="cpu", verbose=False)
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    return _figures(batches, wall, latencies, _rss_mb([os.getpid()]))


def main() -> None:
    """Run the three sides and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args()
    photos = _frames(BATCH)
    rows = {
        "freshproof, 1 worker, 1 batch in flight": _ours(photos, args.batches, 1, 1),
        "freshproof, 1 worker, 2 in flight": _ours(photos, args.batches, 1, 2),
        "freshproof, 2 workers, 2 in flight": _ours(photos, args.batches, 2, 2),
        "stock ultralytics predict (no ledger)": _stock(photos, args.batches),
    }
    peer = rows["stock ultralytics predict (no ledger)"]["ips"]
    print(f"\n{args.batches} batches of {BATCH} photos at 1920x1080 JPEG, {os.cpu_count()} CPUs")
    print(
        f"{'side':40}{'items/s':>9}{'vs stock':>10}{'p50 s':>8}{'p95 s':>8}{'202 s':>7}{'RSS MB':>8}"
    )
    for name, r in rows.items():
        accept = f"{r['accept']:7.2f}" if "accept" in r else f"{'-':>7}"
        print(
            f"{name:40}{r['ips']:9.1f}{r['ips'] / peer:9.2f}x{r['p50']:8.2f}{r['p95']:8.2f}"
            f"{accept}{r['rss']:8.0f}"
        )


if __name__ == "__main__":
    main()
