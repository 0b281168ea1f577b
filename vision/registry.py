"""Resolve shipped models from ``weights/manifest.json`` and check their SHA-256.

A model file whose hash differs from the manifest is refused: evidence must name exactly
the model that produced it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision.calibration import PlattScaling, parse_calibration
from vision.domain import DomainEnvelope, parse_envelope
from vision.errors import ModelError
from vision.labels import LABELS
from vision.operating import NO_OPERATING_POINTS, OperatingPoints, parse_operating_points
from vision.package import PackageClassifierSpec, parse_package_classifier
from vision.postprocess import CLASSIFIER_VIEWS

__all__ = [
    "DEFAULT_WEIGHTS_DIR",
    "ClassifierSpec",
    "ModelSpec",
    "default_name",
    "file_sha256",
    "load_manifest",
    "manifest_entry",
    "resolve_model",
]

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class ClassifierSpec:
    """The condition classifier shipped with a detector: one class per photo."""

    path: Path
    sha256: str
    classes: tuple[str, ...]
    imgsz: int
    # Test-time views averaged with the photo (``vision.postprocess.CLASSIFIER_VIEWS``).
    views: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """One shipped model as the manifest describes it.

    ``thresholds`` apply to each label's fused score (see ``vision.predictor``); ``box_floor``
    is the detector score a box needs to be drawn for a label that is reported.
    """

    name: str
    version: str
    path: Path
    sha256: str
    labels: tuple[str, ...]
    imgsz: int
    thresholds: dict[str, float]
    iou: float = 0.7
    box_floor: float = 0.05
    classifier: ClassifierSpec | None = None
    # A second classifier for packs alone, fused into ``package_damage`` (``vision.package``).
    package_classifier: PackageClassifierSpec | None = None
    # Per-label Platt scaling of the fused score; thresholds then apply to calibrated scores.
    calibration: dict[str, PlattScaling] = field(default_factory=dict)
    # Per label: a reported finding scoring less than threshold + margin is uncertain (the
    # margins were chosen on the validation split; none: every finding is reported sure).
    abstain: dict[str, float] = field(default_factory=dict)
    # Per family, when a decision may be taken without a person (none: never).
    operating_points: OperatingPoints = NO_OPERATING_POINTS
    # What real product photos look like (image statistics); None: no such check.
    product_photo: DomainEnvelope | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def min_threshold(self) -> float:
        """The lowest per-label threshold: candidates below it can never be reported."""
        return min(self.thresholds.values())

    def identity(self) -> dict[str, str]:
        """What every finding records about the model that made it (all files' hashes)."""
        out = {"name": self.name, "version": self.version, "sha256": self.sha256}
        if self.classifier is not None:
            out["classifier_sha256"] = self.classifier.sha256
        if self.package_classifier is not None:
            out["package_classifier_sha256"] = self.package_classifier.sha256
        return out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(weights_dir: Path) -> dict[str, Any]:
    """Read and minimally validate the manifest."""
    path = weights_dir / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"no model manifest at {path}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"model manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest.get("models"), list) or not manifest["models"]:
        raise ModelError(f"model manifest {path} lists no models")
    return manifest


def _classifier(weights_dir: Path, entry: dict[str, Any] | None) -> ClassifierSpec | None:
    if entry is None:
        return None
    views = tuple(entry.get("views", ()))
    unknown = sorted(set(views) - set(CLASSIFIER_VIEWS))
    if unknown:
        raise ModelError(
            f"classifier {entry['file']}: unknown test-time views {unknown} "
            f"(known: {sorted(CLASSIFIER_VIEWS)})"
        )
    return ClassifierSpec(
        path=weights_dir / entry["file"],
        sha256=entry["sha256"],
        classes=tuple(entry["classes"]),
        imgsz=int(entry["imgsz"]),
        views=views,
    )


def default_name(weights_dir: Path = DEFAULT_WEIGHTS_DIR) -> str:
    """The model name the manifest serves by default."""
    manifest = load_manifest(weights_dir)
    return str(manifest.get("default") or manifest["models"][0]["name"])


def manifest_entry(
    weights_dir: Path = DEFAULT_WEIGHTS_DIR, name: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """A model's manifest entry: the newest of its name, or the one of ``version``."""
    manifest = load_manifest(weights_dir)
    name = name or default_name(weights_dir)
    # The newest entry of a name wins: releases are appended, never edited in place.
    entry = next(
        (
            m
            for m in reversed(manifest["models"])
            if m.get("name") == name and version in (None, m.get("version"))
        ),
        None,
    )
    if entry is None:
        which = f"{name!r} version {version}" if version else repr(name)
        raise ModelError(f"model {which} is not in {weights_dir / 'manifest.json'}")
    return entry


def resolve_model(
    weights_dir: Path = DEFAULT_WEIGHTS_DIR,
    name: str | None = None,
    *,
    version: str | None = None,
    verify: bool = True,
) -> ModelSpec:
    """Find a model by name (default: the manifest's ``default``) and version (default: its
    newest entry) and verify its files' hashes."""
    entry = manifest_entry(weights_dir, name, version)
    name = str(entry["name"])
    try:
        spec = ModelSpec(
            name=entry["name"],
            version=entry["version"],
            path=weights_dir / entry["file"],
            sha256=entry["sha256"],
            labels=tuple(entry["labels"]),
            imgsz=int(entry["imgsz"]),
            thresholds={k: float(v) for k, v in entry["thresholds"].items()},
            iou=float(entry.get("iou", 0.7)),
            box_floor=float(entry.get("box_floor", 0.05)),
            classifier=_classifier(weights_dir, entry.get("classifier")),
            package_classifier=parse_package_classifier(
                weights_dir, entry.get("package_classifier")
            ),
            calibration=parse_calibration(entry.get("calibration"), tuple(entry["labels"])),
            abstain={k: float(v) for k, v in (entry.get("abstain") or {}).items()},
            operating_points=parse_operating_points(
                entry.get("operating_points"), tuple(entry["labels"]), version=entry["version"]
            ),
            product_photo=parse_envelope(entry.get("product_photo")),
            extra={k: v for k, v in entry.items() if k in ("calibration", "metrics")},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"manifest entry for {name!r} is malformed: {exc}") from exc
    if spec.labels != LABELS:
        raise ModelError(f"model {name!r} reports labels {spec.labels}, expected {LABELS}")
    if spec.package_classifier is not None and "package_damage" not in spec.thresholds:
        raise ModelError(f"model {name!r} has a package classifier but no package_damage threshold")
    files = [(spec.path, spec.sha256)]
    if spec.classifier is not None:
        files.append((spec.classifier.path, spec.classifier.sha256))
    if spec.package_classifier is not None:
        files.append((spec.package_classifier.path, spec.package_classifier.sha256))
    for path, expected in files:
        if not path.is_file():
            raise ModelError(f"model file {path} is missing")
        if verify and (actual := file_sha256(path)) != expected:
            raise ModelError(
                f"model file {path.name} has SHA-256 {actual}, the manifest says {expected}"
            )
    return spec
