"""Label audit of the parcel and box photos (issue 25): report, then record corrections.

    python tools/pack_audit.py report [--version 0.3.1] [--out var/audit/pack]
    python tools/pack_audit.py record datasets/corrections/pack-audit-1.json \
        [--out var/feedback/pack-audit-1] [--store var/audit/evidence]

``report`` ranks the train and val photos by how strongly the release contradicts their
folder's label (``var/audit/pack/audit.{csv,md}``); a person looks at the top and writes
the labels they judge wrong into a corrections file (``datasets/corrections/``); ``record``
turns that file into a feedback export, the dataset version ``pack_train`` and ``models
retrain`` read. Test photos are neither audited nor corrected.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.label_audit import Correction, audit_packs, record_corrections, write_report
from training.packaging import pack_photos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=Path, default=Path("../shared/datasets"))
    sub = ap.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--version", default="0.3.1")
    rep.add_argument("--weights", type=Path, default=Path("weights"))
    rep.add_argument("--out", type=Path, default=Path("var/audit/pack"))
    rec = sub.add_parser("record")
    rec.add_argument("corrections", type=Path)
    rec.add_argument("--out", type=Path)
    rec.add_argument("--store", type=Path, default=Path("var/audit/evidence"))
    args = ap.parse_args()
    photos = [p for p in pack_photos(pools_dir=args.pools) if p.pool != "can_defects"]
    if args.command == "report":
        from vision.predictor import Predictor

        predictor = Predictor.from_weights(args.weights, version=args.version, threads=1)
        rows = audit_packs(predictor, photos)
        write_report(rows, args.out)
        print(f"{len(rows)} photos ranked: {args.out / 'audit.md'}")
        return
    body = json.loads(args.corrections.read_text())
    corrections = [Correction(c["source"], c["damaged"], c["note"]) for c in body["corrections"]]
    out = args.out or Path("var/feedback") / body["version"]
    manifest = record_corrections(
        corrections,
        {p.source: p for p in photos},
        store_dir=args.store,
        out=out,
        version=body["version"],
        decided_by=body["decided_by"],
    )
    print(
        f"{len(corrections)} corrections as dataset {body['version']} in {out}: "
        f"manifest sha256 {manifest.sha256}; {json.dumps(manifest.counts['classifier'])}"
    )


if __name__ == "__main__":
    main()
