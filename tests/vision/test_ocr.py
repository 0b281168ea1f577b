"""The OCR engines on generated label photos: exact reads, and no guess where unsure."""

from __future__ import annotations

import os

import pytest

from simulator.label_photos import FONT_PACKAGES, generate, missing_fonts
from vision.label_text import LabelRead, TextLine, Unreadable
from vision.ocr import (
    LabelReader,
    OCRUnavailableError,
    available_engines,
    load_label_reader,
    rows,
)

needs_rapidocr = pytest.mark.skipif(
    "rapidocr" not in available_engines(), reason="rapidocr is not installed (the ocr extra)"
)
# Without every font the generator draws other photos (and no Chinese label): the assertions
# below are about the documented set. FRESHPROOF_REQUIRE_FONTS=1 (.ci/run) makes it a failure.
needs_fonts = pytest.mark.skipif(
    bool(missing_fonts()) and os.environ.get("FRESHPROOF_REQUIRE_FONTS") != "1",
    reason=f"label fonts missing (apt-get install {' '.join(FONT_PACKAGES)})",
)


@pytest.fixture(scope="module")
def reader() -> LabelReader:
    return load_label_reader("rapidocr")


@needs_rapidocr
@needs_fonts
def test_rapidocr_reads_clear_generated_labels_exactly(reader: LabelReader) -> None:
    photos = list(generate(5, seed=7, subset="clear"))
    reads = [reader.read(p.jpeg) for p in photos]
    # Every layout once: one line, two lines, EXP + BATCH, a shop sticker, a Chinese label.
    assert [p.truth.layout for p in photos] == [
        "one-line",
        "two-line",
        "exp-batch",
        "sticker",
        "cjk",
    ]
    exact = [r.lot == p.truth.lot for r, p in zip(reads, photos, strict=True)]
    assert sum(exact) >= 4, [(r.lot, p.truth.lot) for r, p in zip(reads, photos, strict=True)]
    for r, p in zip(reads, photos, strict=True):
        assert r.lot in (None, p.truth.lot)  # read right, or not at all
        for d in r.dates:
            assert (d.kind, d.date) == (p.truth.kind, p.truth.date)


@needs_rapidocr
def test_a_photo_with_no_label_is_unreadable(reader: LabelReader) -> None:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(buf, "JPEG")
    assert isinstance(reader.read(buf.getvalue()), Unreadable)
    assert "cannot be decoded" in reader.read(b"not an image").reason  # type: ignore[union-attr]


def test_boxes_on_one_line_are_joined_left_to_right_and_lines_kept_apart() -> None:
    boxes = [
        TextLine("L2411A7", 0.9, (120, 10, 220, 40)),
        TextLine("LOT", 0.99, (10, 12, 60, 40)),
        TextLine("USE BY 12/12/2026", 0.95, (10, 60, 300, 90)),
    ]
    lines = rows(boxes)
    assert [line.text for line in lines] == ["LOT L2411A7", "USE BY 12/12/2026"]
    assert lines[0].confidence == 0.9
    assert lines[0].char_confidences == (0.99,) * 3 + (0.9,) * 8


def test_an_unknown_engine_is_unavailable() -> None:
    with pytest.raises(OCRUnavailableError):
        load_label_reader("abbyy")


class _Lines:
    name = "fixed"

    def __init__(self, *lines: str) -> None:
        self._lines = [TextLine(t, 0.95) for t in lines]

    def lines(self, rgb: object, *, detect_side: int | None = None) -> list[TextLine]:
        return self._lines


class _PerView:
    """An engine that reads one set of lines per detection size (the view it is read in)."""

    name = "per-view"

    def __init__(self, by_side: dict[int | None, tuple[str, ...]]) -> None:
        self.by_side = by_side
        self.calls: list[int | None] = []

    def lines(self, rgb: object, *, detect_side: int | None = None) -> list[TextLine]:
        self.calls.append(detect_side)
        return [TextLine(t, 0.95) for t in self.by_side[detect_side]]


def test_the_reader_parses_what_its_engine_reads() -> None:
    import numpy as np

    read = LabelReader(_Lines("LOT A1234", "USE BY 01/02/2027")).read_rgb(
        np.zeros((8, 8, 3), np.uint8)
    )
    assert isinstance(read, LabelRead) and read.lot == "A1234" and read.engine == "fixed"


def _views_read(by_side: dict[int | None, tuple[str, ...]]) -> tuple[LabelRead | Unreadable, list]:
    import numpy as np

    from vision.ocr import View

    engine = _PerView(by_side)
    reader = LabelReader(engine, views=(View(1.0, 640), View(0.75, 800), View(1.0, None)))
    return reader.read_rgb(np.zeros((8, 8, 3), np.uint8)), engine.calls


def test_two_agreeing_reads_are_checked_by_one_more_view_then_settled() -> None:
    same = ("LOT A1234", "USE BY 01/02/2027")
    read, calls = _views_read({640: same, 800: same, None: ("nothing here",)})
    assert isinstance(read, LabelRead) and read.lot == "A1234" and read.use_by is not None
    assert calls == [640, 800, None]  # a view that finds no lot does not contradict it
    # Four views: the fourth is not read once the third has checked the agreed lot.
    import numpy as np

    from vision.ocr import View

    engine = _PerView({640: same, 800: same, 1000: same, None: ("LOT B9999",)})
    views = (View(1.0, 640), View(0.75, 800), View(1.0, 1000), View(1.0, None))
    checked = LabelReader(engine, views=views).read_rgb(np.zeros((8, 8, 3), np.uint8))
    assert isinstance(checked, LabelRead) and checked.lot == "A1234"
    assert engine.calls == [640, 800, 1000]


def test_a_code_two_views_cut_alike_is_unreadable_when_a_third_reads_more() -> None:
    # bench/ocr.py, seed 14: "MT9149" printed across a white card's edge onto a green crate;
    # two views cut it at the same place ("MT91", both sure), the third read "MT914".
    read, calls = _views_read({640: ("LOT MT91",), 800: ("LOT MT91",), None: ("LOT MT914",)})
    assert isinstance(read, Unreadable) and "the reads disagree" in read.reason
    assert calls == [640, 800, None]


def test_a_read_that_misses_the_line_is_outvoted_by_two_that_agree() -> None:
    # The first view's text box cut the keyword off (a dot-printed line): the other two agree.
    read, calls = _views_read({640: ("L0436",), 800: ("Lot: 84736",), None: ("LOT 84736",)})
    assert isinstance(read, LabelRead) and read.lot == "84736"
    assert calls == [640, 800, None]


def test_a_lot_one_read_gives_and_another_contradicts_is_unreadable() -> None:
    # S for 5 in one view only: the reads disagree, so neither is kept, whatever the third says.
    read, calls = _views_read({640: ("LOT 521429",), 800: ("LOT S21429",), None: ("LOT S21429",)})
    assert isinstance(read, Unreadable) and "the reads disagree" in read.reason
    assert calls == [640, 800]  # a disagreement is settled: no third read changes it
    # One read alone is no read: two must agree.
    alone, _ = _views_read({640: ("LOT 521429",), 800: (), None: ("nothing",)})
    assert isinstance(alone, Unreadable) and "1 of 3 reads, not 2" in alone.reason


def test_votes_keep_each_field_on_its_own() -> None:
    from datetime import date

    from vision.label_text import NO_KEYWORD, LabelDate
    from vision.label_vote import settled, vote

    day = LabelDate("use_by", date(2027, 1, 2), "USE BY 02/01/2027", 0.9)
    other = LabelDate("use_by", date(2027, 1, 3), "USE BY 03/01/2027", 0.9)
    first = LabelRead("L6826S6", (day,), 0.9, 0.99)
    same = LabelRead("l6826s6", (day,), 0.8, 0.8)
    both = vote([first, same])
    assert isinstance(both, LabelRead) and both.lot == "L6826S6" and both.lot_confidence == 0.8
    # The lot is agreed, the date is not: the lot is kept, the date dropped with a note.
    split = vote([first, LabelRead("L6826S6", (other,), 0.9, 0.99)])
    assert isinstance(split, LabelRead) and split.lot == "L6826S6" and split.dates == ()
    assert any("the reads disagree" in n for n in split.notes)
    assert isinstance(vote([first, Unreadable("glare")]), Unreadable)
    assert not settled([first], left=1) and settled([first], left=0)
    # Two reads agreeing on a lot wait for one more view, when one is left.
    assert not settled([first, same], left=1) and settled([first, same], left=0)
    assert settled([first, same, Unreadable("glare")], left=1)
    assert not settled([first, Unreadable("glare"), same], left=1)  # agreed at the third
    # After the check only the lot keeps the reading going: a date one read gives does not.
    dateless = LabelRead("L6826S6", (), 0.9, 0.99)
    assert settled([first, dateless, dateless], left=2)
    assert not settled([first, LabelRead(None, (day,), 0.9)], left=2)
    # Two reads that find no keyword at all end it: there is no label to agree on.
    nothing = Unreadable(NO_KEYWORD)
    assert settled([nothing, nothing], left=2) and not settled([nothing], left=3)
