"""Per-family operating points: exact bounds, the fixed-sequence walk, counting shots once."""

from __future__ import annotations

import math

import pytest

from training.evaluate import ImageRecord
from training.operating import choose_operating_points, measure_operating_points, risk_coverage
from training.risk import clopper_pearson_upper, min_decisions
from vision.labels import LABELS

BOX = (0.0, 0.0, 9.0, 9.0)
THR = dict.fromkeys(LABELS, 0.5)


@pytest.mark.parametrize("n", [1, 10, 149, 500])
def test_with_no_error_the_bound_is_the_closed_form(n: int) -> None:
    assert clopper_pearson_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-9)


@pytest.mark.parametrize(("errors", "n"), [(1, 237), (3, 100), (12, 70), (40, 41)])
def test_the_bound_is_where_the_binomial_tail_is_delta(errors: int, n: int) -> None:
    p = clopper_pearson_upper(errors, n)
    # Exact: P(X <= errors | n, p) = 0.05, in integers and one float power per term.
    tail = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(errors + 1))
    assert tail == pytest.approx(0.05, abs=1e-9)
    assert clopper_pearson_upper(n, n) == 1.0 and clopper_pearson_upper(0, 0) == 1.0


def test_the_fewest_decisions_that_can_bound_two_percent() -> None:
    assert min_decisions(0.02) == 149
    assert clopper_pearson_upper(0, 149) <= 0.02 < clopper_pearson_upper(0, 148)


def _produce(
    n: int, *, spoiled: bool, score: float, wrong: bool = False, shot: str = ""
) -> list[ImageRecord]:
    """``n`` produce photos; the model scores spoilage at ``score`` (found at 0.5)."""
    truth = spoiled != wrong
    gt = (("spoilage", BOX),) if truth else ()
    return [
        ImageRecord(f"{shot or 'p'}-{spoiled}-{score}-{i}.jpg", "fruit_fresh_rotten", (), gt, (),
                    {**dict.fromkeys(LABELS, 0.0), "spoilage": score})
        for i in range(n)
    ]  # fmt: skip


def test_a_decision_with_too_few_val_photos_gets_no_point() -> None:
    val = _produce(100, spoiled=False, score=0.01) + _produce(100, spoiled=True, score=0.99)
    block = choose_operating_points(val, THR)
    for decision in ("clean", "defect"):
        point = block["families"]["produce"]["decisions"][decision]
        assert point["min_confidence"] is None and "fewer than 149" in point["val"]["why_none"]
    assert block["families"]["parcel"]["decisions"]["clean"]["min_confidence"] is None


def test_the_walk_stops_before_the_confidence_where_errors_begin() -> None:
    # 300 sure clean photos, then 50 less sure ones of which 10 are in truth spoiled.
    val = (
        _produce(300, spoiled=False, score=0.01)
        + _produce(40, spoiled=False, score=0.3)
        + _produce(10, spoiled=False, score=0.3, wrong=True)
    )
    block = choose_operating_points(val, THR)
    clean = block["families"]["produce"]["decisions"]["clean"]
    assert clean["val"]["decided"] == 300 and clean["val"]["wrong_groups"] == 0
    assert clean["val"]["stopped_at"]["decided"] == 350
    test = measure_operating_points(val, THR, block)["produce"]
    assert (
        test["decided_alone"] == 300
        and test["error"] == 0.0
        and test["coverage"] == pytest.approx(300 / 350, abs=1e-4)
    )
    curve = risk_coverage(val, THR, block)["produce"]
    assert curve[-1]["wrong"] == 10 and curve[0]["wrong"] == 0


def test_copies_of_one_shot_count_once() -> None:
    # 300 photos but only 100 shots: the same walk cannot bound the error at 2%.
    val = _produce(300, spoiled=False, score=0.01)
    groups = {r.file: f"shot-{i % 100}" for i, r in enumerate(val)}
    by_photo = choose_operating_points(val, THR)
    by_shot = choose_operating_points(val, THR, groups=groups)
    assert by_photo["families"]["produce"]["decisions"]["clean"]["min_confidence"] is not None
    point = by_shot["families"]["produce"]["decisions"]["clean"]
    assert point["min_confidence"] is None and point["val"]["val_groups"] == 100


def test_the_card_says_when_a_release_decides_nothing_alone_and_what_would_change_it() -> None:
    from training.card import operating_points_markdown

    few = choose_operating_points(_produce(100, spoiled=False, score=0.01), THR)
    card = operating_points_markdown({"operating_points": few})
    assert "decides nothing alone" in card and "every station item goes to the manual queue" in card
    assert "produce clean 100" in card and "at least 149 independent photos" in card
    enough = choose_operating_points(_produce(300, spoiled=False, score=0.01), THR)
    card = operating_points_markdown({"operating_points": enough})
    assert "decides nothing alone" not in card and "produce defect" in card
    assert "produce clean" not in card.split("| family |")[0]  # it has a point: not listed
