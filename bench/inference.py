"""Inference speed and agreement: freshproof's backends vs stock ultralytics, same run.

Every side runs the same two networks (detector and condition classifier) in its own child
process (so peak RSS is its own), over the same held-out photos, one image at a time as
the API serves them, after a warm-up:

- our predictor on ONNX Runtime f32, OpenVINO f32, OpenVINO bf16, OpenVINO auto (each
  network at OpenVINO's faster precision here) and auto auto (the service's default: each
  network on the runtime, and at the precision, that measure faster on this CPU when it is
  loaded); an auto side's label names the runtime and precision that ran;
- our predictor on the PyTorch reference backend (the shipped ``.pt`` through ultralytics,
  our own pre/postprocessing), which isolates what the runtime alone changes;
- stock ``ultralytics.YOLO(pt).predict``, the peer every speed ratio is taken against.

Prints p50/p95 latency, images/s, peak RSS and CPU time per image (every thread of the side's
process; on a shared machine the figure that load moves least) per side with its ratio to
stock; then,
per side, how far its scores are from the PyTorch reference (per-label max detector score
and classifier probability, mean and max absolute difference over photos x labels), how
often it reports the same findings, and how often its detector labels at one confidence
match stock ultralytics'. A side whose runtime is not installed is skipped, not fatal.

    .venv/bin/python bench/inference.py [--n 60] [--rounds 3] [--workers 2] [--weights DIR]
                                        [--photo-side 4032]

``--photo-side 4032`` runs the same photos re-encoded at phone size (12 MP): every side then
pays for decoding what a phone really sends, which the small web photos of the pools hide.

Then a throughput table: ``--workers`` requests at once, as a server under load sees them,
on the one predictor the service shares between its request threads (stock: one YOLO
instance and one torch thread each). Our sides run with the service's default runtime
threads (``--threads``). Every side takes ``--passes`` turns interleaved with the others,
so a change in the machine's load falls on all of them.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.settings import Settings  # noqa: E402  (needs the path above)
from vision.registry import DEFAULT_WEIGHTS_DIR  # noqa: E402

# What the service runs with unless configured otherwise: the one-at-a-time figures are
# the default's, not a runtime's own thread choice that no deployment gets.
SERVING_THREADS: int = Settings.model_fields["inference_threads"].default
SERVING_DEFAULT = (
    f"{Settings.model_fields['inference_backend'].default} "
    f"{Settings.model_fields['inference_precision'].default}"
)

AGREE_CONF = 0.25  # detector labels compared with stock ultralytics at this confidence
SCORE_FLOOR = 0.001  # boxes kept for the score comparison; below it a label scores 0
# (backend, precision) of our predictor's sides; the last one is the reference.
OURS: tuple[tuple[str, str], ...] = (
    ("onnxruntime", "f32"),
    ("openvino", "f32"),
    ("openvino", "bf16"),
    ("openvino", "auto"),  # each network at OpenVINO's faster precision here
    ("auto", "auto"),  # the service's default: each network's faster runtime and precision here
    ("torch", "f32"),
)
REFERENCE = "torch f32"


def _label(key: str, r: dict[str, Any]) -> str:
    """A side's name as its results record what ran: a bf16 request that ran f32 says f32,
    and an auto side names the runtime and precision each network measured faster at."""
    model = r["model"]
    chosen = f"auto={model['precision']}" if key.endswith(" auto") else model["precision"]
    backend = f"auto={model['backend']}" if key.startswith("auto ") else model["backend"]
    return f"freshproof {backend} {chosen}"


def _images(n: int, photo_side: int | None = None, split_name: str = "test") -> list[Path]:
    split = REPO / "datasets" / "splits" / f"fp-v0-{split_name}.txt"
    pools = REPO.parent / "shared" / "datasets"
    rows = split.read_text().split()
    # Spread over pools: every k-th held-out photo.
    step = max(1, len(rows) // n)
    paths = [pools / r for r in rows[::step][:n]]
    return _phone_sized(paths, photo_side) if photo_side else paths


def _phone_sized(paths: list[Path], side: int) -> list[Path]:
    """The same photos re-encoded with their longer side at ``side`` px, as a phone sends them.

    The pools hold web-sized photos (200-600 px) where a phone sends 12 MP; decoding cost
    grows with pixels, so this is the size the service meets. Written once, read by every side.
    """
    import cv2

    from training.imageio import read_bgr

    out_dir = REPO / "var" / f"bench-photos-{side}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(paths):
        dest = out_dir / f"{i:03d}-{p.stem}.jpg"
        if not dest.exists():
            img = read_bgr(p)
            h, w = img.shape[:2]
            r = side / max(h, w)
            big = cv2.resize(img, (round(w * r), round(h * r)), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(dest), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        out.append(dest)
    return out


def _cpu() -> float:
    """CPU seconds this process has used so far, every thread counted."""
    t = os.times()
    return t.user + t.system


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _predictor(backend: str, precision: str, extra: dict[str, Any]) -> Any:
    from vision.predictor import Predictor

    weights, name = Path(extra["weights"]), extra["model"]
    if backend != "torch":
        return Predictor.from_weights(
            weights, name=name, backend=backend, precision=precision, threads=extra["threads"]
        )
    from training.offline import configure_offline

    configure_offline(Path(extra["yolo_config"]))  # before ultralytics is imported
    from vision.registry import resolve_model
    from vision.runtime_torch import UltralyticsTorchBackend, checkpoint_for

    spec = resolve_model(weights, name)
    cls = UltralyticsTorchBackend(checkpoint_for(spec.classifier.path)) if spec.classifier else None
    return Predictor(spec, UltralyticsTorchBackend(checkpoint_for(spec.path)), classifier=cls)


def _ours(paths: list[Path], rounds: int, extra: dict[str, Any]) -> dict[str, Any]:
    from vision.errors import ModelError
    from vision.image import WORKING_SIDE, decode_image

    try:
        predictor = _predictor(extra["backend"], extra["precision"], extra)
    except ModelError as exc:
        return {"skipped": str(exc)}
    datas = [p.read_bytes() for p in paths]
    for d in datas[:5]:
        predictor.inspect(d, image="warm")
    lat: list[float] = []
    cpu0 = _cpu()
    for _ in range(rounds):
        for p, d in zip(paths, datas, strict=True):
            t = time.perf_counter()
            predictor.inspect(d, image=str(p))
            lat.append((time.perf_counter() - t) * 1e3)
    cpu_ms = (_cpu() - cpu0) * 1e3 / len(lat)
    par_ips = par_cpu_ms = None
    workers = int(extra.get("workers", 0))
    if workers > 1 and extra["backend"] != "torch":
        # Throughput as a server sees it: `workers` requests at once on the one predictor the
        # service shares between its request threads, so decoding and the quality gate of one
        # photo overlap another's inference.
        par_ips, par_cpu_ms = _throughput(
            [lambda d: predictor.inspect(d, image="p")] * workers, datas * rounds
        )
    photos = {}
    for p, d in zip(paths, datas, strict=True):
        decoded = decode_image(d, max_side=WORKING_SIDE)  # as inspect decodes it
        judgement = predictor.judge(decoded.rgb, floor=SCORE_FLOOR)
        det = dict.fromkeys(predictor.spec.labels, 0.0)
        for c in judgement.candidates:
            det[c.label] = max(det[c.label], c.confidence)
        findings = predictor.findings(judgement, width=decoded.width, height=decoded.height)
        photos[p.name] = {
            "det": det,
            "cls": judgement.classifier,
            "findings": sorted({f.label for f in findings}),
            "labels": sorted({c.label for c in judgement.candidates if c.confidence >= AGREE_CONF}),
        }
    spec = predictor.spec
    return {
        "lat": lat,
        "cpu_ms": cpu_ms,
        "par_ips": par_ips,
        "par_cpu_ms": par_cpu_ms,
        "photos": photos,
        "model": predictor.model,
        "imgsz": spec.imgsz,
        "cls_imgsz": spec.classifier.imgsz if spec.classifier else None,
    }


def _stock(paths: list[Path], rounds: int, extra: dict[str, Any]) -> dict[str, Any]:
    from training.offline import configure_offline

    configure_offline(Path(extra["yolo_config"]))
    from ultralytics import YOLO

    from vision.registry import resolve_model
    from vision.runtime_torch import checkpoint_for

    spec = resolve_model(Path(extra["weights"]), extra["model"])
    if not checkpoint_for(spec.path).is_file():
        return {"skipped": f"no PyTorch checkpoint {checkpoint_for(spec.path)} for the peer"}
    det = YOLO(str(checkpoint_for(spec.path)))
    cls_pt = checkpoint_for(spec.classifier.path) if spec.classifier else None
    cls = YOLO(str(cls_pt)) if cls_pt is not None and cls_pt.exists() else None

    def run(p: Path) -> Any:
        res = det.predict(str(p), imgsz=spec.imgsz, conf=AGREE_CONF, device="cpu", verbose=False)
        if cls is not None and spec.classifier is not None:  # the same two networks we run
            cls.predict(str(p), imgsz=spec.classifier.imgsz, device="cpu", verbose=False)
        return res[0]

    for p in paths[:5]:
        run(p)
    lat: list[float] = []
    photos = {}
    cpu0 = _cpu()
    for _ in range(rounds):
        for p in paths:
            t = time.perf_counter()
            res = run(p)
            lat.append((time.perf_counter() - t) * 1e3)
            labels = sorted({det.names[int(c)] for c in res.boxes.cls.tolist()})
            photos[p.name] = {"labels": labels}
    cpu_ms = (_cpu() - cpu0) * 1e3 / len(lat)
    par_ips = par_cpu_ms = None
    workers = int(extra.get("workers", 0))
    if workers > 1:
        import torch

        # Ultralytics' own advice for threads: one model instance per thread. One torch
        # thread each, like our workers' one runtime thread.
        torch.set_num_threads(1)
        runners = []
        for _ in range(workers):
            d_w = YOLO(str(checkpoint_for(spec.path)))
            c_w = YOLO(str(cls_pt)) if cls is not None and cls_pt is not None else None

            def one(p: Path, d_w: Any = d_w, c_w: Any = c_w) -> Any:
                res = d_w.predict(
                    str(p), imgsz=spec.imgsz, conf=AGREE_CONF, device="cpu", verbose=False
                )
                if c_w is not None and spec.classifier is not None:
                    c_w.predict(str(p), imgsz=spec.classifier.imgsz, device="cpu", verbose=False)
                return res

            runners.append(one)
        par_ips, par_cpu_ms = _throughput(runners, list(paths) * rounds)
    return {
        "lat": lat,
        "cpu_ms": cpu_ms,
        "photos": photos,
        "classifier": cls is not None,
        "par_ips": par_ips,
        "par_cpu_ms": par_cpu_ms,
    }


def _throughput(runners: list[Any], items: list[Any]) -> tuple[float, float]:
    """Images/s with one thread per runner, each taking the next item until none are left,
    and the CPU milliseconds per image they took."""
    import queue
    import threading

    todo: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    for run in runners:  # warm each runner (first-call allocations) before timing
        run(items[0])

    def work(run: Any) -> None:
        while True:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            run(item)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    t, cpu0 = time.perf_counter(), _cpu()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(items) / (time.perf_counter() - t), (_cpu() - cpu0) * 1e3 / len(items)


def _child(side: str, n: int, rounds: int, extra: dict[str, Any]) -> dict[str, Any]:
    paths = _images(n, extra.get("photo_side"))
    out = _ours(paths, rounds, extra) if side == "ours" else _stock(paths, rounds, extra)
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(side: str, n: int, rounds: int, extra: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", side, "--n", str(n), "--rounds", str(rounds)]
    proc = subprocess.run(
        [*cmd, "--extra", json.dumps(extra)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0:
        sys.exit(f"{side} {extra.get('backend', '')} child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _merge(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """One side's passes as one: latencies pooled, throughput averaged, the peak RSS kept."""
    if before is None or "skipped" in now:
        return now
    par = [v for v in (before.get("par_ips"), now.get("par_ips")) if v]
    par_cpu = [v for v in (before.get("par_cpu_ms"), now.get("par_cpu_ms")) if v]
    return now | {
        "lat": before["lat"] + now["lat"],
        "cpu_ms": statistics.mean([before["cpu_ms"], now["cpu_ms"]]),
        "par_ips": statistics.mean(par) if par else None,
        "par_cpu_ms": statistics.mean(par_cpu) if par_cpu else None,
        "rss_mb": max(before["rss_mb"], now["rss_mb"]),
    }


def _diffs(side: dict[str, Any], ref: dict[str, Any], key: str) -> list[float]:
    """Absolute differences of one score table, over every photo and label."""
    out = []
    for name, photo in side["photos"].items():
        a, b = photo[key], ref["photos"][name][key]
        if a is not None and b is not None:
            out += [abs(a[label] - b[label]) for label in a]
    return out


def _fmt(values: list[float]) -> str:
    return f"{statistics.mean(values):14.5f}{max(values):8.4f}" if values else f"{'n/a':>22}"


def main() -> None:
    """Run every side and print the comparison."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="held-out photos")
    ap.add_argument("--rounds", type=int, default=3, help="timed passes over the photos")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    ap.add_argument("--model", default=None, help="manifest model name; default its default")
    ap.add_argument("--yolo-config", type=Path, default=REPO / "var" / "yolo-config")
    ap.add_argument(
        "--workers", type=int, default=2, help="concurrent requests for the throughput table"
    )
    ap.add_argument(
        "--photo-side",
        type=int,
        default=None,
        help="re-encode the photos with this longer side first (4032: a 12 MP phone photo)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=SERVING_THREADS,
        help="runtime threads one at a time; default the service's (FRESHPROOF_INFERENCE_THREADS)",
    )
    ap.add_argument(
        "--passes", type=int, default=2, help="turns every side takes, interleaved with the others"
    )
    ap.add_argument(
        "--sides",
        default=None,
        help="comma-separated sides of ours to run (e.g. 'openvino bf16,torch f32'); default all",
    )
    ap.add_argument("--child")
    ap.add_argument("--extra", default="{}")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.n, args.rounds, json.loads(args.extra))))
        return
    common = {
        "threads": args.threads,
        "weights": str(args.weights.resolve()),
        "model": args.model,
        "yolo_config": str(args.yolo_config.resolve()),
        "workers": args.workers,
        "photo_side": args.photo_side,
    }
    if args.photo_side:
        _images(args.n, args.photo_side)  # written once here, before any side is timed
    # The sides take turns, pass after pass, so that a change in the machine's load lands on
    # every side alike instead of on whichever ran during it.
    sides: dict[str, dict[str, Any]] = {}
    stock: dict[str, Any] = {}
    wanted = set(args.sides.split(",")) if args.sides else None
    for _ in range(args.passes):
        for backend, precision in OURS:
            key = f"{backend} {precision}"
            if wanted is not None and key not in wanted:
                continue
            sides[key] = _merge(
                sides.get(key),
                _run(
                    "ours",
                    args.n,
                    args.rounds,
                    {**common, "backend": backend, "precision": precision},
                ),
            )
        stock = _merge(stock or None, _run("stock", args.n, args.rounds, common))
    if "skipped" in stock:
        sys.exit(
            f"stock ultralytics cannot run, so there is no peer to compare: {stock['skipped']}"
        )
    ran = {k: v for k, v in sides.items() if "skipped" not in v}
    if not ran:
        sys.exit(
            "no backend could load the model: " + "; ".join(v["skipped"] for v in sides.values())
        )
    first = next(iter(ran.values()))
    model = first["model"]
    cls = f" + classifier {first['cls_imgsz']}" if first["cls_imgsz"] else ""
    print(
        f"model {model['name']} {model['version']} imgsz {first['imgsz']}{cls}, "
        f"{args.n} held-out photos"
        f"{f' re-encoded at {args.photo_side} px' if args.photo_side else ''} "
        f"x {args.rounds} rounds x {args.passes} interleaved passes, 1 image per call ({args.threads or 'runtime-chosen'} "
        "runtime threads), "
        f"{os.cpu_count()} CPUs (stock classifier: {'yes' if stock['classifier'] else 'no'})"
    )
    stock_ips = 1e3 / statistics.mean(stock["lat"])
    stock_p50 = statistics.median(stock["lat"])
    print(
        f"{'':34}{'p50 ms':>8}{'p95 ms':>8}{'img/s':>8}{'peak RSS MB':>13}"
        f"{'img/s vs stock':>16}{'p50 stock/ours':>16}{'CPU ms/img':>12}{'stock/ours':>12}"
    )
    for key, r in sides.items():
        if "skipped" in r:
            print(f"{'freshproof ' + key:34}skipped: {r['skipped']}")
            continue
        label = _label(key, r)
        if key == REFERENCE:
            label += " (ref)"
        if key == SERVING_DEFAULT:
            label += " (default)"
        lat = r["lat"]
        p50, ips = statistics.median(lat), 1e3 / statistics.mean(lat)
        print(
            f"{label:34}{p50:8.1f}{_pct(lat, 0.95):8.1f}{ips:8.1f}{r['rss_mb']:13.0f}"
            f"{ips / stock_ips:15.2f}x{stock_p50 / p50:15.2f}x"
            f"{r['cpu_ms']:12.1f}{stock['cpu_ms'] / r['cpu_ms']:11.2f}x"
        )
    print(
        f"{'stock ultralytics predict':34}{stock_p50:8.1f}{_pct(stock['lat'], 0.95):8.1f}"
        f"{stock_ips:8.1f}{stock['rss_mb']:13.0f}{1:15.2f}x{1:15.2f}x"
        f"{stock['cpu_ms']:12.1f}{1:11.2f}x"
    )
    if stock.get("par_ips"):
        print(
            f"\nthroughput, {args.workers} requests at once (ours: the one shared predictor, as the "
            "service runs; stock: one YOLO instance per thread, one torch thread each)"
        )
        print(
            f"{'':34}{'img/s':>8}{'vs stock':>10}{'vs stock 1-at-a-time':>22}"
            f"{'CPU ms/img':>12}{'stock/ours':>12}"
        )
        for key, r in ran.items():
            if r.get("par_ips"):
                label = _label(key, r)
                print(
                    f"{label:34}{r['par_ips']:8.1f}{r['par_ips'] / stock['par_ips']:9.2f}x"
                    f"{r['par_ips'] / stock_ips:21.2f}x"
                    f"{r['par_cpu_ms']:12.1f}{stock['par_cpu_ms'] / r['par_cpu_ms']:11.2f}x"
                )
        print(
            f"{'stock ultralytics predict':34}{stock['par_ips']:8.1f}{1:9.2f}x"
            f"{stock['par_ips'] / stock_ips:21.2f}x"
            f"{stock['par_cpu_ms']:12.1f}{1:11.2f}x"
        )
    ref = ran.get(REFERENCE)
    print(
        f"\nagreement (|d| over photos x labels vs the PyTorch reference; labels at conf "
        f"{AGREE_CONF} vs stock)"
    )
    print(
        f"{'':34}{'det |d| mean':>14}{'max':>8}{'cls |d| mean':>14}{'max':>8}"
        f"{'same findings':>15}{'same as stock':>15}"
    )
    for key, r in ran.items():
        n = len(r["photos"])
        same_stock = sum(
            p["labels"] == stock["photos"][k]["labels"] for k, p in r["photos"].items()
        )
        if ref is None:
            scores, same_ref = f"{'no PyTorch reference':>44}", "n/a"
        else:
            scores = _fmt(_diffs(r, ref, "det")) + _fmt(_diffs(r, ref, "cls"))
            same = sum(
                p["findings"] == ref["photos"][k]["findings"] for k, p in r["photos"].items()
            )
            same_ref = f"{same}/{n}"
        print(f"{'freshproof ' + key:34}{scores}{same_ref:>15}{f'{same_stock}/{n}':>15}")


if __name__ == "__main__":
    main()
