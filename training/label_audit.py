"""Label audit of the pack photos: where the shipped model and the pool's label disagree most.

The parcel and box pools are web-scraped and known to be noisy (open boxes filed as damaged).
``audit_packs`` runs a release over the train and val photos and ranks them by how strongly
the model contradicts the folder's label; a person looks at the top of the list and records
the labels they judge wrong with ``record_corrections``, which writes them through the
feedback path (``training.feedback.export_yolo``) as a new dataset version: a feedback export
whose ``manifest.json`` hash names it. Test photos are never audited: test judges.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from storage.evidence import LocalEvidenceStore
from training.feedback import ExportManifest, export_yolo
from training.packaging import PackPhoto, file_sha256
from vision.image import decode_image
from vision.labelled import LabelledPhoto
from vision.predictor import Predictor

__all__ = ["AuditRow", "Correction", "audit_packs", "record_corrections", "write_report"]

_DAMAGE = "package_damage"


@dataclass(frozen=True)
class AuditRow:
    """One photo as the model sees it beside its label; ``disagreement`` ranks the list."""

    source: str
    split: str
    pool: str
    label: str  # damaged | intact, the pool folder's
    damage_score: float  # the release's fused, calibrated package_damage score
    defective: bool  # any label at its threshold
    classifier_top: str
    disagreement: float


@dataclass(frozen=True)
class Correction:
    """A person's verdict on one audited photo: its right label and why."""

    source: str
    damaged: bool
    note: str


def audit_packs(
    predictor: Predictor, photos: Iterable[PackPhoto], *, splits: Sequence[str] = ("train", "val")
) -> list[AuditRow]:
    """The photos of ``splits`` (never test) ranked by disagreement, highest first: for a
    damaged label 1 - the damage score, for an intact one the score itself."""
    if "test" in splits:
        raise ValueError("test photos are never audited or corrected")
    rows = []
    for p in photos:
        if p.split not in splits:
            continue
        rgb = decode_image(p.path.read_bytes(), max_side=1024).rgb
        j = predictor.judge(rgb, floor=predictor.spec.box_floor)
        score = j.scores[_DAMAGE]
        defective = any(s >= predictor.spec.thresholds[k] for k, s in j.scores.items())
        probs = j.classifier or {}
        top = max(probs, key=lambda c: probs[c]) if probs else ""
        rows.append(
            AuditRow(
                p.source,
                p.split,
                p.pool,
                "damaged" if p.damaged else "intact",
                round(score, 4),
                defective,
                top,
                round(1 - score if p.damaged else score, 4),
            )
        )
    return sorted(rows, key=lambda r: (-r.disagreement, r.source))


def write_report(rows: Sequence[AuditRow], out: Path, *, top: int = 60) -> None:
    """``out/audit.csv`` (every row) and ``out/audit.md`` (the ``top`` rows, for review)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "audit.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(AuditRow.__dataclass_fields__))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)
    lines = [
        "# Pack label audit: model vs label, largest disagreement first",
        "",
        "| # | photo | split | label | damage score | classifier top | disagreement |",
        "| ---: | --- | --- | --- | ---: | --- | ---: |",
    ]
    for i, r in enumerate(rows[:top], 1):
        lines.append(
            f"| {i} | {r.source} | {r.split} | {r.label} | {r.damage_score} | "
            f"{r.classifier_top} | {r.disagreement} |"
        )
    (out / "audit.md").write_text("\n".join(lines) + "\n")


def record_corrections(
    corrections: Sequence[Correction],
    photos: Mapping[str, PackPhoto],
    *,
    store_dir: Path,
    out: Path,
    version: str,
    decided_by: str,
) -> ExportManifest:
    """Write ``corrections`` as a feedback export (a new dataset version) under ``out``.

    Each corrected photo goes into a local evidence store under ``store_dir`` (the export
    reads originals from a store, as for adjudicated claims) and becomes a classifier example
    of class ``package_damage`` (seen, not boxed) or ``clean``. ``decided_by`` names who
    judged; no ledger decision backs an audit, so ``ledger_index`` is None.
    """
    store = LocalEvidenceStore(store_dir)
    labelled = []
    for c in corrections:
        p = photos[c.source]
        if p.split == "test":
            raise ValueError(f"{c.source} is a test photo: test labels are never corrected")
        data = p.path.read_bytes()
        stored = store.put(data)
        assert stored.sha256 == file_sha256(p.path)
        labelled.append(
            LabelledPhoto(
                sha256=stored.sha256,
                width=None,
                height=None,
                boxes=(),
                photo_class=_DAMAGE if c.damaged else "clean",
                source=f"audit:{c.source}",
                decided_by=decided_by,
                ledger_index=None,
                unboxed=(_DAMAGE,) if c.damaged else (),
            )
        )
    return export_yolo(labelled, store, out, version=version)
