"""What a pack's printed label says: its lot code and its dates, parsed from OCR'd lines.

Pure: lines of text with the engine's confidence in, a typed ``LabelRead`` or ``Unreadable``
out. It abstains rather than guesses. A field is read only when

- its keyword is on the label (``LOT``, ``BATCH``, ``批号``; ``USE BY``, ``EXP``, ``BB``,
  ``BEST BEFORE``, ``保质期至``, ``有效期至``): a code or date with no keyword is not read
  (``L0T`` as a whole word is ``LOT`` with its O read as a zero, and the keyword's colon may
  be read as a comma, a dash or ``、``),
- its value matches the strict grammar in full (a lot: 4 to 20 capitals and digits, at
  least one digit and at most one separator between them; a date: one of ``DATE_FORMATS``
  and a real calendar day in 2000-2099),
- the line it came from has at least ``min_confidence`` from the engine, and
- the label says it once: two different lots, or two different dates of one kind, are
  ambiguous, and the field is not read;
- a lot holds none of the letters that print like digits (``O``, ``I``: which was it?).

Numeric dates with slashes or dots are read in one configured order (``day_first``: 12/03/2026
is 12 March); a value that is not a date in that order is not swapped into another.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "DATE_FORMATS",
    "NO_KEYWORD",
    "DateKind",
    "LabelDate",
    "LabelRead",
    "LabelReading",
    "ParsePolicy",
    "TextLine",
    "Unreadable",
    "normalize_lot",
    "parse_label",
    "reading_from_dict",
]

DateKind = Literal["use_by", "best_before"]
NO_KEYWORD = "no lot or date keyword was read on the label"  # an ``Unreadable``'s reason

DATE_FORMATS = (
    "YYYY-MM-DD (also with / or .)",
    "DD/MM/YYYY, DD.MM.YYYY, DD-MM-YYYY, DD/MM/YY, DD.MM.YY (day first unless configured)",
    "DDMMMYY, DD MMM YYYY, DD-MMM-YYYY (MMM: JAN to DEC)",
    "YYYYMMDD",
    "YYYY年MM月DD日",
)


@dataclass(frozen=True)
class TextLine:
    """One line an OCR engine read, with its confidence (0 to 1) and where it is."""

    text: str
    confidence: float
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    # Per character of ``text`` where the engine gives them: a field is then as sure as its
    # least sure character, not the whole line (a keyword's colon read poorly is no doubt
    # about the code after it).
    char_confidences: tuple[float, ...] | None = None

    def span_confidence(self, start: int, end: int) -> float:
        """The confidence of ``text[start:end]``: its least sure character where known."""
        chars = self.char_confidences
        if chars is None or len(chars) != len(self.text) or start >= end:
            return self.confidence
        return min(chars[start:end])


@dataclass(frozen=True)
class LabelDate:
    """A date printed on the label, which kind it is, and the engine's confidence in it."""

    kind: DateKind
    date: date
    text: str
    confidence: float

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "kind": self.kind,
            "date": self.date.isoformat(),
            "text": self.text,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class LabelRead:
    """What the label says, as far as it can be read: a lot, dates, or both.

    A field the reader could not be sure of is absent, and ``notes`` says why.
    """

    lot: str | None
    dates: tuple[LabelDate, ...]
    confidence: float  # the lowest engine confidence of the lines the fields came from
    lot_confidence: float | None = None
    notes: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    engine: str = ""

    @property
    def use_by(self) -> date | None:
        """The use-by (or expiry) date, if read."""
        return next((d.date for d in self.dates if d.kind == "use_by"), None)

    @property
    def best_before(self) -> date | None:
        """The best-before date, if read."""
        return next((d.date for d in self.dates if d.kind == "best_before"), None)

    def as_dict(self) -> dict[str, object]:
        """JSON form (the claim's evidence keeps it per photo)."""
        return {
            "readable": True,
            "lot": self.lot,
            "lot_confidence": None
            if self.lot_confidence is None
            else round(self.lot_confidence, 4),
            "dates": [d.as_dict() for d in self.dates],
            "confidence": round(self.confidence, 4),
            "notes": list(self.notes),
            "lines": list(self.lines),
            "engine": self.engine,
        }


@dataclass(frozen=True)
class Unreadable:
    """The label could not be read without guessing; ``reason`` says why."""

    reason: str
    lines: tuple[str, ...] = ()
    engine: str = ""

    @property
    def lot(self) -> None:
        """Nothing was read."""
        return None

    @property
    def dates(self) -> tuple[LabelDate, ...]:
        """Nothing was read."""
        return ()

    @property
    def use_by(self) -> None:
        """Nothing was read."""
        return None

    @property
    def best_before(self) -> None:
        """Nothing was read."""
        return None

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "readable": False,
            "reason": self.reason,
            "lines": list(self.lines),
            "engine": self.engine,
        }


LabelReading = LabelRead | Unreadable


@dataclass(frozen=True)
class ParsePolicy:
    """How strict the reading is: the engine confidence a field needs, the date order."""

    min_confidence: float = 0.5
    day_first: bool = True
    # Letters that print like digits (O and 0, I and 1): an engine confuses them at high
    # confidence (bench/ocr.py: "L1818E0" read "L1818EO" at 0.98), so a lot holding one is
    # not read. Producers mostly leave them out of codes for the same reason.
    confusable_letters: str = "OI"


_MONTHS = {
    m: n
    for n, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
# Longest first, so "BEST BEFORE END" is not read as "BEST BEFORE" + "END". ``L0T``: the
# engine reads the keyword's O as a zero (bench/ocr.py, a clear photo); only as a whole word,
# so that a code after it is not cut from a misread "L0..." run of characters.
_LOT_KEYS = r"LOT\s*NO\.?|LOT\s*#|LOT|L0T(?![A-Z0-9])|BATCH\s*NO\.?|BATCH|批号|批次号|批次|生产批号"
_DATE_KEYS: tuple[tuple[str, DateKind | None], ...] = (
    (r"BEST\s*BEFORE\s*END|BEST\s*BEFORE|BBE|BB|MHD|保质期至|保质期到|赏味期限", "best_before"),
    (r"USE\s*-?\s*BY|EXPIRY|EXPIRES|EXP\.?|有效期至|有效期到|到期日|截止日期", "use_by"),
    # Printed dates that are neither: read so that their value is never taken for another.
    (r"PACKED\s*ON|PACKED|PROD\.?|MFG\.?|MFD\.?|生产日期|包装日期|DISPLAY\s*UNTIL", None),
)
# A keyword starts a word; a date keyword also ends one ("BBQ", "EXPRESS", "PRODUCT" are not
# keywords), a lot keyword need not ("LOTL2411A7": the engine dropped the space).
_KEYWORD = re.compile(
    r"(?<![A-Z0-9])("
    + "|".join(
        [f"(?P<lot>{_LOT_KEYS})"]
        + [f"(?P<d{n}>(?:{k})(?![A-Z]))" for n, (k, _) in enumerate(_DATE_KEYS)]
    )
    # The keyword's punctuation as engines read it: a colon, or a comma, semicolon, dash or the
    # CJK enumeration comma for a dot or colon printed small.
    + r")\s*[:#.,;、\-]?\s*",
)
_LOT = re.compile(r"[A-Z0-9]+(?:[-/][A-Z0-9]+)?")
_NUMERIC = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{2,4})")
_MONTH_NAME = re.compile(r"(\d{1,2})[\s\-]?([A-Z]{3})[\s\-]?(\d{4}|\d{2})")
_COMPACT = re.compile(r"(20\d{2})(\d{2})(\d{2})")
_CJK = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")


def _normal(text: str) -> str:
    # NFKC folds full-width forms (Chinese labels print 批号 with a full-width colon).
    # Character for character where it can, so positions still point into the engine's text.
    folded = "".join(unicodedata.normalize("NFKC", c)[:1] or c for c in text).upper()
    return "".join(" " if c.isspace() else c for c in folded)


def normalize_lot(value: str) -> str:
    """A lot code as compared: capitals, no spaces or separators (``L-2411 a7`` → ``L2411A7``)."""
    return re.sub(r"[\s\-/.]", "", unicodedata.normalize("NFKC", value).upper())


def _year(y: str) -> int:
    return 2000 + int(y) if len(y) == 2 else int(y)


def _day(y: int, m: int, d: int) -> date | None:
    if not 2000 <= y <= 2099:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _date(value: str, *, day_first: bool) -> tuple[date | None, int]:
    """The date at the start of ``value`` and how many characters it took; (None, 0) when
    no format matches there, (None, n) when one matches but is no calendar day."""
    if m := _CJK.match(value):
        return _day(int(m[1]), int(m[2]), int(m[3])), m.end()
    if m := _NUMERIC.match(value):
        a, b, c = m[1], m[3], m[4]
        if len(a) == 4:  # YYYY-MM-DD
            return (_day(int(a), int(b), int(c)) if len(c) <= 2 else None), m.end()
        if len(c) not in (2, 4) or len(a) > 2:
            return None, m.end()
        day, month = (a, b) if day_first else (b, a)
        return _day(_year(c), int(month), int(day)), m.end()
    if m := _MONTH_NAME.match(value):
        month = _MONTHS.get(m[2])
        return (_day(_year(m[3]), month, int(m[1])) if month else None), m.end()
    if (m := _COMPACT.match(value)) and not value[m.end() : m.end() + 1].isalnum():
        return _day(int(m[1]), int(m[2]), int(m[3])), m.end()
    return None, 0


@dataclass(frozen=True)
class _Field:
    value: str | date | None  # None: the keyword is there but its value is not valid
    kind: str  # "lot", a DateKind, or "other"
    text: str
    confidence: float


def _fields(line: TextLine, policy: ParsePolicy) -> list[_Field]:
    """Every keyword on the line with the value that follows it."""
    text = _normal(line.text)
    keys = list(_KEYWORD.finditer(text))
    out = []
    for n, k in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(text)
        raw = text[k.end() : end]
        rest = raw.strip()
        start = k.end() + (len(raw) - len(raw.lstrip()))
        if k["lot"] is not None:
            kind = "lot"
            token = _LOT.fullmatch(rest.split(" ")[0]) if rest else None
            # A lot is one token: anything after it but a keyword means a split or a merge.
            tail = rest.split(" ", 1)[1:] if rest else []
            ok = token is not None and not tail and _lot_shape(token[0])
            value: str | date | None = token[0] if ok and token is not None else None
        else:
            index = next(i for i in range(len(_DATE_KEYS)) if k[f"d{i}"] is not None)
            kind = _DATE_KEYS[index][1] or "other"
            parsed, used = _date(rest, day_first=policy.day_first)
            # The date must be all that follows its keyword (up to the next keyword).
            value = parsed if used and not rest[used:].strip() else None
        confidence = line.span_confidence(start, start + len(rest))
        out.append(_Field(value, kind, text.strip(), confidence))
    return out


def _lot_shape(token: str) -> bool:
    """4 to 20 capitals and digits with at least one digit, and not a date."""
    bare = token.replace("-", "").replace("/", "")
    if not 4 <= len(bare) <= 20 or not any(c.isdigit() for c in bare):
        return False
    return _date(token, day_first=True)[1] != len(token)


def parse_label(
    lines: Sequence[TextLine], *, policy: ParsePolicy = ParsePolicy(), engine: str = ""
) -> LabelReading:
    """The lot and dates the lines state, each only when sure (see the module)."""
    texts = tuple(line.text for line in lines)
    fields = [f for line in lines for f in _fields(line, policy)]
    if not fields:
        return Unreadable(NO_KEYWORD, texts, engine)
    notes: list[str] = []
    lot, lot_conf = _one(fields, "lot", policy, notes)
    if isinstance(lot, str) and (seen := sorted(set(lot) & set(policy.confusable_letters))):
        notes.append(f"lot: {lot!r} holds {', '.join(seen)}, which print like digits")
        lot, lot_conf = None, None
    dates = []
    for kind in ("use_by", "best_before"):
        value, conf = _one(fields, kind, policy, notes)
        if value is not None and conf is not None:
            assert isinstance(value, date)
            text = next(f.text for f in fields if f.kind == kind and f.value == value)
            dates.append(LabelDate(kind, value, text, conf))  # type: ignore[arg-type]
    if lot is None and not dates:
        return Unreadable("; ".join(notes) or "nothing on the label could be read", texts, engine)
    confs = [c for c in (lot_conf, *(d.confidence for d in dates)) if c is not None]
    return LabelRead(
        lot=str(lot) if lot is not None else None,
        dates=tuple(dates),
        confidence=min(confs),
        lot_confidence=lot_conf,
        notes=tuple(notes),
        lines=texts,
        engine=engine,
    )


def _one(
    fields: Sequence[_Field], kind: str, policy: ParsePolicy, notes: list[str]
) -> tuple[str | date | None, float | None]:
    """The one value the label gives for ``kind``, or None with a note why not."""
    found = [f for f in fields if f.kind == kind]
    name = {"lot": "lot", "use_by": "use-by date", "best_before": "best-before date"}[kind]
    if not found:
        return None, None
    if any(f.value is None for f in found):
        notes.append(f"{name}: the text after its keyword is not a valid {name}")
        return None, None
    values = {normalize_lot(f.value) if isinstance(f.value, str) else f.value for f in found}
    if len(values) > 1:
        notes.append(f"{name}: the label gives {len(values)} different values")
        return None, None
    confidence = min(f.confidence for f in found)
    if confidence < policy.min_confidence:
        notes.append(f"{name}: read at confidence {confidence:.2f}, below {policy.min_confidence}")
        return None, None
    return found[0].value, confidence


def reading_from_dict(raw: dict[str, object]) -> LabelReading:
    """Back from ``as_dict`` (a claim's stored evidence)."""
    lines = tuple(str(x) for x in raw.get("lines") or ())  # type: ignore[attr-defined]
    engine = str(raw.get("engine", ""))
    if not raw.get("readable"):
        return Unreadable(str(raw.get("reason", "")), lines, engine)
    dates = tuple(
        LabelDate(d["kind"], date.fromisoformat(d["date"]), str(d["text"]), float(d["confidence"]))
        for d in raw.get("dates") or ()  # type: ignore[attr-defined]
    )
    lot_conf = raw.get("lot_confidence")
    return LabelRead(
        lot=None if raw.get("lot") is None else str(raw["lot"]),
        dates=dates,
        confidence=float(raw["confidence"]),  # type: ignore[arg-type]
        lot_confidence=None if lot_conf is None else float(lot_conf),  # type: ignore[arg-type]
        notes=tuple(str(x) for x in raw.get("notes") or ()),  # type: ignore[attr-defined]
        lines=lines,
        engine=engine,
    )
