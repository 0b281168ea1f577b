"""Platt scaling fitted on validation records, and the calibration error it is judged by."""

import numpy as np
import pytest

from training.calibrate import apply_calibration, fit_calibration, fit_platt
from training.evaluate import ImageRecord, expected_calibration_error
from vision.calibration import PlattScaling, logit
from vision.labels import LABELS

BOX = (0.0, 0.0, 10.0, 10.0)


def _records(scores: np.ndarray, truth: np.ndarray, label: str = "mold") -> list[ImageRecord]:
    return [
        ImageRecord(
            f"{i}.jpg",
            "pool",
            (),
            ((label, BOX),) if t else (),
            (),
            {**dict.fromkeys(LABELS, 0.0), label: float(s)},
        )
        for i, (s, t) in enumerate(zip(scores, truth, strict=True))
    ]


def _overconfident(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true rate is sigmoid(0.5 * logit(s) - 0.5): far too sure of themselves."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.01, 0.99, n)
    rate = 1 / (1 + np.exp(-(0.5 * np.log(scores / (1 - scores)) - 0.5)))
    return scores, rng.uniform(size=n) < rate


def test_fit_recovers_the_generating_map() -> None:
    scores, truth = _overconfident(20_000)
    fitted = fit_platt(scores, truth)
    assert fitted is not None
    assert fitted.a == pytest.approx(0.5, abs=0.05) and fitted.b == pytest.approx(-0.5, abs=0.08)


def test_too_few_positives_or_no_signal_is_left_uncalibrated() -> None:
    assert (
        fit_platt([0.9, 0.8, 0.1, 0.2, 0.3, 0.4], [True, True, False, False, False, False]) is None
    )
    rng = np.random.default_rng(1)
    scores = rng.uniform(0.01, 0.99, 2000)
    # higher score, less often true: a decreasing map would reorder photos, so refuse it
    assert fit_platt(scores, rng.uniform(size=2000) > scores) is None


def test_calibration_lowers_error_and_keeps_order() -> None:
    scores, truth = _overconfident(4000, seed=2)
    val, test = _records(scores[:2000], truth[:2000]), _records(scores[2000:], truth[2000:])
    platt = fit_calibration(val, LABELS)
    assert set(platt) == {"mold"}  # the other labels have no positives here
    calibrated = apply_calibration(test, platt, LABELS)
    before = expected_calibration_error(test, "mold")
    after = expected_calibration_error(calibrated, "mold")
    assert before is not None and after is not None
    assert before > 0.1 and after < before / 2
    raw = [r.score("mold") for r in test]
    mapped = [r.score("mold") for r in calibrated]
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(mapped, kind="stable"))
    # labels without a calibration keep their scores
    assert all(r.score("swelling") == 0.0 for r in calibrated)


def test_expected_calibration_error_by_hand() -> None:
    # ten photos all scored 0.9, half of them defective: |0.5 - 0.9| = 0.4
    recs = _records(np.full(10, 0.9), np.arange(10) < 5)
    assert expected_calibration_error(recs, "mold") == pytest.approx(0.4)
    assert expected_calibration_error([], "mold") is None


def test_platt_map_is_increasing_and_bounded() -> None:
    p = PlattScaling(0.5, -0.5)
    values = [p(s) for s in (0.0, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0)]
    assert values == sorted(values) and all(0.0 < v < 1.0 for v in values)
    assert p(0.5) == pytest.approx(1 / (1 + np.exp(0.5)))
    assert logit(0.5) == 0.0
