"""Not-product images (noise, walls, documents, screens, patterns; generated here, never
committed) get no confident finding and no decision taken alone from the shipped model, and
most are refused outright as "not a product photo"."""

from __future__ import annotations

from typing import Any

from bench.not_products import KINDS, not_product_images


def test_no_not_product_image_gets_a_confident_answer(predictor: Any) -> None:
    refused = 0
    seen = 0
    for kind, data in not_product_images(3, seed=7):
        seen += 1
        result = predictor.inspect(data, image=kind)
        codes = {i.code for i in result.quality.issues}
        if "not_a_product_photo" in codes:
            refused += 1
            assert not result.findings and not result.scores and not result.decisions
            continue
        # Judged after all: nothing it says may be acted on without a person.
        assert all(f.uncertain for f in result.findings) or not result.quality.ok, kind
        assert not any(d.alone for d in result.decisions.values()), kind
    assert seen == 3 * len(KINDS)
    # Measured with seed 7: 29 of 36 refused; the rest are judged but decided by a person.
    assert refused >= 0.75 * seen


def test_a_real_product_photo_is_judged(predictor: Any) -> None:
    from tests.conftest import FIXTURES

    for name in ("flat_pouch.jpg", "swollen_pouch.jpg"):
        result = predictor.inspect((FIXTURES / name).read_bytes(), image=name)
        assert "not_a_product_photo" not in {i.code for i in result.quality.issues}
        assert result.scores and set(result.decisions) == {"produce", "parcel", "can", "pouch"}
