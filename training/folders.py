"""Photos sorted into class folders, as adjudicators and stations export them.

``root/<class>/*.jpg`` where ``<class>`` is a label (``spoilage``, ``mold``, ``swelling``,
``package_damage``) or a clean class (``clean``, ``fresh``, ``intact``, ``ok``, ``none``).
Each photo's ground truth is its folder: one whole-photo box of that label, or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from training.evaluate import GroundTruth, ImageRecord, judge_file
from vision.predictor import Predictor

__all__ = ["CLEAN_CLASSES", "IMAGE_SUFFIXES", "collect_folders", "is_class_folder_dataset"]

CLEAN_CLASSES = frozenset({"clean", "fresh", "intact", "ok", "none"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _whole_photo(label: str | None, w: int, h: int) -> GroundTruth:
    # The whole photo is the "box": class folders are labelled per photo, not per object.
    return ((label, (0.0, 0.0, float(w), float(h))),) if label else ()


def is_class_folder_dataset(root: Path) -> bool:
    """A folder whose subfolders hold photos directly (and no YOLO ``images/`` tree)."""
    if not root.is_dir() or (root / "images").is_dir():
        return False
    return any(d.is_dir() and _photos(d) for d in root.iterdir())


def collect_folders(
    predictor: Predictor,
    root: Path,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = iter,
) -> list[ImageRecord]:
    """Run the model over every photo under ``root/<class>/``; unknown classes are an error."""
    labels = predictor.spec.labels
    classes = sorted(d for d in root.iterdir() if d.is_dir() and _photos(d))
    unknown = [d.name for d in classes if d.name not in labels and d.name not in CLEAN_CLASSES]
    if unknown:
        raise ValueError(
            f"class folders {unknown} are neither labels {list(labels)} "
            f"nor clean classes {sorted(CLEAN_CLASSES)}"
        )
    records = []
    for folder in classes:
        label = None if folder.name in CLEAN_CLASSES else folder.name
        for path in progress(_photos(folder)):
            records.append(
                judge_file(
                    predictor,
                    path,
                    file=f"{folder.name}/{path.name}",
                    pool=folder.name,
                    tags=(),
                    truth=partial(_whole_photo, label),
                )
            )
    return records
