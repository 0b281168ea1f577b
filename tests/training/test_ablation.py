"""The design check: the same photos scored by the detector, the classifier and the fusion."""

from training.ablation import ablation, variants
from training.evaluate import ImageRecord
from vision.labels import LABELS
from vision.predictor import Finding

BOX = (0.0, 0.0, 10.0, 10.0)


def _rec(defect: str | None, box: float, prob: float, pool: str = "can_defects") -> ImageRecord:
    """One photo: the detector's best box for `mold` and the classifier's probability of it."""
    label = defect or "mold"
    classifier = {"clean": 1 - prob, label: prob}
    return ImageRecord(
        "p.jpg",
        pool,
        (),
        ((defect, BOX),) if defect else (),
        (Finding(label, box, BOX),),
        {lab: max(box if lab == label else 0.0, classifier.get(lab, 0.0)) for lab in LABELS},
        classifier,
    )


def test_each_variant_scores_from_its_own_part() -> None:
    r = _rec("mold", box=0.9, prob=0.2)
    v = variants([r], LABELS)
    assert v["detector only"][0].score("mold") == 0.9
    assert v["classifier only"][0].score("mold") == 0.2
    assert v["fused (shipped)"][0].score("mold") == 0.9


def test_a_part_that_separates_the_photos_wins() -> None:
    # the detector separates defective from clean photos; the classifier says the opposite
    recs = [_rec("mold", 0.9, 0.1) for _ in range(5)] + [_rec(None, 0.1, 0.9) for _ in range(5)]
    got = ablation(recs, recs, LABELS)
    assert got["detector only"]["image_level"]["accuracy"] == 1.0
    assert got["classifier only"]["image_level"]["accuracy"] == 0.5
    assert got["detector only"]["groups"]["cans_major_critical_vs_intact"]["images"] == 10
