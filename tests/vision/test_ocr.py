"""The OCR engines on generated label photos: exact reads, and no guess where unsure."""

from __future__ import annotations

import pytest

from simulator.label_photos import fonts, generate
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
needs_fonts = pytest.mark.skipif(len(fonts()) < 3, reason="label fonts are not installed")


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

    def lines(self, rgb: object) -> list[TextLine]:
        return self._lines


def test_the_reader_parses_what_its_engine_reads() -> None:
    import numpy as np

    read = LabelReader(_Lines("LOT A1234", "USE BY 01/02/2027")).read_rgb(
        np.zeros((8, 8, 3), np.uint8)
    )
    assert isinstance(read, LabelRead) and read.lot == "A1234" and read.engine == "fixed"


def test_two_reads_keep_only_what_both_say() -> None:
    from datetime import date

    from vision.label_text import LabelDate
    from vision.ocr import agree

    day = LabelDate("use_by", date(2027, 1, 2), "USE BY 02/01/2027", 0.9)
    first = LabelRead("L6826S6", (day,), 0.9, 0.99)
    same = LabelRead("l6826s6", (day,), 0.8, 0.8)
    assert agree(first, same) == first
    # A confident misread (S for 5) that the second read does not repeat is not kept.
    other = agree(first, LabelRead("L682656", (day,), 0.9, 0.99))
    assert isinstance(other, LabelRead) and other.lot is None and other.use_by == day.date
    assert "a second read gives 'L682656'" in other.notes[0]
    assert isinstance(agree(first, Unreadable("glare")), Unreadable)
