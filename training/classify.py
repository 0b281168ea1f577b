"""The condition classifier: one label per photo (clean or the dominant defect).

Trained beside the detector because image-level judgement learns far faster than boxes
from scratch on a CPU; the predictor fuses the two (see ``vision/predictor.py``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from training.train import common_args, offline_yolo
from vision.labelled import photo_class_of
from vision.labels import LABELS, PHOTO_CLASSES

__all__ = ["CLASSES", "build_cls_dataset", "label_file_class", "train_classifier"]

CLASSES: tuple[str, ...] = PHOTO_CLASSES  # defined once, in vision: labels need it too


def label_file_class(label_file: Path) -> str:
    """A YOLO label file's photo class (``photo_class_of`` its boxes' labels); a photo with
    no label file is clean. Building and retraining both class photos by this one rule."""
    lines = label_file.read_text().splitlines() if label_file.exists() else []
    return photo_class_of((), [LABELS[int(line.split()[0])] for line in lines if line.strip()])


def build_cls_dataset(
    *, dataset: Path, out: Path, train_list: Path | None = None
) -> dict[str, dict[str, int]]:
    """An ImageFolder tree of symlinks (split/class/image) from a built detection dataset."""
    keep = None
    if train_list is not None:
        keep = {Path(p).name for p in train_list.read_text().split()}
    counts: dict[str, dict[str, int]] = {}
    for split in ("train", "val", "test"):
        counts[split] = {}
        for img in sorted((dataset / "images" / split).glob("*.jpg")):
            if split == "train" and keep is not None and img.name not in keep:
                continue
            label = label_file_class(dataset / "labels" / split / f"{img.stem}.txt")
            dest = out / split / label / img.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                os.symlink(img.resolve(), dest)
            counts[split][label] = counts[split].get(label, 0) + 1
        for c in CLASSES:  # every class folder must exist, even if empty in a split
            (out / split / c).mkdir(parents=True, exist_ok=True)
    (out / "build.json").write_text(json.dumps(counts, indent=2))
    return counts


def train_classifier(
    *,
    data: Path,
    out_dir: Path,
    imgsz: int = 128,
    epochs: int = 30,
    hours: float | None = None,
    batch: int = 64,
    device: str = "cpu",
    model: str = "yolo11n-cls.yaml",
    config_dir: Path = Path("var/yolo-config"),
    seed: int = 0,
) -> tuple[Path, float]:
    """Train YOLO11n-cls (from scratch, or on from ``model`` when it is a checkpoint);
    returns (best checkpoint, seconds)."""
    YOLO = offline_yolo(config_dir)
    args = common_args(
        model=model,
        data=data,
        out_dir=out_dir,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        workers=2,
        seed=seed,
        hours=hours,
    ) | {"warmup_epochs": 1, "cache": "ram"}
    start = time.perf_counter()
    YOLO(model).train(**args)
    seconds = time.perf_counter() - start
    run = out_dir.resolve() / "train"
    record = {"seconds": seconds, "args": {"model": model, **args}}
    (run / "freshproof_train.json").write_text(json.dumps(record))
    return run / "weights" / "best.pt", seconds
