"""Claim photos for the simulator: generated textures with given findings, or real ones.

``given`` mode isolates the rules: each photo is a small generated JPEG (a smooth random
pattern under noise, so every photo passes the quality gate and has its own perceptual hash,
and duplicate-photo detection leaves it alone), and ``GivenFindings`` stands in for the
predictor: the real decode, quality gate and pHash, with the findings the scenario decided,
looked up by the photo's SHA-256. ``model`` mode uses ``HeldOutPhotos``: real photos from
the held-out test split whose ground-truth label is the scenario's subject, judged by the
shipped model. There is no real photo of a swollen pack; model mode skips those scenarios.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from simulator.spec import PhotoSpec
from vision.domain import DomainEnvelope, features
from vision.errors import ImageRejected
from vision.image import WORKING_SIDE, ImageLimits, QualityThresholds, assess_quality, decode_image
from vision.phash import phash
from vision.predictor import Finding, Inspection

__all__ = ["GivenFindings", "GivenPhotos", "HeldOutPhotos", "PhotoSource", "texture_jpeg"]

GIVEN_MODEL = {"name": "given-findings", "version": "simulator", "sha256": "-"}
"""What a given-findings inspection records as its model: plainly not a real one."""


def texture_jpeg(seed: int, *, width: int = 320, height: int = 240) -> bytes:
    """A JPEG that passes the quality gate: a smooth random pattern under fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 216, size=(4, 5, 3), dtype=np.uint8)
    smooth = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    noise = rng.integers(-30, 31, size=(height, width, 3))
    pixels = np.clip(np.asarray(smooth, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class GivenFindings:
    """A predictor whose findings are given per photo (by SHA-256); the rest is real.

    Decoding, the quality gate and the perceptual hash are the vision package's own, so a
    photo is judged judgeable (or not) and matched against other claims exactly as in
    production; only the model's output is replaced. A photo nobody registered has no
    findings, and is counted in ``unknown``.
    """

    def __init__(
        self,
        *,
        limits: ImageLimits = ImageLimits(),
        quality: QualityThresholds = QualityThresholds(),
    ) -> None:
        self.limits = limits
        self.quality = quality
        self.unknown = 0
        self._given: dict[str, tuple[tuple[str, float], ...]] = {}
        self._lock = threading.Lock()

    def give(self, data: bytes, findings: Sequence[tuple[str, float]]) -> None:
        """Report ``findings`` (label, confidence) whenever these bytes are inspected."""
        with self._lock:
            self._given[hashlib.sha256(data).hexdigest()] = tuple(findings)

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        """Judge one photo like ``Predictor.inspect``, the findings given instead of inferred."""
        digest = hashlib.sha256(data).hexdigest()
        decoded = decode_image(data, limits=self.limits, max_side=WORKING_SIDE)
        quality = assess_quality(
            decoded.rgb, thresholds=self.quality, size=(decoded.width, decoded.height)
        )
        with self._lock:
            given = self._given.get(digest)
            if given is None:
                self.unknown += 1
        whole = (0.0, 0.0, float(decoded.width), float(decoded.height))
        findings = (
            tuple(Finding(label, conf, whole, localized=False) for label, conf in given or ())
            if quality.ok
            else ()
        )
        return Inspection(
            image,
            digest,
            decoded.width,
            decoded.height,
            quality,
            findings,
            dict(GIVEN_MODEL),
            phash=phash(decoded.rgb),
        )


class PhotoSource:
    """Where a scenario's photos come from; None means no photo of that subject exists."""

    def photo(self, spec: PhotoSpec) -> bytes | None:
        """The bytes to upload for ``spec``."""
        raise NotImplementedError


class GivenPhotos(PhotoSource):
    """Generated textures, each registered with its findings in a ``GivenFindings``."""

    def __init__(self, given: GivenFindings) -> None:
        self.given = given

    def photo(self, spec: PhotoSpec) -> bytes:
        """The spec's texture, its findings registered."""
        data = texture_jpeg(spec.texture_seed)
        self.given.give(data, spec.findings)
        return data


# Held-out photo pools per subject: path prefixes in the split (relative to the pools).
_PREFIXES = {
    "rotten": (
        "fruit_fresh_rotten/rottenapples/",
        "fruit_fresh_rotten/rottenbanana/",
        "fruit_fresh_rotten/rottenoranges/",
    ),
    "fresh_produce": (
        "fruit_fresh_rotten/freshapples/",
        "fruit_fresh_rotten/freshbanana/",
        "fruit_fresh_rotten/freshoranges/",
    ),
    "damaged_package": ("parcel_damaged_intact/damaged/", "box_damaged_fine/damaged/"),
    "intact_package": ("parcel_damaged_intact/intact/", "box_damaged_fine/intact/"),
}
_MANGO = "mango_rot_grade_det/images/"
_MANGO_ROTTEN = frozenset({2, 3})  # classes.txt: unripe, ripe, slight_rotten, severe_rotten


class HeldOutPhotos(PhotoSource):
    """Real photos from the held-out split whose ground truth is the subject, in a seeded
    order, each used once while the pool lasts (then reused, counted in ``reused``).

    Photos the quality gate refuses (a washed-out web photo), or that fall outside the
    release's ``product_photo`` envelope when one is given (a real photo the service would
    take for no product photo), are passed over and counted in ``unjudgeable``: the service
    would refuse the claim, which measures nothing here.
    """

    def __init__(
        self,
        *,
        pools: Path,
        split: Path,
        seed: int,
        limits: ImageLimits = ImageLimits(),
        quality: QualityThresholds = QualityThresholds(),
        product_photo: DomainEnvelope | None = None,
    ) -> None:
        self.pools = pools
        self.limits = limits
        self.quality = quality
        self.product_photo = product_photo
        self.unjudgeable = 0
        rng = random.Random(seed)
        self._lists: dict[str, list[str]] = {}
        rows = split.read_text().split()
        for subject, prefixes in _PREFIXES.items():
            picked = [r for r in rows if r.startswith(prefixes)]
            if subject in ("rotten", "fresh_produce"):
                picked += [r for r in rows if r.startswith(_MANGO) and self._mango(r) == subject]
            rng.shuffle(picked)
            self._lists[subject] = picked
        self._next = dict.fromkeys(self._lists, 0)
        self.reused = 0

    def _mango(self, row: str) -> str | None:
        label = self.pools / _MANGO.replace("images/", "labels/") / (Path(row).stem + ".txt")
        if not label.is_file():
            return None
        classes = {int(line.split()[0]) for line in label.read_text().splitlines() if line.strip()}
        if not classes:
            return None
        return "rotten" if classes & _MANGO_ROTTEN else "fresh_produce"

    def sizes(self) -> dict[str, int]:
        """How many held-out photos each subject has."""
        return {k: len(v) for k, v in self._lists.items()}

    def photo(self, spec: PhotoSpec) -> bytes | None:
        """The next held-out photo of the spec's subject; None for a swollen pack."""
        pool = self._lists.get(spec.subject)
        while pool:
            n = self._next[spec.subject]
            if n >= len(pool):
                self.reused += 1
            self._next[spec.subject] = n + 1
            data = (self.pools / pool[n % len(pool)]).read_bytes()
            if self._judgeable(data):
                return data
            self.unjudgeable += 1
            pool.remove(pool[n % len(pool)])
            self._next[spec.subject] = n
        return None

    def _judgeable(self, data: bytes) -> bool:
        try:
            decoded = decode_image(data, limits=self.limits, max_side=WORKING_SIDE)
        except ImageRejected:
            return False
        size = (decoded.width, decoded.height)
        if not assess_quality(decoded.rgb, thresholds=self.quality, size=size).ok:
            return False
        return self.product_photo is None or not self.product_photo.outside(features(decoded.rgb))
