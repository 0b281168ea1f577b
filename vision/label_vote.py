"""Several reads of one label, and what they say together: a field is kept only where at
least two reads give the same value and no read gives another.

Pure, like ``vision.label_text``. An engine's confident misreads of a code (S for 5, a dropped
repeated digit, a keyword misread so that the code is cut) depend on how the photo was scaled
and where the text box fell, so two reads from different views rarely repeat one; its
confidence does not tell them apart (``bench/ocr.py``). A read that finds no value for a field
is no vote against it (the text box may have missed the line); a read with another value is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from vision.label_text import (
    NO_KEYWORD,
    LabelDate,
    LabelRead,
    LabelReading,
    Unreadable,
    normalize_lot,
)

__all__ = ["AGREEING_READS", "CHECKING_READS", "settled", "vote"]

AGREEING_READS = 2  # reads that must give a field's value, none giving another
CHECKING_READS = 1
"""Views still read, when there are any, after two reads agree on a lot: each may contradict
it. A code printed across the label's edge onto the pack can be cut at the same place in two
views ("MT91" for "MT9149", both confident); a third view then reads it otherwise."""


def _lots(reads: Sequence[LabelReading]) -> list[str]:
    return [normalize_lot(r.lot) for r in reads if r.lot is not None]


def _dates(reads: Sequence[LabelReading], kind: str) -> list[LabelDate]:
    return [d for r in reads for d in r.dates if d.kind == kind]


def _kept(values: Sequence[object]) -> object | None:
    """The value at least ``AGREEING_READS`` reads give with none giving another, else None."""
    if not values or len(set(values)) > 1 or len(values) < AGREEING_READS:
        return None
    return values[0]


def _open(values: Sequence[object], left: int) -> bool:
    """Whether reads still to come could change what ``values`` decide."""
    if len(set(values)) > 1:
        return False  # two reads disagree: no later read makes the field sure
    if values and len(values) >= AGREEING_READS:
        return False
    return len(values) + left >= AGREEING_READS


def _checks(reads: Sequence[LabelReading]) -> int:
    """Reads made after the one that brought a lot's agreeing reads to ``AGREEING_READS``."""
    with_lot = [n for n, r in enumerate(reads) if r.lot is not None]
    return len(reads) - 1 - with_lot[AGREEING_READS - 1]


def settled(reads: Sequence[LabelReading], left: int) -> bool:
    """Whether to stop reading: ``left`` more reads could not change the lot ``reads`` decide.

    The views after the first two are there for a label that was seen but not agreed on, and
    to check a lot two reads agree on (``CHECKING_READS``), so two reads that find no keyword
    at all end it, and after two reads only the lot keeps the reading going (each date is kept
    or not on the reads made): a third and fourth read cost as much as the first two.
    """
    if len(reads) >= AGREEING_READS and all(
        isinstance(r, Unreadable) and r.reason == NO_KEYWORD for r in reads
    ):
        return True
    lots = _lots(reads)
    if _open(lots, left):
        return False
    if left and _kept(lots) is not None and _checks(reads) < CHECKING_READS:
        return False  # a lot is kept only once a further view had the chance to contradict it
    if len(reads) >= AGREEING_READS:
        return True
    dates = [[d.date for d in _dates(reads, k)] for k in ("use_by", "best_before")]
    return not any(_open(values, left) for values in dates)


def vote(reads: Sequence[LabelReading]) -> LabelReading:
    """What the reads say together (the module's rule); the first read's lines and engine."""
    if not reads:
        raise ValueError("no reads to vote on")
    first = reads[0]
    notes: list[str] = []
    lots = _lots(reads)
    lot = _kept(lots)
    lot_text = lot_conf = None
    if lot is not None:
        agreeing = [r for r in reads if r.lot is not None and normalize_lot(r.lot) == lot]
        lot_text = agreeing[0].lot
        lot_conf = min(
            r.lot_confidence or r.confidence for r in agreeing if isinstance(r, LabelRead)
        )
    elif lots:
        notes.append(_why("lot", lots, len(reads)))
    dates = []
    for kind in ("use_by", "best_before"):
        found = _dates(reads, kind)
        day = _kept([d.date for d in found])
        if day is not None:
            same = [d for d in found if d.date == day]
            dates.append(replace(same[0], confidence=min(d.confidence for d in same)))
        elif found:
            notes.append(
                _why(kind.replace("_", "-") + " date", [d.date for d in found], len(reads))
            )
    if lot is None and not dates:
        for r in reads:
            notes += r.notes if isinstance(r, LabelRead) else [r.reason]
        reason = "; ".join(dict.fromkeys(notes)) or "nothing on the label could be read"
        return Unreadable(reason, first.lines, first.engine)
    for r in reads:
        if isinstance(r, LabelRead):
            notes += [n for n in r.notes if n not in notes]
    confs = [c for c in (lot_conf, *(d.confidence for d in dates)) if c is not None]
    return LabelRead(
        lot=lot_text,
        dates=tuple(dates),
        confidence=min(confs),
        lot_confidence=lot_conf,
        notes=tuple(notes),
        lines=first.lines,
        engine=first.engine,
    )


def _why(name: str, values: Sequence[object], reads: int) -> str:
    shown = ", ".join(sorted({repr(str(v)) for v in values}))
    if len(set(values)) > 1:
        return f"{name}: the reads disagree ({shown})"
    return f"{name}: {shown} is given by {len(values)} of {reads} reads, not {AGREEING_READS}"
