"""What a release costs to serve next to another: the same photos, the same run, interleaved.

Both releases are loaded as the API loads them (our predictor, ONNX Runtime f32) in this one
process; each timed pass judges every photo with one release and then the other, in
alternating order, so neither gets a warmer cache or a quieter CPU. The photos are the
held-out split's, spread over its pools (as ``bench/inference.py`` picks them), optionally
re-encoded at phone size. Prints per release the p50/p95 of a whole inspection (decode,
quality checks, both networks, fusion) and of the classifier alone, images/s, and the
candidate's ratio to the incumbent. With ``--named-families`` each photo is judged as the
family its pool shows (as a station names its items): a release whose packaging classifier
is routed to some families then pays for it on those photos alone.

    .venv/bin/python bench/releases.py --candidate var/candidate-0.3.1 [--incumbent weights]
                                       [--n 120] [--rounds 3] [--photo-side 4032]
                                       [--named-families]
    # after a promotion, the new release against the one it replaced:
    .venv/bin/python bench/releases.py --candidate weights --incumbent-version 0.2.1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inference import _images, _pct, _phone_sized  # noqa: E402  (the path above)
from training.evaluate import pool_family  # noqa: E402
from vision.predictor import Predictor  # noqa: E402
from vision.registry import DEFAULT_WEIGHTS_DIR  # noqa: E402


def main() -> None:
    """Time both releases over the same photos and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidate", type=Path, required=True)
    ap.add_argument("--incumbent", type=Path, default=DEFAULT_WEIGHTS_DIR)
    ap.add_argument("--candidate-version", default=None, help="default: the folder's newest")
    ap.add_argument("--incumbent-version", default=None, help="e.g. the release it replaced")
    ap.add_argument("--n", type=int, default=120, help="held-out photos")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--photo-side", type=int, default=None)
    ap.add_argument("--split", default="test", help="whose photos: test (held out) or val")
    ap.add_argument(
        "--named-families",
        action="store_true",
        help="judge each photo as its pool's family (training.evaluate.pool_family)",
    )
    args = ap.parse_args()
    chosen = _images(args.n, None, args.split)
    sent = _phone_sized(chosen, args.photo_side) if args.photo_side else chosen
    photos = [p.read_bytes() for p in sent]
    pools = REPO.parent / "shared" / "datasets"
    families = [
        pool_family(p.relative_to(pools).parts[0]) if args.named_families else None for p in chosen
    ]
    sides = {
        "incumbent": Predictor.from_weights(args.incumbent, version=args.incumbent_version),
        "candidate": Predictor.from_weights(args.candidate, version=args.candidate_version),
    }
    total: dict[str, list[float]] = {k: [] for k in sides}
    classify: dict[str, list[float]] = {k: [] for k in sides}
    package: dict[str, list[float]] = {k: [] for k in sides}
    wall = dict.fromkeys(sides, 0.0)
    for predictor in sides.values():  # warm-up, not counted
        for data in photos[:5]:
            predictor.inspect(data, image="warm.jpg")
    for n in range(args.rounds):
        order = list(sides) if n % 2 == 0 else list(reversed(sides))
        for i, data in enumerate(photos):
            for side in order if i % 2 == 0 else reversed(order):
                started = time.perf_counter()
                result = sides[side].inspect(data, image=f"{i}.jpg", family=families[i])
                elapsed = time.perf_counter() - started
                wall[side] += elapsed
                total[side].append(elapsed * 1e3)
                if "classify" in result.timing_ms:
                    classify[side].append(result.timing_ms["classify"])
                if "package" in result.timing_ms:  # the packaging classifier (issue 25)
                    package[side].append(result.timing_ms["package"])
    print(
        f"{len(photos)} {args.split} photos x {args.rounds} rounds, one at a time, ONNX Runtime f32"
    )
    print(
        f"{'release':42}{'p50 ms':>9}{'p95 ms':>9}{'img/s':>8}{'classify p50':>14}"
        f"{'package p50':>13}"
    )
    for side, predictor in sides.items():
        spec = predictor.spec
        views = ",".join(spec.classifier.views) if spec.classifier else ""
        label = f"{side} {spec.version}" + (
            f" ({spec.classifier.imgsz} px{', ' + views if views else ''})"
            if spec.classifier
            else ""
        )
        cls_p50 = statistics.median(classify[side]) if classify[side] else float("nan")
        pack_p50 = statistics.median(package[side]) if package[side] else float("nan")
        print(
            f"{label:42}{_pct(total[side], 0.5):9.1f}{_pct(total[side], 0.95):9.1f}"
            f"{len(total[side]) / wall[side]:8.1f}{cls_p50:14.1f}{pack_p50:13.1f}"
        )
    ratio = (len(total["candidate"]) / wall["candidate"]) / (
        len(total["incumbent"]) / wall["incumbent"]
    )
    for side in sides:
        if package[side]:
            print(f"{side}: packaging classifier ran on {len(package[side])} of {len(total[side])}")
    print(f"candidate images/s vs incumbent: {ratio:.2f}x")


if __name__ == "__main__":
    main()
