"""Retraining on adjudicated evidence without forgetting: the base pools are replayed.

Fine-tuning on new examples alone makes a network forget what it knew (the classes and
looks the new data lacks); the usual cure, and ours, is to train on the new data *mixed
into* the original training set, the new examples repeated ``weight`` times so that a few
hundred corrections are not drowned by thousands of pool photos.

``plan_retraining`` decides what goes where (pure but for reading file listings and
hashing the photos it must compare); ``assemble`` writes it as a YOLO dataset (a train list
plus the base val/test folders) and a classifier folder tree, with a manifest whose hash
names the training data in the release entry; ``retrain`` trains from the serving
checkpoints with a fixed seed and releases the result into a candidate folder, for
``freshproof models promote`` to judge. A photo fed back that is also a val photo of the
base dataset leaves val (val picks thresholds and margins: it must not have been trained
on); test is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.classify import CLASSES, label_file_class
from training.datasets import capped_train_yaml
from training.layout import require_built, require_feedback

__all__ = ["RetrainPlan", "assemble", "plan_retraining", "retrain"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class RetrainPlan:
    """What a retraining run learns from, and what it is checked on.

    Paths are absolute. ``train``: base training images (after the pool caps) then every
    feedback training image ``weight`` times; ``val``: the base val images minus those fed
    back; ``cls_train``: (image, class) pairs for the classifier, the same mix.
    """

    base: str
    feedback: str | None
    weight: int
    seed: int
    caps: dict[str, int]
    train: tuple[str, ...]
    val: tuple[str, ...]
    test_dir: str
    cls_train: tuple[tuple[str, str], ...]
    cls_val: tuple[tuple[str, str], ...]
    left_val: tuple[str, ...]  # base val photos that were fed back, so left out of val

    def counts(self) -> dict[str, Any]:
        """How much of each kind, for the manifest and the log."""
        return {
            "train_images": len(self.train),
            "val_images": len(self.val),
            "classifier_train": dict(sorted(Counter(c for _, c in self.cls_train).items())),
            "left_out_of_val": len(self.left_val),
        }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)


def _feedback_cls(feedback: Path, split: str) -> list[tuple[Path, str]]:
    """The feedback export's classifier tree for a split: (image, class)."""
    root = feedback / "cls" / split
    return [(p, c) for c in CLASSES for p in _images(root / c)] if root.is_dir() else []


def plan_retraining(
    *,
    base: Path,
    feedback: Path | None,
    weight: int = 3,
    caps: dict[str, int] | None = None,
    seed: int = 0,
) -> RetrainPlan:
    """Mix ``feedback`` (an export of adjudicated evidence) into ``base`` (a built dataset)."""
    if weight < 1:
        raise ValueError(f"weight is how often each new example repeats: >= 1, not {weight}")
    # Before any work: a missing input names the command that makes it (MissingInputError).
    require_built(base)
    if feedback is not None:
        require_feedback(feedback)
    caps = dict(caps or {})
    capped_train_yaml(base, caps)  # writes train-capped.txt: the replayed base training set
    base_train = [Path(p) for p in (base / "train-capped.txt").read_text().split()]
    new_train: list[Path] = []
    new_cls: list[tuple[Path, str]] = []
    fed: set[str] = set()
    if feedback is not None:
        for split in ("train", "val"):  # every adjudicated example teaches; none checks
            images = _images(feedback / "images" / split)
            new_train += images
            fed |= {p.stem for p in images}  # feedback images are named by their SHA-256
            new_cls += _feedback_cls(feedback, split)
    base_val = _images(base / "images" / "val")
    left = [p for p in base_val if fed and _sha256(p) in fed]
    val = [p for p in base_val if p not in set(left)]
    labels = base / "labels"
    cls_train = [(p, label_file_class(labels / "train" / f"{p.stem}.txt")) for p in base_train]
    cls_val = [(p, label_file_class(labels / "val" / f"{p.stem}.txt")) for p in val]
    return RetrainPlan(
        base=str(base.resolve()),
        feedback=str(feedback.resolve()) if feedback else None,
        weight=weight,
        seed=seed,
        caps=caps,
        train=tuple(str(p.resolve()) for p in [*base_train, *new_train * weight]),
        val=tuple(str(p.resolve()) for p in val),
        test_dir=str((base / "images" / "test").resolve()),
        cls_train=tuple((str(p.resolve()), c) for p, c in [*cls_train, *new_cls * weight]),
        cls_val=tuple((str(p.resolve()), c) for p, c in cls_val),
        left_val=tuple(str(p.resolve()) for p in left),
    )


def _link(src: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(src, dest)


def _eval_view(plan: RetrainPlan, out: Path) -> Path:
    """The base dataset as release and evaluation read it, with val narrowed to the plan's
    (the photos fed back are gone from it) and test as built."""
    base = Path(plan.base)
    for split, images in (("val", [Path(p) for p in plan.val]), ("test", None)):
        if images is None:
            images = _images(base / "images" / split)
        for image in images:
            _link(str(image), out / "images" / split / image.name)
            label = base / "labels" / split / f"{image.stem}.txt"
            if label.exists():
                _link(str(label.resolve()), out / "labels" / split / label.name)
    for name in ("samples.jsonl", "build.json", "data.yaml"):
        if (base / name).exists():
            _link(str((base / name).resolve()), out / name)
    return out


def assemble(plan: RetrainPlan, out: Path) -> str:
    """Write the plan as datasets under ``out`` and return the manifest's SHA-256.

    ``out/data.yaml`` (train: a list file, repeats included; val: a list file; test: the
    base test folder) for the detector; ``out/cls/{train,val,test}/<class>/`` symlinks for
    the classifier (repeats as numbered links); ``out/manifest.json``: the plan, the base
    build's and the feedback export's manifest hashes, and the counts.
    """
    from vision.labels import LABELS

    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("\n".join(plan.train) + "\n")
    (out / "val.txt").write_text("\n".join(plan.val) + "\n")
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(LABELS))
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: train.txt\nval: val.txt\ntest: {plan.test_dir}\n"
        f"names:\n{names}\n"
    )
    seen: Counter[str] = Counter()
    for image, cls in tqdm(plan.cls_train, desc="classifier train links", unit="img"):
        n = seen[image]
        seen[image] += 1
        stem = Path(image).stem + (f"__r{n}" if n else "")
        _link(image, out / "cls" / "train" / cls / f"{stem}{Path(image).suffix}")
    for image, cls in plan.cls_val:
        _link(image, out / "cls" / "val" / cls / Path(image).name)
    base = Path(plan.base)
    for image in _images(base / "images" / "test"):
        cls = label_file_class(base / "labels" / "test" / f"{image.stem}.txt")
        _link(str(image.resolve()), out / "cls" / "test" / cls / image.name)
    for split in ("train", "val", "test"):
        for c in CLASSES:
            (out / "cls" / split / c).mkdir(parents=True, exist_ok=True)
    feedback_manifest = Path(plan.feedback) / "manifest.json" if plan.feedback else None
    manifest = {
        "plan": asdict(plan) | {"train": None, "val": None, "cls_train": None, "cls_val": None},
        "counts": plan.counts(),
        "base_build_sha256": _sha256(base / "build.json")
        if (base / "build.json").exists()
        else None,
        "feedback_manifest_sha256": (
            _sha256(feedback_manifest) if feedback_manifest and feedback_manifest.exists() else None
        ),
        "train_list_sha256": _sha256(out / "train.txt"),
        "val_list_sha256": _sha256(out / "val.txt"),
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (out / "manifest.json").write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def retrain(
    *,
    plan: RetrainPlan,
    out: Path,
    candidate: Path,
    version: str,
    name: str,
    detector_from: Path,
    classifier_from: Path,
    detector_hours: float,
    classifier_hours: float,
    imgsz: int,
    classifier_imgsz: int,
    serving_entry: dict[str, Any],
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Assemble, train what has hours, and release into ``candidate``; returns its entry.

    A network given no hours is carried over from the serving release unchanged (its
    checkpoint is re-exported under the new version).
    """
    from training.classify import train_classifier
    from training.pipeline import release_with_card, summarise_run
    from training.train import describe_hardware, train_detector

    data_sha = assemble(plan, out / "dataset")
    log(f"dataset {out / 'dataset'}: manifest sha256 {data_sha}; {plan.counts()}")
    training: dict[str, Any] = {
        "dataset_manifest_sha256": data_sha,
        "replay": {"base": plan.base, "feedback": plan.feedback, "weight": plan.weight},
        "seed": plan.seed,
        "hardware": describe_hardware("cpu"),
        # What was learned from, after the caps and with the repeats (the card quotes it).
        "train_images_used": dict(sorted(Counter(_pool_of(p) for p in plan.train).items())),
        "command": command or f"freshproof models retrain {version}",
    }
    detector = detector_from
    if detector_hours > 0:
        result = train_detector(
            data=out / "dataset" / "data.yaml",
            out_dir=out / "detector",
            model=str(detector_from),
            imgsz=imgsz,
            hours=detector_hours,
            warmup_epochs=0.0,
            close_mosaic=1,
            seed=plan.seed,
        )
        detector = result.best
        training |= {"seconds": round(result.seconds), "hardware": result.hardware}
        training["detector"] = summarise_run(
            run_dir=result.run_dir,
            kind="detector",
            seconds=result.seconds,
            imgsz=imgsz,
            batch=int(str(result.args.get("batch", 32))),
            source=str(detector_from),
        )
    else:
        training["detector"] = _unchanged(serving_entry["version"])
    classifier = classifier_from
    if classifier_hours > 0:
        classifier, seconds = train_classifier(
            data=out / "dataset" / "cls",
            out_dir=out / "classifier",
            imgsz=classifier_imgsz,
            hours=classifier_hours,
            model=str(classifier_from),
            seed=plan.seed,
        )
        training["classifier"] = summarise_run(
            run_dir=classifier.parent.parent,  # <run>/weights/best.pt
            kind="classifier",
            seconds=seconds,
            imgsz=classifier_imgsz,
            batch=64,  # train_classifier's
            source=str(classifier_from),
        )
    else:
        training["classifier"] = _unchanged(serving_entry["version"])
    candidate.mkdir(parents=True, exist_ok=True)
    return release_with_card(
        detector=detector,
        classifier=classifier,
        dataset=_eval_view(plan, out / "eval"),
        name=name,
        version=version,
        imgsz=imgsz,
        classifier_imgsz=classifier_imgsz,
        weights_dir=candidate,
        training=training,
        command=training["command"],
    )


def _pool_of(image: str) -> str:
    """A training image's pool: the base build names images ``<pool>__<...>``; fed-back
    ones are named by their SHA-256 alone."""
    name = Path(image).name
    return name.split("__", 1)[0] if "__" in name else "feedback"


def _unchanged(version: str) -> dict[str, str]:
    return {"unchanged_from": version, "summary": f"kept from {version}, not trained."}


def feedback_photos(feedback: Path) -> Sequence[Path]:
    """The images of a feedback export (any split)."""
    return [p for s in ("train", "val") for p in _images(feedback / "images" / s)]
