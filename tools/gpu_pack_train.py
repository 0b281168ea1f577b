"""Train the packaging classifier on one GPU in under 10 minutes (issue 25; not yet run).

Reads the pack written by ``tools/gpu_pack_data.py`` (train and val photos at 416 px), starts
from the same condition checkpoint as the CPU run (``weights/``, tracked, so it travels) and
trains at ``--imgsz`` (416) with bfloat16 autocast and loader workers, stopping at
``--minutes`` (7 by default, leaving the machine's start and the copy-back inside one
10-minute command). ``best.pt`` (no optimizer state, about 6 MB) and ``log.jsonl`` land in
``--out``; judge ``best.pt`` here with ``tools/pack_eval.py`` on val and test beside 0.3.1.

The device command (one call; the checkout the call sends must hold this file and the pack):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/site .whl/ultralytics-8.4.190-py3-none-any.whl \
      && export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 \
      && python3 tools/gpu_pack_train.py --pack var/gpu-pack --out $OUT

with ``carry=["var/gpu-pack", ".whl"]`` and ``timeout_s=600``. Only the ultralytics wheel is
needed: torch, torchvision, opencv and numpy are on the machine, and loading the checkpoint
imports neither polars nor thop nor ultralytics-platform (checked here with them blocked).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.pack_train import PackConfig, train_pack
from training.packaging import PackPhoto, summary


def packed_photos(pack: Path) -> list[PackPhoto]:
    """The photos of a pack, as ``training.packaging`` lists them (paths into the pack)."""
    meta = json.loads((pack / "index.json").read_text())
    return [
        PackPhoto(
            pack / "images" / r["file"],
            r["source"],
            r["pool"],
            r["split"],
            r["damaged"],
            r["corrected"],
        )
        for r in meta["photos"]
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, default=Path("var/gpu-pack"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", type=Path, default=Path("/tmp/pack-gpu"))
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    import torch

    photos = packed_photos(args.pack)
    config = PackConfig(
        imgsz=args.imgsz,
        epochs=args.epochs,
        batch=64,
        samples_per_epoch=2048,
        lr=1e-3,
        warmup_epochs=3,
        threads=4,
        notes={
            "pack": str(args.pack),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        },
    )
    print(
        json.dumps({"photos": summary(photos), "config": config.__dict__}, default=str), flush=True
    )
    best = train_pack(
        photos=photos,
        pools_dir=args.pack,
        run_dir=args.run,
        config=config,
        hours=args.minutes / 60,
        device=args.device,
        workers=args.workers,
        log=lambda line: print(line, flush=True),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, args.out / "best.pt")
    shutil.copy(args.run / "log.jsonl", args.out / "log.jsonl")
    print(f"best checkpoint copied to {args.out / 'best.pt'}", flush=True)


if __name__ == "__main__":
    main()
