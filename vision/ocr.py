"""Reading a pack's label in a photo: an OCR engine finds and reads the text, and
``vision.label_text`` parses the lot code and dates from it, abstaining rather than guessing.

Two engines behind one protocol, each shipping its models in a package so that nothing is
downloaded at run time:

- ``rapidocr``: the PyPI package ``rapidocr`` (Apache-2.0), whose wheel bundles PP-OCRv6
  small detection and recognition networks as ONNX files, run on ONNX Runtime (the serving
  runtime already). Latin and Chinese. The default, chosen by ``bench/ocr.py``.
- ``tesseract``: Debian's ``tesseract-ocr`` (with ``tesseract-ocr-eng``, and ``-chi-sim`` for
  Chinese labels), called as a process; its word confidences are 0 to 100.

Both are optional: ``available_engines`` says which are installed, ``load_label_reader``
opens one or raises ``OCRUnavailableError``; the service runs without either.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from vision.errors import VisionError
from vision.image import ImageLimits, decode_image
from vision.label_text import LabelReading, ParsePolicy, TextLine, Unreadable, parse_label
from vision.label_vote import settled, vote

__all__ = [
    "ENGINES",
    "TESSERACT_VIEWS",
    "VIEWS",
    "LabelReader",
    "LabelReaderLike",
    "OCRUnavailableError",
    "RapidOCREngine",
    "TesseractEngine",
    "TextEngine",
    "View",
    "available_engines",
    "load_label_reader",
    "rows",
]

ENGINES = ("rapidocr", "tesseract")
# Labels are small print: the photo is read at up to this long side (the defect models read
# 512 px, too little for 2 mm characters on a phone photo of a whole pack).
OCR_SIDE = 1600


@dataclass(frozen=True)
class View:
    """One way of reading a photo: scaled by ``scale``, its text found on a copy at most
    ``detect_side`` px long (None: the engine's own size), then read from the scaled photo."""

    scale: float = 1.0
    detect_side: int | None = None


# The reads of a photo, in order, until what they say is settled (``vision.label_vote``: two
# reads must agree and none may disagree). Chosen on the calibration seed of bench/ocr.py.
VIEWS = (View(1.0, 640), View(0.75), View(1.0, 800), View(1.0))
# Tesseract has no detector to size: its views differ by scale alone (the same image read
# twice would agree with itself).
TESSERACT_VIEWS = (View(1.0), View(0.75))


class OCRUnavailableError(VisionError):
    """The OCR engine asked for is not installed (``engine``, ``reason``)."""

    def __init__(self, engine: str, reason: str) -> None:
        super().__init__(f"OCR engine {engine!r} is not available: {reason}")
        self.engine = engine
        self.reason = reason


class TextEngine(Protocol):
    """An OCR engine: the text lines in an upright RGB image, each with its confidence."""

    name: str

    def lines(self, rgb: np.ndarray, *, detect_side: int | None = None) -> list[TextLine]:
        """Every line of text found (on a copy at most ``detect_side`` px long where the engine
        has a text detector), in reading order."""
        ...


class LabelReaderLike(Protocol):
    """What the domain packages (claims, stations) need of a label reader: one photo read."""

    def read(self, data: bytes) -> LabelReading:
        """The photo's label, or ``Unreadable`` with the reason; never raises for bad bytes."""
        ...


def rows(boxes: Sequence[TextLine]) -> list[TextLine]:
    """Text boxes joined into lines, top to bottom and left to right: boxes whose vertical
    centres fall within half a box height of each other are one line (an engine often
    splits ``LOT`` from its code where the label spaces them). A line's confidence is its
    weakest box's."""
    ordered = sorted(boxes, key=lambda b: (b.box[1] + b.box[3]) / 2)
    groups: list[list[TextLine]] = []
    for b in ordered:
        centre, height = (b.box[1] + b.box[3]) / 2, max(1.0, b.box[3] - b.box[1])
        last = groups[-1] if groups else None
        if last is not None:
            ref = last[-1]
            ref_centre = (ref.box[1] + ref.box[3]) / 2
            ref_height = max(1.0, ref.box[3] - ref.box[1])
            h = min(height, ref_height)
            # Same line: centres level, and B lies near the line so far, left or right of
            # it, not over it (a box overlapping it is a line above or below, tilted).
            left, right = min(x.box[0] for x in last), max(x.box[2] for x in last)
            gap = max(b.box[0] - right, left - b.box[2])
            if abs(centre - ref_centre) < 0.5 * h and -0.5 * h < gap < 4 * h:
                last.append(b)
                continue
        groups.append([b])
    out = []
    for g in groups:
        g.sort(key=lambda b: b.box[0])
        chars: list[float] = []
        for n, b in enumerate(g):
            known = b.char_confidences or (b.confidence,) * len(b.text)
            chars += ([b.confidence] if n else []) + list(known)
        out.append(
            TextLine(
                " ".join(b.text for b in g),
                min(b.confidence for b in g),
                (
                    min(b.box[0] for b in g),
                    min(b.box[1] for b in g),
                    max(b.box[2] for b in g),
                    max(b.box[3] for b in g),
                ),
                tuple(chars),
            )
        )
    return out


class RapidOCREngine:
    """PP-OCRv6 (small) through the ``rapidocr`` package on ONNX Runtime, models from its wheel."""

    name = "rapidocr"

    def __init__(self, *, threads: int = 0) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise OCRUnavailableError("rapidocr", "pip install 'freshproof[ocr]'") from exc
        # Per-character scores: a line's confidence is its least sure character, so one
        # misread character in a code is not averaged away by the sure ones around it.
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.return_word_box": True,
            "Global.return_single_char_box": True,
        }
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self._params = params
        self._engines: dict[int | None, Any] = {None: RapidOCR(params=params)}
        self.version = _version("rapidocr")

    def _engine(self, detect_side: int | None) -> Any:
        # One engine per detection size (rapidocr sets it per engine); the models load lazily.
        if detect_side not in self._engines:
            from rapidocr import RapidOCR

            sized = {"Det.limit_type": "max", "Det.limit_side_len": detect_side}
            self._engines[detect_side] = RapidOCR(params={**self._params, **sized})
        return self._engines[detect_side]

    def lines(self, rgb: np.ndarray, *, detect_side: int | None = None) -> list[TextLine]:
        """Boxes read by the engine, joined into lines."""
        # rapidocr takes OpenCV's channel order.
        result: Any = self._engine(detect_side)(np.ascontiguousarray(rgb[..., ::-1]))
        if result.boxes is None or result.txts is None or result.scores is None:
            return []
        chars = result.word_results
        per_line = chars if len(chars) == len(result.txts) else [()] * len(result.txts)
        boxes = [
            TextLine(
                str(t),
                float(s),
                (
                    float(b[:, 0].min()),
                    float(b[:, 1].min()),
                    float(b[:, 0].max()),
                    float(b[:, 1].max()),
                ),
                _aligned(str(t), float(s), cs),
            )
            for b, t, s, cs in zip(
                np.asarray(result.boxes), result.txts, result.scores, per_line, strict=True
            )
        ]
        return rows(boxes)


def _aligned(
    text: str, line_score: float, chars: Sequence[Sequence[Any]]
) -> tuple[float, ...] | None:
    """Per character of ``text``, the engine's score for it (spaces: the line's score), or
    None when the engine's characters do not spell the text."""
    out, it = [], iter(chars)
    for c in text:
        if c.isspace():
            out.append(line_score)
            continue
        got = next(it, None)
        if got is None or str(got[0]) != c:
            return None
        out.append(float(got[1]))
    return tuple(out) if next(it, None) is None else None


class TesseractEngine:
    """Debian's ``tesseract`` command (LSTM engine), one process per photo."""

    name = "tesseract"

    def __init__(self, *, languages: str = "eng", binary: str | None = None) -> None:
        found = binary or shutil.which("tesseract")
        if found is None:
            raise OCRUnavailableError("tesseract", "apt-get install tesseract-ocr")
        self.binary = found
        self.languages = languages
        self.version = (
            subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10)
            .stdout.split("\n", 1)[0]
            .strip()
        )

    def lines(self, rgb: np.ndarray, *, detect_side: int | None = None) -> list[TextLine]:
        """Words read by tesseract (TSV), joined into its lines (it has no detector to size)."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        ok, png = cv2.imencode(".png", grey)
        if not ok:  # pragma: no cover - an 8-bit grey image always encodes
            return []
        done = subprocess.run(
            [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", "11", "tsv"],
            input=png.tobytes(),
            capture_output=True,
            timeout=60,
        )
        words: dict[tuple[str, ...], list[TextLine]] = {}
        for row in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or not cols[11].strip() or float(cols[10]) < 0:
                continue
            x, y, w, h = (float(c) for c in cols[6:10])
            words.setdefault(tuple(cols[1:5]), []).append(
                TextLine(cols[11].strip(), float(cols[10]) / 100.0, (x, y, x + w, y + h))
                # A word's confidence is each of its characters' (rows() spreads it).
            )
        return rows([line for ws in words.values() for line in rows(ws)])


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def available_engines() -> tuple[str, ...]:
    """The engines installed here, in order of preference."""
    out = []
    try:
        import rapidocr  # noqa: F401

        out.append("rapidocr")
    except ImportError:
        pass
    if shutil.which("tesseract"):
        out.append("tesseract")
    return tuple(out)


@dataclass
class LabelReader:
    """Reads one photo's label: decode at ``OCR_SIDE``, the engine's lines, the strict parse.

    Thread-compatible: an engine call is serialised by a lock (rapidocr's sessions are
    shared), so concurrent photos queue for the engine rather than oversubscribing it.
    """

    engine: TextEngine
    policy: ParsePolicy = field(default_factory=ParsePolicy)
    limits: ImageLimits = field(default_factory=ImageLimits)
    # The photo is read in each view in turn until the reads settle what it says: a field is
    # kept where two reads agree and none disagrees (``vision.label_vote``). One view: each
    # field as its one read gives it.
    views: tuple[View, ...] = VIEWS
    engine_reads: int = 0  # engine calls so far (a bench counts reads per photo with it)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def identity(self) -> str:
        """The engine and its version, as a read records it."""
        return f"{self.engine.name} {getattr(self.engine, 'version', '')}".strip()

    def read_rgb(self, rgb: np.ndarray) -> LabelReading:
        """The label in an upright RGB image: read in ``views`` until the reads settle it."""
        if len(self.views) == 1:
            return self._parse(rgb, self.views[0])
        reads: list[LabelReading] = []
        for n, view in enumerate(self.views):
            reads.append(self._parse(rgb, view))
            if settled(reads, left=len(self.views) - n - 1):
                break
        return vote(reads)

    def _parse(self, rgb: np.ndarray, view: View) -> LabelReading:
        if view.scale != 1.0:
            h, w = rgb.shape[:2]
            size = (round(w * view.scale), round(h * view.scale))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            lines = self.engine.lines(rgb, detect_side=view.detect_side)
            self.engine_reads += 1
        return parse_label(lines, policy=self.policy, engine=self.identity)

    def read(self, data: bytes) -> LabelReading:
        """The label in an uploaded photo; a file that is not an image is unreadable."""
        try:
            decoded = decode_image(data, limits=self.limits, max_side=OCR_SIDE)
        except VisionError as exc:
            return Unreadable(f"the photo cannot be decoded: {exc}", engine=self.identity)
        rgb = decoded.rgb
        side = max(rgb.shape[:2])
        if side > OCR_SIDE:  # decode reduces by integer steps only; the rest here
            scale = OCR_SIDE / side
            rgb = cv2.resize(
                rgb,
                (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                interpolation=cv2.INTER_AREA,
            )
        return self.read_rgb(rgb)

    def timed_read(self, data: bytes) -> tuple[LabelReading, float]:
        """``read`` and its wall time in milliseconds."""
        t = time.perf_counter()
        out = self.read(data)
        return out, (time.perf_counter() - t) * 1e3


def load_label_reader(
    engine: str, *, policy: ParsePolicy | None = None, threads: int = 0
) -> LabelReader:
    """Open ``engine`` (one of ``ENGINES``); ``OCRUnavailableError`` when not installed."""
    if engine == "rapidocr":
        return LabelReader(RapidOCREngine(threads=threads), policy or ParsePolicy())
    if engine == "tesseract":
        languages = "eng+chi_sim" if _has_language("chi_sim") else "eng"
        text = TesseractEngine(languages=languages)
        return LabelReader(text, policy or ParsePolicy(), views=TESSERACT_VIEWS)
    raise OCRUnavailableError(engine, f"unknown engine; one of {', '.join(ENGINES)}")


def _has_language(code: str) -> bool:
    binary = shutil.which("tesseract")
    if binary is None:
        return False
    done = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=10)
    return code in done.stdout.split()
