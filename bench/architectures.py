"""YOLO26n against YOLO11n: the same data, the same time budget, the same CPU, at once.

Both detectors are trained from scratch (no pretrained weights can be fetched here) by
``training.train.train_detector`` on the same capped training set, in two processes started
together, so they share the machine equally and each gets the same wall-clock budget
(ultralytics fits its epoch count and LR schedule to ``time``). Each best checkpoint is then
validated by ultralytics on the **test** split of the same dataset at the training size, and
the script prints per-class AP50, mAP50 and mAP50-95 side by side with the differences.

    .venv/bin/python bench/architectures.py [--dataset var/datasets/fp-v1] [--hours 0.35]
                                            [--imgsz 256] [--cap POOL=N ...]

Runs go to ``var/arch/<model>/`` (git-ignored). A budget of minutes on a CPU is far from
convergence: the figures say which architecture learns faster here, not which is better
trained to the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = ("yolo11n.yaml", "yolo26n.yaml")
DEFAULT_CAPS = ("fruit_fresh_rotten=600", "banana_ripeness_det=600", "mango_rot_grade_det=500")


def _train(model: str, data: str, out: str, hours: float, imgsz: int) -> None:
    from training.train import train_detector

    train_detector(
        data=Path(data), out_dir=Path(out), model=model, hours=hours, imgsz=imgsz, workers=1
    )


def _test(best: Path, data: Path, imgsz: int, names: dict[int, str]) -> dict[str, Any]:
    from training.train import offline_yolo

    yolo = offline_yolo(REPO / "var" / "yolo-config")(str(best))
    metrics = yolo.val(
        data=str(data), split="test", imgsz=imgsz, batch=16, device="cpu", plots=False,
        verbose=False, workers=1,
    )  # fmt: skip
    per_class = {
        names[int(c)]: float(ap)
        for c, ap in zip(metrics.box.ap_class_index, metrics.box.ap50, strict=True)
    }
    return {
        "map50": float(metrics.box.map50),
        "map50_95": float(metrics.box.map),
        "ap50": per_class,
    }


def main() -> None:
    """Train both at once, test both, print the comparison as JSON and a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=REPO / "var" / "datasets" / "fp-v1")
    ap.add_argument("--hours", type=float, default=0.35)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--cap", action="append", default=None)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "arch")
    args = ap.parse_args()
    import yaml

    from training.datasets import capped_train_yaml

    caps = dict(c.split("=") for c in (args.cap or DEFAULT_CAPS))
    data = capped_train_yaml(args.dataset, {k: int(v) for k, v in caps.items()})
    names = {int(k): v for k, v in yaml.safe_load(data.read_text())["names"].items()}
    ctx = mp.get_context("spawn")
    procs = {
        m: ctx.Process(
            target=_train,
            args=(m, str(data), str(args.out / m.removesuffix(".yaml")), args.hours, args.imgsz),
        )
        for m in MODELS
    }
    for p in procs.values():
        p.start()
    for p in procs.values():
        p.join()
    results: dict[str, Any] = {}
    for m in MODELS:
        run = args.out / m.removesuffix(".yaml") / "train"
        meta = json.loads((run / "freshproof_train.json").read_text())
        csv = (run / "results.csv").read_text().strip().splitlines()
        results[m] = {
            "epochs": len(csv) - 1,
            "train_seconds": round(meta["seconds"]),
            **_test(run / "weights" / "best.pt", data, args.imgsz, names),
        }
    a, b = (results[m] for m in MODELS)
    print(
        json.dumps(
            {"budget_hours": args.hours, "imgsz": args.imgsz, "caps": caps, **results}, indent=2
        )
    )
    print(f"\n| test split | {MODELS[0]} | {MODELS[1]} | 26n - 11n |\n|---|---|---|---|")
    print(f"| epochs in {args.hours} h | {a['epochs']} | {b['epochs']} | |")
    for key in ("map50", "map50_95"):
        print(f"| {key} | {a[key]:.3f} | {b[key]:.3f} | {b[key] - a[key]:+.3f} |")
    for cls in names.values():
        x, y = a["ap50"].get(cls), b["ap50"].get(cls)
        if x is not None and y is not None:
            print(f"| AP50 {cls} | {x:.3f} | {y:.3f} | {y - x:+.3f} |")


if __name__ == "__main__":
    main()
