"""Label reading through the API, with the real engine: a customer's photo of a pack whose
label names another lot files the claim, held for a person, and shows what was read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import make_label_reader
from api.settings import Settings
from simulator.label_photos import FONT_PACKAGES, generate, missing_fonts
from tests.api.access import grant
from tests.conftest import FIXTURES
from vision.ocr import OCRUnavailableError, available_engines

pytestmark = pytest.mark.skipif(
    "rapidocr" not in available_engines()
    or (bool(missing_fonts()) and os.environ.get("FRESHPROOF_REQUIRE_FONTS") != "1"),
    reason=f"rapidocr (the ocr extra) or the label fonts ({' '.join(FONT_PACKAGES)}) missing",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("labels")
    app = create_app(
        Settings(
            data_dir=tmp / "var",
            anchor_backend="none",
            anchor_every_entries=1_000_000,
            label_ocr="rapidocr",
        )
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers.update(grant(app, "customer_app", customer_id="C-1"))
        yield c


def test_a_photo_of_another_lot_files_the_claim_held_with_the_reason(client: TestClient) -> None:
    label = next(generate(1, seed=7, subset="clear"))  # one-line: LOT <lot> USE BY <date>
    claim = {
        "order_id": "o-label",
        "lot": "OTHER-1234",
        "category": "chilled",
        "line_value": "5",
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    files = [
        ("photos", ("pack.jpg", (FIXTURES / "flat_pouch.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("label.jpg", label.jpeg, "image/jpeg")),
    ]
    resp = client.post("/v1/claims", files=files, data={"claim": json.dumps(claim)})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "needs_review"
    reasons = {r["code"]: r for r in body["verdict"]["reasons"]}
    assert reasons["LABEL_OTHER_LOT"]["facts"]["read"][0]["lot"] == label.truth.lot
    assert body["photos"][1]["label"]["lot"] == label.truth.lot
    assert body["photos"][0]["label"]["readable"] is False


def test_label_reading_is_off_by_default_and_an_engine_named_but_missing_fails_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert make_label_reader(Settings(data_dir=tmp_path)) is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on it
    with pytest.raises(OCRUnavailableError):
        make_label_reader(Settings(data_dir=tmp_path, label_ocr="tesseract"))
