"""Compose decode → quality gate → preprocess → inference → postprocess, each timed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from vision.budget import DecodeBudget
from vision.domain import features
from vision.errors import ImageRejected
from vision.image import (
    WORKING_SIDE,
    ImageLimits,
    QualityIssue,
    QualityReport,
    QualityThresholds,
    assess_quality,
    decode_image,
)
from vision.operating import PhotoDecision
from vision.package import PackageClassifierSpec
from vision.parallel import photo_in_flight, submit
from vision.phash import format_phash, phash
from vision.postprocess import center_crop_input, classifier_views, decode_yolo, letterbox
from vision.registry import DEFAULT_WEIGHTS_DIR, ModelSpec, resolve_model
from vision.runtime import Backend, fixed_batch, load_backend

__all__ = ["Finding", "Inspection", "Inspector", "Judgement", "Predictor"]


@dataclass(frozen=True)
class Finding:
    """One defect found, box in pixels of the original (upright) image.

    ``confidence`` is the label's fused score for the photo; ``localized`` is False when no
    detector box backs the label and the box is the whole image; ``box_score`` is the
    detector's own score for the box. ``uncertain``: the score is above the label's threshold
    but within its abstention margin; the model would rather not be relied on for it.
    """

    label: str
    confidence: float
    box: tuple[float, float, float, float]
    localized: bool = True
    box_score: float | None = None
    uncertain: bool = False

    def scaled(self, sx: float, sy: float) -> Finding:
        """The same finding with its box scaled, e.g. from a reduced decode to the photo."""
        x1, y1, x2, y2 = self.box
        return replace(self, box=(x1 * sx, y1 * sy, x2 * sx, y2 * sy))

    def as_dict(self) -> dict[str, object]:
        """JSON form of the output contract."""
        out: dict[str, object] = {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 1) for v in self.box],
            "localized": self.localized,
        }
        if self.box_score is not None:
            out["box_score"] = round(self.box_score, 4)
        if self.uncertain:
            out["uncertain"] = True
        return out


@dataclass(frozen=True)
class Judgement:
    """Per-label fused scores for one image, and the detector's boxes behind them."""

    scores: dict[str, float]
    candidates: tuple[Finding, ...]
    classifier: dict[str, float] | None
    # The packaging classifier's P(damaged), before fusion; None when the release has none.
    package: float | None = None

    def scaled(self, sx: float, sy: float) -> Judgement:
        """The same judgement with its boxes scaled, e.g. from a reduced decode to the photo."""
        if sx == 1.0 and sy == 1.0:
            return self
        return replace(self, candidates=tuple(f.scaled(sx, sy) for f in self.candidates))


@dataclass(frozen=True)
class Inspection:
    """The result for one image: the output contract of ``predict --json`` and the API."""

    image: str
    sha256: str
    width: int
    height: int
    quality: QualityReport
    findings: tuple[Finding, ...]
    model: dict[str, str]
    # The perceptual hash of the upright pixels: finds this photo again after re-encoding.
    phash: int
    timing_ms: dict[str, float] = field(default_factory=dict)
    # Every label's calibrated score, found or not (empty when the photo was not judged):
    # how sure the model is that a label is absent, for grading and abstaining.
    scores: dict[str, float] = field(default_factory=dict)
    # Per family of products, what the photo decides and whether without a person (see
    # ``vision.operating``); empty when the photo was not judged, or from an inspector that
    # states no operating points (a test double): callers then fall back to their own rule.
    decisions: dict[str, PhotoDecision] = field(default_factory=dict)
    # The product family the caller named (a station's item, a claim's), None when nobody
    # did: a release's packaging classifier judges only the families it names.
    family: str | None = None

    @property
    def defective(self) -> bool:
        """True when any defect label was found at its operating threshold."""
        return bool(self.findings)

    def as_dict(self) -> dict[str, object]:
        """JSON form of the output contract."""
        return {
            "image": self.image,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "quality": self.quality.as_dict(),
            "findings": [f.as_dict() for f in self.findings],
            "model": self.model,
            "phash": format_phash(self.phash),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "timing_ms": {k: round(v, 2) for k, v in self.timing_ms.items()},
            **({"family": self.family} if self.family is not None else {}),
            **(
                {"decisions": {f: d.as_dict() for f, d in self.decisions.items()}}
                if self.decisions
                else {}
            ),
        }


class Inspector(Protocol):
    """What the domain packages (claims, stations) need of a predictor: one photo judged."""

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        """Judge one photo of ``family`` (a ``vision.operating`` family; None when nobody
        said); raises ``vision.errors.ImageRejected`` for non-images."""
        ...


class Predictor:
    """A loaded model with its backend; thread-compatible, reusable across requests.

    Every decode goes through ``budget``, shared by all requests of the process; the
    default one caps nothing (a CLI run or a test decodes one photo at a time anyway).
    """

    def __init__(
        self,
        spec: ModelSpec,
        backend: Backend,
        *,
        classifier: Backend | None = None,
        package: Backend | None = None,
        limits: ImageLimits = ImageLimits(),
        quality: QualityThresholds = QualityThresholds(),
        budget: DecodeBudget | None = None,
        release_entry: int | None = None,
    ) -> None:
        self.spec = spec
        # The ledger entry that released this model, when the service knows it: every
        # result names it, so a finding can be traced to the release's files and metrics.
        self.release_entry = release_entry
        self.backend = backend
        self.classifier = classifier
        self.package = package
        self.limits = limits
        self.quality = quality
        self.budget = budget if budget is not None else DecodeBudget()

    @property
    def model(self) -> dict[str, str]:
        """What every result records about the model: files' hashes, runtime and precision.

        The same ONNX file can give slightly different scores on another runtime or at a
        lower precision, so both are part of the evidence, not just the file's hash.
        """
        backends = [self.backend, *(b for b in (self.classifier, self.package) if b)]
        # Detector and classifier share both from ``from_weights``; a mix is spelled out.
        out = self.spec.identity() | {
            "backend": "+".join(dict.fromkeys(b.name for b in backends)),
            "precision": "+".join(dict.fromkeys(b.precision for b in backends)),
        }
        if self.release_entry is not None:
            out["release_entry"] = str(self.release_entry)
        return out

    @classmethod
    def from_weights(
        cls,
        weights_dir: Path = DEFAULT_WEIGHTS_DIR,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str = "onnxruntime",
        precision: str = "f32",
        threads: int = 0,
        limits: ImageLimits = ImageLimits(),
        quality: QualityThresholds = QualityThresholds(),
        budget: DecodeBudget | None = None,
        release_entry: int | None = None,
    ) -> Predictor:
        """Resolve the shipped model (its newest entry, or ``version``), verify its hash and
        open a backend on it."""
        spec = resolve_model(weights_dir, name, version=version)
        classifier = (
            load_backend(backend, spec.classifier.path, precision=precision, threads=threads)
            if spec.classifier is not None
            else None
        )
        package = (
            load_backend(
                backend, spec.package_classifier.path, precision=precision, threads=threads
            )
            if spec.package_classifier is not None
            else None
        )
        return cls(
            spec,
            load_backend(backend, spec.path, precision=precision, threads=threads),
            classifier=classifier,
            package=package,
            limits=limits,
            quality=quality,
            budget=budget,
            release_entry=release_entry,
        )

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        """Judge one uploaded file of ``family`` (None when nobody said which); raises
        ``ImageRejected`` if it is not a usable image.

        Raises ``DecoderBusyError`` when the decode budget had no room in time.
        """
        with photo_in_flight():
            return self._inspect(data, image=image, family=family)

    def _inspect(self, data: bytes, *, image: str, family: str | None) -> Inspection:
        t0 = time.perf_counter()
        digest = hashlib.sha256(data).hexdigest()
        decoded = decode_image(data, limits=self.limits, max_side=WORKING_SIDE, budget=self.budget)
        # The networks start now, on the pool, while this thread runs the gate: their result
        # is used only when the gate passes (no finding rests on an unjudgeable image), so the
        # order changes the time taken, never the answer.
        judging = self._start_judging(decoded.rgb, floor=self.spec.box_floor, family=family)
        size = (decoded.width, decoded.height)
        quality = self._not_a_product(
            assess_quality(decoded.rgb, thresholds=self.quality, size=size), decoded.rgb
        )
        # Hashed here, on the pixels already decoded, so nobody has to decode the photo twice.
        perceptual = phash(decoded.rgb)
        timing = {"decode": (time.perf_counter() - t0) * 1e3}  # with the gate and the hash
        findings: tuple[Finding, ...] = ()
        scores: dict[str, float] = {}
        decisions: dict[str, PhotoDecision] = {}
        if quality.ok:
            judgement = judging(timing)
            judgement = judgement.scaled(*decoded.scale)  # boxes in the photo's own pixels
            findings = self.findings(judgement, width=decoded.width, height=decoded.height)
            scores = dict(judgement.scores)
            decisions = self.spec.operating_points.decisions(
                found={f.label for f in findings}, scores=scores
            )
        timing["total"] = (time.perf_counter() - t0) * 1e3
        return Inspection(
            image,
            digest,
            decoded.width,
            decoded.height,
            quality,
            findings,
            self.model,
            phash=perceptual,
            timing_ms=timing,
            scores=scores,
            decisions=decisions,
            family=family,
        )

    def _not_a_product(self, report: QualityReport, rgb: np.ndarray) -> QualityReport:
        """The gate's report, refused as "not a product photo" when the photo's image
        statistics fall outside what the release's real product photos span."""
        envelope = self.spec.product_photo
        if envelope is None or not report.ok:
            return report
        outside = envelope.outside(features(rgb))
        if not outside:
            return report
        issue = QualityIssue(
            "not_a_product_photo",
            "this does not look like a photo of a product (it looks like noise, a blank "
            "surface, a document or a screen): send a photo of the item itself",
        )
        return replace(report, ok=False, issues=(*report.issues, issue))

    def detect(
        self, rgb: np.ndarray, *, conf: float, timing: dict[str, float] | None = None
    ) -> list[Finding]:
        """Every candidate at or above ``conf`` on an upright RGB image, thresholds not applied."""
        t1 = time.perf_counter()
        batch, lb = letterbox(rgb, self.spec.imgsz)
        t2 = time.perf_counter()
        raw = self.backend.run(batch)[0]
        t3 = time.perf_counter()
        out = [
            Finding(
                self.spec.labels[cls], score, (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
            )
            for cls, score, b in decode_yolo(
                raw, lb, width=rgb.shape[1], height=rgb.shape[0], conf=conf, iou=self.spec.iou
            )
        ]
        if timing is not None:
            timing |= {
                "preprocess": (t2 - t1) * 1e3,
                "inference": (t3 - t2) * 1e3,
                "postprocess": (time.perf_counter() - t3) * 1e3,
            }
        return out

    def warm_up(self) -> None:
        """Run every network once on a small grey image, so that the first photo does not
        pay the runtime's first-run allocations."""
        pkg = self.spec.package_classifier
        family = pkg.families[0] if pkg is not None and pkg.families else None  # runs it too
        self.judge(np.full((64, 64, 3), 128, np.uint8), floor=self.spec.box_floor, family=family)

    def judge(
        self,
        rgb: np.ndarray,
        *,
        floor: float,
        timing: dict[str, float] | None = None,
        family: str | None = None,
    ) -> Judgement:
        """Fused per-label scores: the larger of the classifier's probability for the label
        (averaged over the photo and the release's test-time views of it) and the detector's
        best box for it (boxes kept down to ``floor``), then calibrated when the manifest
        carries a calibration for the label; then the packaging classifier's probability of
        damage fused into ``package_damage`` when the release ships one that judges photos of
        ``family`` (``vision.package``; None: nobody said what the photo shows)."""
        return self._start_judging(rgb, floor=floor, family=family)(timing)

    def _start_judging(
        self, rgb: np.ndarray, *, floor: float, family: str | None = None
    ) -> Callable[[dict[str, float] | None], Judgement]:
        """Start both networks on the shared pool; the function returned waits for them and
        fuses their scores (its ``timing`` gets each stage's time, as ``judge`` documents)."""
        det_timing: dict[str, float] = {}
        cls_timing: dict[str, float] = {}
        detecting = submit(self.detect, rgb, conf=floor, timing=det_timing)
        classifying = submit(self._classify, rgb, cls_timing)
        pkg_timing: dict[str, float] = {}
        pkg_spec = self.spec.package_classifier
        packaging = (
            submit(self._packaging, rgb, pkg_timing)
            if self.package is not None and pkg_spec is not None and pkg_spec.applies_to(family)
            else None
        )

        def finish(timing: dict[str, float] | None) -> Judgement:
            candidates, probs = detecting.result(), classifying.result()
            damage = None if packaging is None else packaging.result()
            if timing is not None:
                timing |= det_timing | cls_timing | pkg_timing
            scores = {label: 0.0 for label in self.spec.labels}
            for f in candidates:
                scores[f.label] = max(scores[f.label], f.confidence)
            if probs is not None:
                for label in self.spec.labels:
                    scores[label] = max(scores[label], probs.get(label, 0.0))
            for label, calibrate in self.spec.calibration.items():
                scores[label] = calibrate(scores[label])
            if damage is not None and self.spec.package_classifier is not None:
                threshold = self.spec.thresholds["package_damage"]
                scores = self.spec.package_classifier.fuse(scores, damage, threshold)
            return Judgement(scores, tuple(candidates), probs, damage)

        return finish

    def _classify(self, rgb: np.ndarray, timing: dict[str, float]) -> dict[str, float] | None:
        """The classifier's probabilities averaged over its views; None without a classifier."""
        if self.classifier is None or self.spec.classifier is None:
            return None
        t = time.perf_counter()
        batch = center_crop_input(rgb, self.spec.classifier.imgsz)
        views = classifier_views(batch, self.spec.classifier.views)
        out = np.mean(_run_views(self.classifier, views), axis=0)
        timing["classify"] = (time.perf_counter() - t) * 1e3
        return {c: float(p) for c, p in zip(self.spec.classifier.classes, out, strict=True)}

    def _packaging(self, rgb: np.ndarray, timing: dict[str, float]) -> float:
        """The packaging classifier's P(damaged) (the release ships one: see _start_judging)."""
        assert self.package is not None and self.spec.package_classifier is not None
        t = time.perf_counter()
        damage = self._package_damage(rgb, self.package, self.spec.package_classifier)
        timing["package"] = (time.perf_counter() - t) * 1e3
        return damage

    @staticmethod
    def _package_damage(rgb: np.ndarray, backend: Backend, spec: PackageClassifierSpec) -> float:
        """The packaging classifier's P(damaged), averaged over the photo and its views."""
        return spec.probability(_run_views(backend, spec.inputs(rgb)))

    def findings(self, judgement: Judgement, *, width: int, height: int) -> tuple[Finding, ...]:
        """The labels at or above their operating thresholds, with up to 3 boxes each."""
        out: list[Finding] = []
        for label, score in judgement.scores.items():
            threshold = self.spec.thresholds[label]
            if score < threshold:
                continue
            unsure = score < threshold + self.spec.abstain.get(label, 0.0)
            boxes = [c for c in judgement.candidates if c.label == label][:3]
            if not boxes:
                # The classifier saw it but no box backs it: say so, and point at the photo.
                whole = (0.0, 0.0, float(width), float(height))
                out.append(Finding(label, score, whole, False, uncertain=unsure))
            out += [Finding(label, score, b.box, True, b.confidence, unsure) for b in boxes]
        return tuple(out)

    def try_inspect(
        self, data: bytes, *, image: str, family: str | None = None
    ) -> Inspection | ImageRejected:
        """Like ``inspect`` but returns the rejection instead of raising it (batch use)."""
        try:
            return self.inspect(data, image=image, family=family)
        except ImageRejected as exc:
            return exc


def _run_views(backend: Backend, views: list[np.ndarray]) -> np.ndarray:
    """A network's outputs for each view, one row per view: one run over every view when the
    network takes that batch (the same outputs image by image), else one run per view (a
    network exported for one image at a time, as releases up to 0.3.1)."""
    if fixed_batch(backend) in (None, len(views)):
        return backend.run(np.concatenate(views))
    return np.concatenate([backend.run(view) for view in views])
