"""Pack the packaging classifier's training photos for a GPU machine (issue 25).

The device machine sees only the repository's working tree (64 MiB in all, carried paths
included) and none of ``../shared/datasets``. This writes the train and val pack photos
(corrections applied; test stays here, where the returned checkpoint is judged) at most
``--side`` px on the long side into ``--out`` (ignored: under ``var/``), with an
``index.json`` of their pools, splits and labels, and lowers the JPEG quality until the
pack fits ``--budget-mib``. It prints whether tree + pack + wheels fit the 64 MiB.

    python tools/gpu_pack_data.py --feedback var/feedback/pack-audit-1 [--out var/gpu-pack]
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp -d .whl ultralytics==8.4.190      # once; .whl/ is ignored

Then ``tools/gpu_pack_train.py`` (its docstring has the device command).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.packaging import apply_corrections, corrections_of, pack_photos, summary

LIMIT_MIB = 64.0
QUALITIES = (90, 85, 80, 75, 70, 65, 60, 55, 50)


def _tree_mib(repo: Path) -> float:
    """What the device call sends besides carried paths: tracked and untracked-not-ignored files."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    files = [repo / f for f in out.decode().split("\0") if f]
    return sum(f.stat().st_size for f in files if f.is_file()) / 2**20


def _encode(photos: list, side: int, quality: int) -> list[tuple[bytes, dict]]:
    out = []
    for i, p in enumerate(photos):
        img = cv2.imread(str(p.path), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        scale = min(1.0, side / max(h, w))
        if scale < 1.0:
            img = cv2.resize(
                img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        row = {
            "file": f"{i:04d}.jpg",
            "source": p.source,
            "pool": p.pool,
            "split": p.split,
            "damaged": p.damaged,
            "corrected": p.corrected,
        }
        out.append((buf.tobytes(), row))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=Path, default=Path("../shared/datasets"))
    ap.add_argument("--feedback", type=Path, help="a feedback export of label corrections")
    ap.add_argument("--out", type=Path, default=Path("var/gpu-pack"))
    ap.add_argument("--side", type=int, default=416)
    ap.add_argument("--budget-mib", type=float, default=10.0)
    ap.add_argument("--wheels", type=Path, default=Path(".whl"))
    args = ap.parse_args()
    photos = pack_photos(pools_dir=args.pools)
    if args.feedback:
        photos = apply_corrections(photos, corrections_of(args.feedback))
    photos = [p for p in photos if p.split in ("train", "val")]
    for quality in QUALITIES:
        encoded = _encode(photos, args.side, quality)
        mib = sum(len(b) for b, _ in encoded) / 2**20
        if mib <= args.budget_mib:
            break
    else:
        raise SystemExit(
            f"{mib:.1f} MiB even at quality {quality}: raise --budget-mib or lower --side"
        )
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "images").mkdir(parents=True)
    for data, row in encoded:
        (args.out / "images" / row["file"]).write_bytes(data)
    meta = {
        "side": args.side,
        "jpeg_quality": quality,
        "feedback": str(args.feedback) if args.feedback else None,
        "counts": summary(photos),
        "photos": [row for _, row in encoded],
    }
    (args.out / "index.json").write_text(json.dumps(meta, indent=1) + "\n")
    tree = _tree_mib(Path.cwd())
    wheels = (
        sum(f.stat().st_size for f in args.wheels.glob("*.whl")) / 2**20
        if args.wheels.is_dir()
        else 0.0
    )
    total = tree + mib + wheels
    print(
        f"{len(encoded)} photos at {args.side} px, JPEG quality {quality}: {mib:.1f} MiB in {args.out}; "
        f"tree {tree:.1f} + pack {mib:.1f} + wheels {wheels:.1f} = {total:.1f} MiB "
        f"({'fits' if total <= LIMIT_MIB else 'OVER'} the {LIMIT_MIB:.0f} MiB a device call carries)"
    )


if __name__ == "__main__":
    main()
