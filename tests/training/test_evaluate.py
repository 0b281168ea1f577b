from training.evaluate import ImageRecord, choose_thresholds, evaluate_records
from vision.labels import LABELS
from vision.predictor import Finding

BOX = (10.0, 10.0, 50.0, 50.0)


def _rec(
    gt: list[str],
    preds: list[tuple[str, float, tuple[float, ...]]],
    pool: str = "fruit_fresh_rotten",
) -> ImageRecord:
    return ImageRecord(
        "f.jpg",
        pool,
        (),
        tuple((g, BOX) for g in gt),
        tuple(Finding(lab, s, b) for lab, s, b in preds),
    )  # type: ignore[arg-type]


THR = dict.fromkeys(LABELS, 0.5)


def test_perfect_predictions_score_one() -> None:
    recs = [_rec(["mold"], [("mold", 0.9, BOX)]), _rec([], [])]
    m = evaluate_records(recs, LABELS, THR)
    assert m["per_label"]["mold"]["ap50"] == 1.0 and m["per_label"]["mold"]["ap50_95"] == 1.0
    assert m["per_label"]["mold"]["precision"] == 1.0 and m["per_label"]["mold"]["recall"] == 1.0
    assert m["image_level"]["accuracy"] == 1.0
    assert m["per_label"]["swelling"] == {"instances": 0}


def test_misses_false_alarms_and_wrong_place() -> None:
    recs = [
        _rec(["spoilage"], []),  # missed
        _rec([], [("spoilage", 0.8, BOX)]),  # false alarm
        _rec(["spoilage"], [("spoilage", 0.9, (200, 200, 240, 240))]),  # wrong place
    ]
    m = evaluate_records(recs, LABELS, THR)
    sp = m["per_label"]["spoilage"]
    # no box is right, but image level one of two mouldy photos was caught, one of two flagged
    assert sp["ap50"] == 0.0 and sp["recall"] == 0.5 and sp["precision"] == 0.5
    il = m["image_level"]
    # image level only asks "is it defective": the wrongly placed box still counts
    assert il["confusion"] == {
        "defective_found": 1,
        "defective_missed": 1,
        "clean_flagged": 1,
        "clean_passed": 0,
    }


def test_loose_box_counts_at_50_not_at_95() -> None:
    loose = (10.0, 10.0, 50.0, 60.0)  # IoU 0.8 with BOX
    m = evaluate_records([_rec(["mold"], [("mold", 0.9, loose)])], LABELS, THR)
    assert m["per_label"]["mold"]["ap50"] == 1.0
    assert 0.5 < m["per_label"]["mold"]["ap50_95"] < 1.0


def test_thresholds_separate_scores_on_validation() -> None:
    recs = [_rec(["mold"], [("mold", s, BOX)]) for s in (0.6, 0.7, 0.8)]
    recs += [_rec([], [("mold", s, BOX)]) for s in (0.2, 0.3, 0.4)]
    t = choose_thresholds(recs, LABELS)
    assert 0.4 < t["mold"] <= 0.6


def test_fused_scores_decide_images_not_boxes() -> None:
    rec = ImageRecord(
        "f.jpg",
        "fruit_fresh_rotten",
        (),
        (("mold", BOX),),
        (),
        {"spoilage": 0.1, "mold": 0.8, "swelling": 0.0, "package_damage": 0.0},
    )
    m = evaluate_records([rec], LABELS, THR)
    assert m["image_level"]["accuracy"] == 1.0 and m["per_label"]["mold"]["recall"] == 1.0
    assert m["per_label"]["mold"]["ap50"] == 0.0  # no box was drawn


def test_abstain_margins_stop_where_findings_become_precise() -> None:
    from training.evaluate import choose_abstain_margins

    # Mould: scores 0.50-0.59 are right half the time, 0.60 and up always.
    recs = [_rec(["mold"] if i % 2 else [], [("mold", 0.50 + i / 200, BOX)]) for i in range(20)]
    recs += [_rec(["mold"], [("mold", 0.60 + i / 100, BOX)]) for i in range(20)]
    margins = choose_abstain_margins(recs, {"mold": 0.5, "spoilage": 0.5}, precision=0.9)
    assert 0.05 <= margins["mold"] <= 0.10
    above = [r for r in recs if r.score("mold") >= 0.5 + margins["mold"]]
    assert sum(r.has("mold") for r in above) / len(above) >= 0.9
    # Spoilage never scores: too few images above any margin, so all of it is uncertain.
    assert margins["spoilage"] == 0.5
