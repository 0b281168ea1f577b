"""The packaging classifier: a two-class network (``intact``, ``damaged``) that judges packs.

A release may ship it beside its detector and condition classifier (the manifest entry's
``package_classifier`` block). The predictor runs it on every judged photo and fuses its
probability of damage into the ``package_damage`` score, after the release's calibration:

- ``replace``: the score is the packaging classifier's alone (the detector's boxes and the
  condition classifier still say where, and still carry every other label);
- ``max``: the larger of the two;
- ``mean``: their average, an ensemble of two networks trained apart (both scores are on
  the release's scale, so the label's threshold means the same for their mean).

Its probability is mapped piecewise-linearly so that its own threshold (chosen on the
validation split) lands exactly on the release's ``package_damage`` threshold: the label is
found when the probability reaches the packaging classifier's threshold, and the score keeps
its order and the meaning thresholds, abstention margins and operating points give it.

Which photos it is asked about is the manifest's ``families``:

- absent: every photo, fruit included; a release ships one so only when it was trained to
  stay quiet outside packs and its false alarms on produce were measured (model card);
- a list of product families (``vision.operating.FAMILIES``): only photos whose family the
  caller knows and names (a station's item, a claim that named it) and that is one of them.
  A photo of another family, or of one nobody named, is judged by the release's other
  networks alone, exactly as the release without it would judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.errors import ModelError
from vision.operating import FAMILIES
from vision.postprocess import CLASSIFIER_VIEWS, center_crop_input, classifier_views, unit_chw

__all__ = [
    "FUSIONS",
    "INPUTS",
    "PackageClassifierSpec",
    "parse_package_classifier",
    "squash_input",
]

FUSIONS = ("replace", "max", "mean")
LABEL = "package_damage"  # the label the packaging classifier speaks for
POSITIVE = "damaged"  # its class that means that label


def squash_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole photo resized to ``size`` x ``size`` (aspect not kept), scaled to 0..1:
    (1, 3, size, size) float32. Unlike the centre crop, nothing at the sides is cut off,
    and a parcel's torn corner is often at a side."""
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    out = cv2.resize(rgb, (size, size), interpolation=interp)
    return unit_chw(out)


# How a photo becomes the network's input: the name is what the manifest's ``input`` says.
INPUTS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "crop": center_crop_input,
    "squash": squash_input,
}


@dataclass(frozen=True)
class PackageClassifierSpec:
    """The packaging classifier as the manifest describes it."""

    path: Path
    sha256: str
    classes: tuple[str, ...]
    imgsz: int
    input: str  # a key of ``INPUTS``
    threshold: float  # on P(damaged), chosen on val
    views: tuple[str, ...] = ()  # test-time views averaged with the input
    fusion: str = "replace"  # a member of ``FUSIONS``
    # The families it is asked about (see the module); None: every photo.
    families: tuple[str, ...] | None = None

    def applies_to(self, family: str | None) -> bool:
        """Whether a photo of ``family`` (None: nobody said) is judged by this classifier."""
        return self.families is None or (family is not None and family in self.families)

    def inputs(self, rgb: np.ndarray) -> list[np.ndarray]:
        """The network's input for an upright RGB photo and each of its views."""
        return classifier_views(INPUTS[self.input](rgb, self.imgsz), self.views)

    def probability(self, outputs: np.ndarray) -> float:
        """P(damaged) from the network's softmax rows (one per view), averaged."""
        return float(np.mean(np.asarray(outputs)[:, self.classes.index(POSITIVE)]))

    def score(self, probability: float, label_threshold: float) -> float:
        """``probability`` on the release's score scale: this classifier's threshold maps to
        ``label_threshold``, 0 to 0 and 1 to 1, linearly in between."""
        t, p = self.threshold, probability
        if p < t:
            return label_threshold * p / t
        return label_threshold + (1.0 - label_threshold) * (p - t) / (1.0 - t)

    def fuse(
        self, scores: Mapping[str, float], probability: float, label_threshold: float
    ) -> dict[str, float]:
        """The release's (calibrated) scores with the packaging classifier's fused in."""
        mine = self.score(probability, label_threshold)
        theirs = scores.get(LABEL, 0.0)
        if self.fusion == "replace":
            fused = mine
        elif self.fusion == "max":
            fused = max(theirs, mine)
        else:  # mean: both are on the release's scale, so the threshold means the same
            fused = (theirs + mine) / 2
        return {**scores, LABEL: fused}

    def as_dict(self) -> dict[str, Any]:
        """Manifest form (``file`` relative to the weights folder)."""
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "classes": list(self.classes),
            "imgsz": self.imgsz,
            "input": self.input,
            "views": list(self.views),
            "threshold": self.threshold,
            "fusion": self.fusion,
            "label": LABEL,
            **({"families": list(self.families)} if self.families is not None else {}),
        }


def parse_package_classifier(
    weights_dir: Path, block: Mapping[str, Any] | None
) -> PackageClassifierSpec | None:
    """Read a manifest entry's ``package_classifier`` block; None when it has none."""
    if block is None:
        return None
    try:
        spec = PackageClassifierSpec(
            path=weights_dir / str(block["file"]),
            sha256=str(block["sha256"]),
            classes=tuple(str(c) for c in block["classes"]),
            imgsz=int(block["imgsz"]),
            input=str(block.get("input", "crop")),
            threshold=float(block["threshold"]),
            views=tuple(str(v) for v in block.get("views", ())),
            fusion=str(block.get("fusion", "replace")),
            families=(
                None if block.get("families") is None else tuple(str(f) for f in block["families"])
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"manifest package_classifier block is malformed: {exc}") from exc
    problems = []
    if block.get("label", LABEL) != LABEL:
        problems.append(f"it speaks for {block.get('label')!r}, only {LABEL!r} is known")
    if POSITIVE not in spec.classes:
        problems.append(f"its classes {list(spec.classes)} have no {POSITIVE!r}")
    if spec.input not in INPUTS:
        problems.append(f"unknown input {spec.input!r} (known: {sorted(INPUTS)})")
    if unknown := sorted(set(spec.views) - set(CLASSIFIER_VIEWS)):
        problems.append(f"unknown test-time views {unknown}")
    if spec.fusion not in FUSIONS:
        problems.append(f"unknown fusion {spec.fusion!r} (known: {list(FUSIONS)})")
    if spec.families is not None and not spec.families:
        problems.append("its families list is empty (leave it out to judge every photo)")
    if spec.families is not None and (unknown := sorted(set(spec.families) - set(FAMILIES))):
        problems.append(f"unknown families {unknown} (known: {list(FAMILIES)})")
    if not 0.0 < spec.threshold < 1.0:
        problems.append(f"threshold {spec.threshold} is not inside (0, 1)")
    if problems:
        raise ModelError(f"package classifier {spec.path.name}: " + "; ".join(problems))
    return spec
