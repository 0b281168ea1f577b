"""The label parser: every date format, invalid dates, ambiguous or unsure reads abstain."""

from __future__ import annotations

from datetime import date

import pytest

from vision.label_text import (
    LabelRead,
    ParsePolicy,
    TextLine,
    Unreadable,
    normalize_lot,
    parse_label,
    reading_from_dict,
)


def _read(*lines: str, confidence: float = 0.97, **policy: object) -> LabelRead | Unreadable:
    return parse_label(
        [TextLine(t, confidence) for t in lines],
        policy=ParsePolicy(**policy),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("lines", "lot", "kind", "day"),
    [
        (("LOT L2411A7  USE BY 12/12/2026",), "L2411A7", "use_by", date(2026, 12, 12)),
        (("BB 2026-12-03", "LOT: 24-117"), "24-117", "best_before", date(2026, 12, 3)),
        (("EXP 12DEC26", "BATCH NO. A77231"), "A77231", "use_by", date(2026, 12, 12)),
        (("Best before: 03.04.2027", "Lot: X1234"), "X1234", "best_before", date(2027, 4, 3)),
        (("USE BY 05 MAR 2027", "LOT#8841B"), "8841B", "use_by", date(2027, 3, 5)),
        (("use by 05.03.27", "lot k5521"), "K5521", "use_by", date(2027, 3, 5)),
        (
            ("批号\uff1aL2411A7", "保质期至2026年12月12日"),
            "L2411A7",
            "best_before",
            date(2026, 12, 12),
        ),
        (("有效期至 20261212", "批号 B7781"), "B7781", "use_by", date(2026, 12, 12)),
        # The engine dropped the spaces: the keywords still start the fields.
        (("LOTL2411A7", "USEBY12/12/2026"), "L2411A7", "use_by", date(2026, 12, 12)),
        # The keyword's O read as a zero, its colon or dot read as a comma (bench/ocr.py).
        (("BEST BEFORE 04 MAR 2026", "L0T\uff1a14-358"), "14-358", "best_before", date(2026, 3, 4)),
        (("EXP 27DEC26", "BATCH NO\u3001 L4710K5"), "L4710K5", "use_by", date(2026, 12, 27)),
        (("BB 29JAN27", "BATCH NO, 97383"), "97383", "best_before", date(2027, 1, 29)),
        (("EXP 04OCT27", "BATCH NO- FW2754"), "FW2754", "use_by", date(2027, 10, 4)),
    ],
)
def test_each_format_reads_the_lot_and_the_dated_kind(
    lines: tuple[str, ...], lot: str, kind: str, day: date
) -> None:
    read = _read(*lines)
    assert isinstance(read, LabelRead)
    assert read.lot == lot
    assert [(d.kind, d.date) for d in read.dates] == [(kind, day)]
    assert (read.use_by if kind == "use_by" else read.best_before) == day


def test_numeric_dates_follow_the_configured_order_and_are_never_swapped() -> None:
    assert _read("USE BY 03/04/2027").use_by == date(2027, 4, 3)
    assert _read("USE BY 03/04/2027", day_first=False).use_by == date(2027, 3, 4)
    # 13 is no month: not read as 4 January 2027 with day and month swapped.
    us = _read("USE BY 13/04/2027", "LOT A1234", day_first=False)
    assert us.use_by is None and us.lot == "A1234"
    assert isinstance(us, LabelRead) and "not a valid use-by date" in us.notes[0]


@pytest.mark.parametrize(
    "text",
    ["USE BY 31/02/2026", "USE BY 2026-13-01", "USE BY 12/12/1999", "EXP 12DXC26", "USE BY 12/12"],
)
def test_an_invalid_date_is_not_read(text: str) -> None:
    read = _read(text)
    assert isinstance(read, Unreadable)
    assert "not a valid use-by date" in read.reason


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (("LOT A1234", "LOT A1235"), "2 different values"),  # two lots on one label
        (("LOT L2411 A7",), "not a valid lot"),  # split by the engine: which part is it?
        (("LOT 12/12/2026",), "not a valid lot"),  # a date is no lot
        (("LOT ABCDEF",), "not a valid lot"),  # no digit
        (("LOT A1",), "not a valid lot"),  # too short
        (("PILOT 1234", "EXPRESS 12/12/2026"), "no lot or date keyword"),  # inside words
        (("L2411A7 12/12/2026",), "no lot or date keyword"),  # no keyword: not read
        # "L0T" is the keyword only as a word: "L0T203A1" may be a misread code, not LOT + code.
        (("L0T203A1",), "no lot or date keyword"),
    ],
)
def test_ambiguous_or_keywordless_reads_are_unreadable(lines: tuple[str, ...], why: str) -> None:
    read = _read(*lines)
    assert isinstance(read, Unreadable)
    assert why in read.reason
    assert read.lot is None and read.use_by is None


def test_two_dates_of_one_kind_that_disagree_are_not_read_but_the_lot_is() -> None:
    read = _read("USE BY 12/12/2026", "USE BY 13/12/2026", "LOT A1234")
    assert isinstance(read, LabelRead)
    assert read.lot == "A1234" and read.dates == ()
    assert read.notes == ("use-by date: the label gives 2 different values",)


def test_a_production_date_is_never_taken_for_the_use_by_date() -> None:
    read = _read("PACKED ON 01/12/2026", "USE BY 09/12/2026", "LOT A1234")
    assert read.use_by == date(2026, 12, 9)
    assert [d.kind for d in read.dates] == ["use_by"]


def test_a_field_below_the_confidence_floor_is_unreadable() -> None:
    read = _read("LOT L2411A7", confidence=0.6, min_confidence=0.8)
    assert isinstance(read, Unreadable)
    assert "confidence 0.60, below 0.8" in read.reason
    assert _read("LOT L2411A7", confidence=0.4).lot is None  # the default floor is 0.5


def test_a_field_is_as_sure_as_its_least_sure_character() -> None:
    text = "LOT: 00667P"
    chars = [0.99] * len(text)
    unsure_colon = TextLine(
        text, 0.6, char_confidences=tuple(0.4 if c == ":" else 0.99 for c in text)
    )
    assert parse_label([unsure_colon]).lot == "00667P"  # the keyword's colon is no doubt
    chars[text.index("P")] = 0.3
    assert isinstance(parse_label([TextLine(text, 0.9, char_confidences=tuple(chars))]), Unreadable)


def test_lots_compare_without_case_spaces_or_separators() -> None:
    assert normalize_lot("l-2411 a7") == normalize_lot("L2411A7") == "L2411A7"


def test_reads_survive_their_json_form() -> None:
    read = _read("LOT L2411A7  USE BY 12/12/2026")
    assert reading_from_dict(read.as_dict()) == read  # type: ignore[arg-type]
    none = _read("nothing here")
    assert reading_from_dict(none.as_dict()) == none  # type: ignore[arg-type]


def test_a_lot_with_a_letter_that_prints_like_a_digit_is_not_read() -> None:
    read = _read("LOT L1818EO", "USE BY 12/12/2026")
    assert isinstance(read, LabelRead) and read.lot is None
    assert read.use_by == date(2026, 12, 12)
    assert "holds O, which print like digits" in read.notes[0]
    assert _read("LOT L1818EO", confusable_letters="").lot == "L1818EO"
