"""Labelled photos out as a dataset: a YOLO detection set, a classifier tree, a manifest.

The photos come from people's decisions (``cases.feedback.gather_feedback``) or from Label
Studio (``training.label_studio.from_label_studio``). A photo goes to the detection set when
every defect on it is boxed (boxes and nothing unboxed, or ``clean``: an empty label file);
to the classifier tree when it has a class.

Which photos, in which split, with whose labels is ``training.feedback_plan``'s (pure);
``export_yolo`` only writes what the plan says. Writing the same examples twice gives the
same bytes: no timestamps, no absolute paths, sorted JSON.

Errors (the tree is drawn in ``vision.errors``)::

    vision.errors.FeedbackError
    ├── vision.errors.InvalidExampleError  a labelled photo contradicts itself (source, reason)
    ├── ExportDirectoryError   the export folder exists and is not empty (path)
    ├── PhotoSizeError         the stored photo is not the size its boxes were drawn on
    └── LabelStudioFormatError (training.label_studio) a task that cannot be read (task, reason)
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from storage.errors import EvidenceNotFoundError
from storage.evidence import EvidenceStore, strip_private_exif
from training.feedback_plan import Example, plan_examples
from vision.errors import FeedbackError
from vision.image import decode_image
from vision.labelled import Box, LabelledPhoto
from vision.labels import LABELS, PHOTO_CLASSES

__all__ = [
    "ExportDirectoryError",
    "ExportManifest",
    "PhotoSizeError",
    "data_yaml",
    "dataset_jpeg",
    "export_yolo",
    "yolo_lines",
]

FORMAT = "freshproof-feedback/1"
SPLITS = ("train", "val")


class ExportDirectoryError(FeedbackError):
    """The export folder exists and holds files: an export never mixes with old ones."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is not empty: export into a new folder")
        self.path = path


class PhotoSizeError(FeedbackError):
    """The stored photo's upright size is not the one its boxes were drawn on."""

    def __init__(self, sha256: str, expected: tuple[int, int], found: tuple[int, int]) -> None:
        super().__init__(f"photo {sha256}: boxes drawn on {expected}, the stored photo is {found}")
        self.sha256 = sha256
        self.expected = expected
        self.found = found


_ORIENTATION = 0x0112


def dataset_jpeg(data: bytes) -> tuple[bytes, int, int]:
    """The photo as a dataset image, upright, without GPS or serials; and its size.

    An upright JPEG keeps its compressed pixels byte for byte (only private EXIF goes); any
    other photo (PNG, HEIF, a JPEG that EXIF rotates) is decoded upright and re-encoded at
    quality 95 without metadata, so every consumer sees the pixels the boxes were drawn on.
    """
    with Image.open(io.BytesIO(data)) as img:
        try:
            orientation = img.getexif().get(_ORIENTATION, 1)
        except Exception:  # a corrupt EXIF block: the vision decoder ignores it too
            orientation = 1
        if img.format in ("JPEG", "MPO") and orientation not in range(2, 9):
            return strip_private_exif(data), img.width, img.height
    decoded = decode_image(data)
    out = io.BytesIO()
    Image.fromarray(decoded.rgb).save(out, format="JPEG", quality=95)
    return out.getvalue(), decoded.width, decoded.height


def yolo_lines(boxes: Sequence[Box], width: int, height: int) -> str:
    """A YOLO label file: class, centre and size normalised to the photo, 6 decimals."""
    lines = []
    for label, x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        w, h = (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{LABELS.index(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def data_yaml() -> str:
    """The dataset's YAML: folders relative to it (Ultralytics resolves them there)."""
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(LABELS))
    return f"train: images/train\nval: images/val\nnames:\n{names}"


@dataclass(frozen=True)
class ExportManifest:
    """What an export wrote; ``sha256`` (of ``manifest.json``) is the dataset's identity."""

    version: str
    sha256: str
    path: Path
    counts: Mapping[str, Any]
    decisions: tuple[int, ...]
    missing: tuple[str, ...]
    files: Mapping[str, str] = field(repr=False)


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


class _Writer:
    """Writes files under the export root and remembers each one's SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, str] = {}

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[relative] = hashlib.sha256(data).hexdigest()


def _counts(examples: Sequence[Example]) -> dict[str, Any]:
    detection = {s: {"images": 0, "negatives": 0, **{x: 0 for x in LABELS}} for s in SPLITS}
    classifier = {s: dict.fromkeys(PHOTO_CLASSES, 0) for s in SPLITS}
    sources: Counter[str] = Counter()
    for ex in examples:
        p = ex.photo
        if p.for_detection:
            detection[ex.split]["images"] += 1
            detection[ex.split]["negatives"] += not p.boxes
            for b in p.boxes:
                detection[ex.split][b[0]] += 1
        if p.photo_class is not None:
            classifier[ex.split][p.photo_class] += 1
        sources.update({s.split(":", 1)[0] for s in ex.sources})
    return {
        "photos": len(examples),
        "detection": detection,
        "classifier": classifier,
        "sources": dict(sorted(sources.items())),
    }


def export_yolo(
    photos: Iterable[LabelledPhoto],
    store: EvidenceStore,
    out: Path,
    *,
    version: str,
    val_fraction: float = 0.2,
    label_studio_url: str | None = None,
) -> ExportManifest:
    """Write the examples as a YOLO dataset under ``out`` (new or empty); see the module.

    ``images/<split>/<sha>.jpg`` + ``labels/<split>/<sha>.txt`` + ``data.yaml`` for the
    detector, ``cls/<split>/<class>/<sha>.jpg`` for the classifier, and ``manifest.json``.
    With ``label_studio_url`` also Label Studio tasks (each image's URL is that prefix and the
    image's path in the export) and the labeling config. A photo missing from the store is
    left out and named in the manifest.

    The files are written in a hidden folder beside ``out`` and moved into place at the end,
    so ``out`` holds a whole export or nothing.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportDirectoryError(out)
    examples = plan_examples(photos, val_fraction=val_fraction)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    work.chmod(0o755)  # mkdtemp's 0700 would hide the dataset from the trainer's user
    try:
        manifest = _write_export(
            examples, store, work, version=version, val_fraction=val_fraction,
            label_studio_url=label_studio_url,
        )  # fmt: skip
        if out.exists():
            out.rmdir()  # empty: checked above
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return replace(manifest, path=out)


def _write_export(
    examples: Sequence[Example],
    store: EvidenceStore,
    out: Path,
    *,
    version: str,
    val_fraction: float,
    label_studio_url: str | None,
) -> ExportManifest:
    """Write the planned examples under ``out``; the manifest last."""
    writer = _Writer(out)
    written: list[Example] = []
    missing: list[str] = []
    paths: dict[str, str] = {}
    for ex in examples:
        p = ex.photo
        try:
            original = store.get_original(p.sha256)
        except EvidenceNotFoundError:
            missing.append(p.sha256)
            continue
        jpeg, width, height = dataset_jpeg(original)
        if p.width is not None and (p.width, p.height) != (width, height):
            raise PhotoSizeError(p.sha256, (p.width, p.height or 0), (width, height))
        if p.for_detection:
            paths[p.sha256] = f"images/{ex.split}/{p.sha256}.jpg"
            writer.write(paths[p.sha256], jpeg)
            label_file = f"labels/{ex.split}/{p.sha256}.txt"
            writer.write(label_file, yolo_lines(p.boxes, width, height).encode())
        if p.photo_class is not None:
            cls_path = f"cls/{ex.split}/{p.photo_class}/{p.sha256}.jpg"
            paths.setdefault(p.sha256, cls_path)
            writer.write(cls_path, jpeg)
        written.append(ex)
    for split in SPLITS:  # every folder a trainer looks for exists, even when empty
        for folder in (out / "images" / split, out / "labels" / split):
            folder.mkdir(parents=True, exist_ok=True)
        for c in PHOTO_CLASSES:  # the classifier's class ids come from its folder names
            (out / "cls" / split / c).mkdir(parents=True, exist_ok=True)
    writer.write("data.yaml", data_yaml().encode())
    if label_studio_url is not None:
        from training.label_studio import LABEL_CONFIG, to_label_studio

        tasks = to_label_studio(
            [ex.photo for ex in written], lambda p: label_studio_url + paths[p.sha256]
        )
        writer.write("label_studio_tasks.json", _json(tasks))
        writer.write("label_studio_config.xml", LABEL_CONFIG.encode())
    decisions = tuple(sorted({i for ex in written for i in ex.ledger_indices}))
    counts = _counts(written)
    body = {
        "format": FORMAT,
        "version": version,
        "labels": list(LABELS),
        "classes": list(PHOTO_CLASSES),
        "val_fraction": val_fraction,
        "counts": counts,
        "decisions": list(decisions),
        "examples": [_example_entry(ex, paths) for ex in written],
        "missing": missing,
        "files": dict(sorted(writer.files.items())),
    }
    manifest = _json(body)
    (out / "manifest.json").write_bytes(manifest)
    return ExportManifest(
        version,
        hashlib.sha256(manifest).hexdigest(),
        out,
        counts,
        decisions,
        tuple(missing),
        dict(writer.files),
    )


def _example_entry(ex: Example, paths: Mapping[str, str]) -> dict[str, Any]:
    p = ex.photo
    return {
        "sha256": p.sha256,
        "file": paths[p.sha256],
        "split": ex.split,
        "class": p.photo_class,
        "family": p.family,
        "boxes": len(p.boxes),
        "unboxed": list(p.unboxed),
        "detection": p.for_detection,
        "sources": list(ex.sources),
        "decided_by": list(ex.decided_by),
        "ledger_indices": list(ex.ledger_indices),
        "superseded": list(ex.superseded),
    }
