"""Inference speed: freshproof's ONNX Runtime predictor vs stock ultralytics, same run.

Both sides run the same two networks (detector and condition classifier), each in its own
child process (so peak RSS is its own), over the same held-out photos, one image at a time
as the API serves them, after a warm-up. Prints p50/p95 latency, images/s, peak RSS, the
ratio, and how often both detectors report the same labels at one confidence.

    .venv/bin/python bench/inference.py [--n 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _images(n: int) -> list[Path]:
    split = REPO / "datasets" / "splits" / "fp-v0-test.txt"
    pools = REPO.parent / "shared" / "datasets"
    rows = split.read_text().split()
    # Spread over pools: every k-th held-out photo.
    step = max(1, len(rows) // n)
    return [pools / r for r in rows[::step][:n]]


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


AGREE_CONF = 0.25  # detector labels compared between the two sides at this confidence


def _ours(paths: list[Path], rounds: int) -> dict[str, object]:
    from vision.predictor import Predictor

    predictor = Predictor.from_weights()
    datas = [p.read_bytes() for p in paths]
    for d in datas[:5]:
        predictor.inspect(d, image="warm")
    lat, found = [], {}
    for _ in range(rounds):
        for p, d in zip(paths, datas, strict=True):
            t = time.perf_counter()
            predictor.inspect(d, image=str(p))
            lat.append((time.perf_counter() - t) * 1e3)
    for p, d in zip(paths, datas, strict=True):
        from vision.image import decode_image

        rgb = decode_image(d).rgb
        found[p.name] = sorted({f.label for f in predictor.detect(rgb, conf=AGREE_CONF)})
    spec = predictor.spec
    return {
        "lat": lat,
        "found": found,
        "model": spec.identity(),
        "imgsz": spec.imgsz,
        "cls_imgsz": spec.classifier.imgsz if spec.classifier else None,
    }


def _stock(
    paths: list[Path], rounds: int, imgsz: int, cls_imgsz: int | None, checkpoint: Path
) -> dict[str, object]:
    from training.offline import configure_offline

    configure_offline(REPO / "var" / "yolo-config")
    from ultralytics import YOLO

    det = YOLO(str(checkpoint))
    cls_pt = checkpoint.with_name(checkpoint.stem + "-condition.pt")
    cls = YOLO(str(cls_pt)) if cls_imgsz and cls_pt.exists() else None

    def run(p: Path) -> object:
        res = det.predict(str(p), imgsz=imgsz, conf=AGREE_CONF, device="cpu", verbose=False)[0]
        if cls is not None:  # the same two networks our pipeline runs
            cls.predict(str(p), imgsz=cls_imgsz, device="cpu", verbose=False)
        return res

    for p in paths[:5]:
        run(p)
    lat, found = [], {}
    for _ in range(rounds):
        for p in paths:
            t = time.perf_counter()
            res = run(p)
            lat.append((time.perf_counter() - t) * 1e3)
            found[p.name] = sorted({det.names[int(c)] for c in res.boxes.cls.tolist()})
    return {"lat": lat, "found": found}


def _child(side: str, n: int, rounds: int, extra: dict[str, object]) -> dict[str, object]:
    paths = _images(n)
    if side == "ours":
        out = _ours(paths, rounds)
    else:
        cls_imgsz = extra.get("cls_imgsz")
        out = _stock(
            paths,
            rounds,
            int(extra["imgsz"]),  # type: ignore[call-overload]
            int(cls_imgsz) if cls_imgsz else None,
            Path(str(extra["checkpoint"])),
        )
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(side: str, n: int, rounds: int, extra: dict[str, object]) -> dict[str, object]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            side,
            "--n",
            str(n),
            "--rounds",
            str(rounds),
            "--extra",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run both sides and print the comparison."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child")
    ap.add_argument("--extra", default="{}")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.n, args.rounds, json.loads(args.extra))))
        return
    ours = _run("ours", args.n, args.rounds, {})
    from vision.registry import resolve_model

    spec = resolve_model()
    checkpoint = spec.path.with_suffix(".pt")
    stock = _run(
        "stock",
        args.n,
        args.rounds,
        {"imgsz": ours["imgsz"], "cls_imgsz": ours["cls_imgsz"], "checkpoint": str(checkpoint)},
    )
    rows = []
    for name, r in (("freshproof (ONNX Runtime)", ours), ("stock ultralytics predict", stock)):
        lat = r["lat"]
        rows.append(
            (name, statistics.median(lat), _pct(lat, 0.95), 1e3 / statistics.mean(lat), r["rss_mb"])
        )
    print(
        f"model {ours['model']['name']} {ours['model']['version']} imgsz {ours['imgsz']}, "
        f"{args.n} held-out photos x {args.rounds} rounds, 1 image per call, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'':28}{'p50 ms':>9}{'p95 ms':>9}{'img/s':>8}{'peak RSS MB':>13}")
    for name, p50, p95, ips, rss in rows:
        print(f"{name:28}{p50:9.1f}{p95:9.1f}{ips:8.1f}{rss:13.0f}")
    same = sum(ours["found"][k] == stock["found"].get(k) for k in ours["found"])
    print(
        f"throughput ratio ours/stock: {rows[0][3] / rows[1][3]:.2f}x; "
        f"p50 ratio stock/ours: {rows[1][1] / rows[0][1]:.2f}x"
    )
    print(f"same detector labels at conf {AGREE_CONF} on {same}/{len(ours['found'])} photos")


if __name__ == "__main__":
    main()
