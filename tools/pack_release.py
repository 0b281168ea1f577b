"""A candidate release: a shipped release plus the packaging classifier (issue 25).

    python tools/pack_release.py var/runs/pack-v2-others/best.pt --eval var/eval/pack-v2-others \
        --version 0.3.2 [--base 0.3.1] [--dataset var/datasets/fp-v1] [--candidate var/candidate-0.3.2]

The input and threshold come from ``tools/pack_eval.py``'s ``eval.json`` (chosen on val);
``training.release.release_with_package`` chooses the fusion and the operating points on
val and writes the candidate folder. Judge it with ``freshproof models promote``, the only
look at test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.release import release_with_package
from vision.registry import file_sha256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--eval", type=Path, required=True, help="tools/pack_eval.py's --out")
    ap.add_argument("--version", required=True)
    ap.add_argument("--base", default="0.3.1")
    ap.add_argument("--name", default="freshproof-detector")
    ap.add_argument("--weights", type=Path, default=Path("weights"))
    ap.add_argument("--dataset", type=Path, default=Path("var/datasets/fp-v1"))
    ap.add_argument("--candidate", type=Path)
    ap.add_argument(
        "--families",
        default="parcel,can",
        help="comma-separated product families it judges (the photos a station or claim names "
        "so); 'all' asks it about every photo, fruit included",
    )
    args = ap.parse_args()
    import torch

    judged = json.loads((args.eval / "eval.json").read_text())
    if "test" in judged["splits"]:
        print("note: this eval looked at test outside the gate", file=sys.stderr)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    config = state["config"]
    run = args.checkpoint.parent
    log = run / "log.jsonl"
    ran = len(log.read_text().splitlines()) if log.exists() else "?"
    feedback = config.get("notes", {}).get("feedback")
    val = judged["splits"]["val"]["at_val_threshold"]
    training = {
        "summary": (
            f"YOLO11n-cls from {config['start']} with a new two-class head, {config['imgsz']} px, "
            f"{config['samples_per_epoch']} draws per epoch ({config['other_share']:.0%} produce "
            f"train photos as not damaged, {config['composite_share']:.0%} single-pack scenes), "
            f"epoch {state['epoch']} of {ran} run ({config['epochs']} planned) kept for "
            "its val AUROC on parcels and boxes"
        ),
        "hardware": "CPU, one thread at nice 19 on a shared 2-core machine",
        "run": str(run),
        "checkpoint_sha256": file_sha256(args.checkpoint),
        "epoch": state["epoch"],
        "others": config.get("notes", {}).get("others", ""),
        "feedback": feedback or "",
        "feedback_manifest_sha256": (
            file_sha256(Path(feedback) / "manifest.json") if feedback else ""
        ),
        "input_on_val": judged["val_auroc_by_input"],
        "val_parcels_and_boxes": val["parcels_and_boxes"]["candidate"],
        "val_cans": val["cans"]["candidate"],
        "val_produce_flagged": judged["produce_val_all"],
    }
    entry = release_with_package(
        weights_dir=args.weights,
        name=args.name,
        base_version=args.base,
        version=args.version,
        candidate_dir=args.candidate or Path(f"var/candidate-{args.version}"),
        dataset=args.dataset,
        package_checkpoint=args.checkpoint,
        input_mode=judged["preprocess"],
        views=("hflip",),  # as tools/pack_eval.py judged it
        threshold=judged["threshold"],
        training=training,
        families=None if args.families == "all" else tuple(args.families.split(",")),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(json.dumps({k: entry[k] for k in ("version", "package_classifier")}, indent=2))
    print(json.dumps(entry["metrics"]["val"]["image_level"], indent=2))


if __name__ == "__main__":
    main()
