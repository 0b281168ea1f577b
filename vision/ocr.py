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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import cv2
import numpy as np

from vision.errors import VisionError
from vision.image import ImageLimits, decode_image
from vision.label_text import (
    LabelReading,
    ParsePolicy,
    TextLine,
    Unreadable,
    normalize_lot,
    parse_label,
)

__all__ = [
    "ENGINES",
    "LabelReader",
    "LabelReaderLike",
    "OCRUnavailableError",
    "RapidOCREngine",
    "TesseractEngine",
    "TextEngine",
    "agree",
    "available_engines",
    "load_label_reader",
    "rows",
]

ENGINES = ("rapidocr", "tesseract")
# Labels are small print: the photo is read at up to this long side (the defect models read
# 512 px, too little for 2 mm characters on a phone photo of a whole pack).
OCR_SIDE = 1600
CONFIRM_SCALE = 0.75  # the second read's scale (``LabelReader.confirm``)


class OCRUnavailableError(VisionError):
    """The OCR engine asked for is not installed (``engine``, ``reason``)."""

    def __init__(self, engine: str, reason: str) -> None:
        super().__init__(f"OCR engine {engine!r} is not available: {reason}")
        self.engine = engine
        self.reason = reason


class TextEngine(Protocol):
    """An OCR engine: the text lines in an upright RGB image, each with its confidence."""

    name: str

    def lines(self, rgb: np.ndarray) -> list[TextLine]:
        """Every line of text found, in reading order."""
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
        self._engine = RapidOCR(params=params)
        self.version = _version("rapidocr")

    def lines(self, rgb: np.ndarray) -> list[TextLine]:
        """Boxes read by the engine, joined into lines."""
        # rapidocr takes OpenCV's channel order.
        result: Any = self._engine(np.ascontiguousarray(rgb[..., ::-1]))
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

    def lines(self, rgb: np.ndarray) -> list[TextLine]:
        """Words read by tesseract (TSV), joined into its lines."""
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


def agree(first: LabelReading, second: LabelReading) -> LabelReading:
    """What two reads of one label both say: the lot and each date only where they match."""
    if isinstance(first, Unreadable):
        return first
    notes = list(first.notes)
    lot, lot_conf = first.lot, first.lot_confidence
    if lot is not None and (second.lot is None or normalize_lot(second.lot) != normalize_lot(lot)):
        notes.append(f"lot: a second read gives {second.lot!r}, not {lot!r}")
        lot, lot_conf = None, None
    kept = tuple(
        d for d in first.dates if any((e.kind, e.date) == (d.kind, d.date) for e in second.dates)
    )
    notes += [f"{d.kind}: a second read does not confirm it" for d in first.dates if d not in kept]
    if lot is None and not kept:
        return Unreadable("; ".join(notes) or "two reads disagree", first.lines, first.engine)
    confs = [c for c in (lot_conf, *(d.confidence for d in kept)) if c is not None]
    return replace(
        first,
        lot=lot,
        lot_confidence=lot_conf,
        dates=kept,
        confidence=min(confs),
        notes=tuple(notes),
    )


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
    # Read the photo a second time at another scale and keep only what both reads say: an
    # engine's confident misreads (S for 5, a dropped last character) rarely repeat at
    # another scale, and its confidence does not tell them apart (bench/ocr.py).
    confirm: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def identity(self) -> str:
        """The engine and its version, as a read records it."""
        return f"{self.engine.name} {getattr(self.engine, 'version', '')}".strip()

    def read_rgb(self, rgb: np.ndarray) -> LabelReading:
        """The label in an upright RGB image; with ``confirm``, read twice and kept only
        where the two reads agree."""
        first = self._parse(rgb)
        if not self.confirm or isinstance(first, Unreadable):
            return first
        h, w = rgb.shape[:2]
        smaller = cv2.resize(
            rgb, (round(w * CONFIRM_SCALE), round(h * CONFIRM_SCALE)), interpolation=cv2.INTER_AREA
        )
        return agree(first, self._parse(smaller))

    def _parse(self, rgb: np.ndarray) -> LabelReading:
        with self._lock:
            lines = self.engine.lines(rgb)
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
        text: TextEngine = RapidOCREngine(threads=threads)
    elif engine == "tesseract":
        languages = "eng+chi_sim" if _has_language("chi_sim") else "eng"
        text = TesseractEngine(languages=languages)
    else:
        raise OCRUnavailableError(engine, f"unknown engine; one of {', '.join(ENGINES)}")
    return LabelReader(text, policy or ParsePolicy())


def _has_language(code: str) -> bool:
    binary = shutil.which("tesseract")
    if binary is None:
        return False
    done = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=10)
    return code in done.stdout.split()
