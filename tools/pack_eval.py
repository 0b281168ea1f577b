"""The packaging classifier beside a shipped release on the pack val and test photos (issue 25).

    python tools/pack_eval.py var/runs/pack-v1/best.pt [--version 0.3.1] [--out var/eval/pack-v1] \
        [--splits val]

Exports the checkpoint to ONNX (``<out>/pack-classifier.onnx``), judges the val and test
photos with both models in the same run (``training.pack_eval``), picks the packaging
classifier's threshold on val parcels and boxes, and writes ``<out>/eval.json`` and
``<out>/eval.md``. Also scores the val fruit photos, where a packaging classifier has no
business firing: its false alarms there say whether it could be fused into the predictor
as it stands; and every val produce photo (fresh and rotten fruit, bananas, mangoes, apples),
per pool, where a ``package_damage`` finding is a false alarm whatever the fruit shows.

Only val is judged unless ``--splits val,test`` asks for test too: a look at test outside
the promotion gate (``freshproof models promote``), which the gate's look count does not see.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.pack_eval import (
    GROUPS,
    PREPROCESS,
    Verdicts,
    as_gate_sees,
    choose_threshold,
    export_pack_onnx,
    group_table,
    onnx_scores,
    shipped_verdicts,
)
from training.pack_train import auroc
from training.packaging import apply_corrections, corrections_of, pack_photos


def _fmt(m: dict) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    return f"{pct(m.get('accuracy'))} | {pct(m.get('false_alarms'))} | {pct(m.get('recall'))} | {m.get('auroc')}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--version", default="0.3.1")
    ap.add_argument("--weights", type=Path, default=Path("weights"))
    ap.add_argument("--pools", type=Path, default=Path("../shared/datasets"))
    ap.add_argument("--feedback", type=Path, help="corrections (they touch train only)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--splits", default="val", help="val, or val,test (a look at test)")
    args = ap.parse_args()
    import torch

    from vision.predictor import Predictor

    t0 = time.monotonic()
    out = args.out or Path("var/eval") / args.checkpoint.parent.name
    out.mkdir(parents=True, exist_ok=True)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    size = int(state["config"]["imgsz"])
    onnx_file = export_pack_onnx(args.checkpoint, out / "pack-classifier.onnx")
    predictor = Predictor.from_weights(args.weights, version=args.version, threads=1)
    photos = pack_photos(pools_dir=args.pools)
    if args.feedback:
        photos = apply_corrections(photos, corrections_of(args.feedback))
    report: dict = {
        "checkpoint": str(args.checkpoint),
        "epoch": state.get("epoch"),
        "imgsz": size,
        "shipped": args.version,
        "splits": {},
    }
    threshold, preprocess = 0.5, "crop"
    splits = [s for s in ("val", "test") if s in args.splits.split(",")]
    for split in splits:
        mine = [p for p in photos if p.split == split]
        images = [as_gate_sees(p.path) for p in mine]
        shipped = shipped_verdicts(predictor, images)
        if split == "val":
            # The input (centre crop as the predictor does, or the whole photo squashed) and
            # the threshold are chosen on val parcels and boxes; test only measures.
            keep = np.array([GROUPS["parcels_and_boxes"](p) for p in mine])
            y = np.array([p.damaged for p in mine])
            by_input = {k: onnx_scores(onnx_file, images, size, preprocess=k) for k in PREPROCESS}
            val_auroc = {k: round(auroc(v[keep], y[keep]), 4) for k, v in by_input.items()}
            preprocess = max(val_auroc, key=lambda k: (val_auroc[k], k == "crop"))
            scores = by_input[preprocess]
            threshold = choose_threshold(scores[keep], y[keep])
            report |= {
                "threshold": round(threshold, 4),
                "preprocess": preprocess,
                "val_auroc_by_input": val_auroc,
            }
        else:
            scores = onnx_scores(onnx_file, images, size, preprocess=preprocess)
        candidate = Verdicts(scores, scores >= threshold)
        at_half = Verdicts(scores, scores >= 0.5)
        report["splits"][split] = {
            "at_val_threshold": group_table(mine, shipped, candidate),
            "at_0.5": group_table(mine, shipped, at_half),
        }
    fruit = [p for p in (args.pools / "fruit_fresh_rotten").glob("fresh*/*.jpg")]
    split_of = {
        line: "val"
        for line in Path("datasets/splits/fp-v0-val.txt").read_text().split()
        if line.startswith("fruit_fresh_rotten/fresh")
    }
    fruit = [p for p in fruit if f"fruit_fresh_rotten/{p.parent.name}/{p.name}" in split_of]
    fs = onnx_scores(onnx_file, [as_gate_sees(p) for p in fruit], size, preprocess=preprocess)
    report["fresh_fruit_val"] = {
        "images": len(fruit),
        "flagged_damaged": round(float((fs >= threshold).mean()), 4) if len(fruit) else None,
    }
    produce_pools = (
        "fruit_fresh_rotten",
        "banana_ripeness_det",
        "mango_rot_grade_det",
        "apple_lesion_masks",
        "rot_region_masks",
    )
    val_names = Path("datasets/splits/fp-v0-val.txt").read_text().split()
    report["produce_val"] = {}
    for pool in produce_pools:
        paths = [args.pools / n for n in val_names if n.split("/", 1)[0] == pool]
        ps = onnx_scores(onnx_file, [as_gate_sees(p) for p in paths], size, preprocess=preprocess)
        report["produce_val"][pool] = {
            "images": len(paths),
            "flagged_damaged": round(float((ps >= threshold).mean()), 4) if len(ps) else None,
            "flagged_at_0.5": round(float((ps >= 0.5).mean()), 4) if len(ps) else None,
        }
    flagged = sum(
        round(v["images"] * (v["flagged_damaged"] or 0)) for v in report["produce_val"].values()
    )
    total = sum(v["images"] for v in report["produce_val"].values())
    report["produce_val_all"] = {"images": total, "flagged_damaged": flagged}
    report["seconds"] = round(time.monotonic() - t0, 1)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Packaging classifier {args.checkpoint} (epoch {report['epoch']}, {size} px) "
        f"beside {args.version}",
        "",
        f"Chosen on val parcels+boxes: input {preprocess} (val AUROC by input "
        f"{report['val_auroc_by_input']}), threshold {report['threshold']}. "
        f"Fresh fruit (val) flagged damaged: {report['fresh_fruit_val']}. "
        f"Val produce flagged damaged: {report['produce_val_all']}, per pool "
        f"{report['produce_val']}.",
        "",
        "| split | group | images | model | accuracy | false alarms | recall | AUROC | "
        "only this right | McNemar p |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for split, tables in report["splits"].items():
        for op, table in tables.items():
            for group, row in table.items():
                n = row["shipped"]["images"]
                if not n:
                    continue
                lines.append(
                    f"| {split} | {group} | {n} | {args.version} | {_fmt(row['shipped'])} | "
                    f"{row['only_shipped_right']} | {row['mcnemar_p']} |"
                )
                lines.append(
                    f"| {split} | {group} | {n} | pack ({op}) | {_fmt(row['candidate'])} | "
                    f"{row['only_candidate_right']} | |"
                )
    (out / "eval.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
