"""Train (or go on training) the packaging classifier on this machine's CPU (issue 25).

Resumable: run it again with the same ``--run`` and it goes on from ``last.pt``; raise
``--epochs`` to train longer. Kind to the other users of the machine: start it with
``nice -n 19``; it uses one thread.

    nice -n 19 python tools/pack_train.py --run var/runs/pack-v1 \
        [--feedback var/feedback/pack-audit-1] [--hours 1.6] [--epochs 60] >> var/runs/pack-v1.out 2>&1 &

Figures per epoch: ``<run>/log.jsonl``; best checkpoint: ``<run>/best.pt``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.pack_train import PackConfig, train_pack
from training.packaging import apply_corrections, corrections_of, pack_photos, summary


def train_photos_of(pools: list[str], pools_dir: Path, train_list: Path) -> list[Path]:
    """The train-split photos of ``pools`` (paths under ``pools_dir``)."""
    names = train_list.read_text().split()
    return [pools_dir / n for n in names if n.split("/", 1)[0] in pools]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("var/runs/pack-v1"))
    ap.add_argument("--pools", type=Path, default=Path("../shared/datasets"))
    ap.add_argument("--feedback", type=Path, help="a feedback export of label corrections")
    ap.add_argument("--hours", type=float, help="stop (resumably) after this much time")
    ap.add_argument("--epochs", type=int, help="planned epochs (the LR schedule's length)")
    ap.add_argument("--imgsz", type=int)
    ap.add_argument(
        "--others",
        default="",
        help="comma-separated pools (e.g. fruit_fresh_rotten) whose train photos are drawn as "
        "'not damaged' at --other-share, so the classifier learns to stay quiet on non-packs",
    )
    ap.add_argument("--other-share", type=float)
    args = ap.parse_args()
    config = PackConfig()
    state = args.run / "last.pt"
    if state.exists():  # a resume keeps the run's own settings
        import torch

        saved = torch.load(state, map_location="cpu", weights_only=False)["config"]
        saved["select_pools"] = tuple(saved["select_pools"])
        config = PackConfig(**saved)
    if args.epochs:
        config = replace(config, epochs=args.epochs)
    if args.imgsz and not state.exists():
        config = replace(config, imgsz=args.imgsz)
    if args.other_share is not None and not state.exists():
        config = replace(config, other_share=args.other_share)
    others = train_photos_of(
        [p for p in args.others.split(",") if p],
        args.pools,
        Path("datasets/splits/fp-v0-train.txt"),
    )
    if others:
        config = replace(config, notes=config.notes | {"others": args.others})
    photos = pack_photos(pools_dir=args.pools)
    if args.feedback:
        photos = apply_corrections(photos, corrections_of(args.feedback))
        config = replace(config, notes=config.notes | {"feedback": str(args.feedback)})
    print(
        json.dumps({"photos": summary(photos), "config": config.__dict__}, default=str), flush=True
    )
    best = train_pack(
        photos=photos,
        pools_dir=args.pools,
        run_dir=args.run,
        config=config,
        hours=args.hours,
        others=others,
        log=lambda line: print(line, flush=True),
    )
    print(f"best checkpoint: {best}", flush=True)


if __name__ == "__main__":
    main()
