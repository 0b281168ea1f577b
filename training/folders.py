"""Photos sorted into class folders, as adjudicators and stations export them.

``root/<class>/*.jpg`` where ``<class>`` is a label (``spoilage``, ``mold``, ``swelling``,
``package_damage``) or a clean class (``clean``, ``fresh``, ``intact``, ``ok``, ``none``).
Each photo's ground truth is its folder: one whole-photo box of that label, or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2

from training.evaluate import CANDIDATE_CONF, ImageRecord
from training.imageio import read_bgr
from vision.predictor import Predictor

__all__ = ["CLEAN_CLASSES", "IMAGE_SUFFIXES", "collect_folders", "is_class_folder_dataset"]

CLEAN_CLASSES = frozenset({"clean", "fresh", "intact", "ok", "none"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


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
        for path in progress(_photos(folder)):
            rgb = cv2.cvtColor(read_bgr(path), cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            gt: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
                ()
                if folder.name in CLEAN_CLASSES
                else ((folder.name, (0.0, 0.0, float(w), float(h))),)
            )
            judgement = predictor.judge(rgb, floor=CANDIDATE_CONF)
            records.append(
                ImageRecord(
                    f"{folder.name}/{path.name}",
                    folder.name,
                    (),
                    gt,
                    judgement.candidates,
                    judgement.scores,
                    judgement.classifier,
                )
            )
    return records
