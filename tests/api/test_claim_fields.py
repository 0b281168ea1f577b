"""What a client must not have to guess about a claim's fields (issue 21, item 8)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from tests.api.seeded import LOT, seeded_client
from tests.conftest import jpeg_bytes, scene


def _claim(**changes: str) -> str:
    claim = {
        "order_id": "O-F",
        "lot": LOT,
        "category": "chilled",
        "line_value": "5.00",
        "currency": "EUR",
        "delivered_at": "2024-05-02T10:00:00Z",
    }
    return json.dumps(claim | changes)


def test_an_unknown_category_is_named_like_every_other_claim_field(tmp_path: Path) -> None:
    photo = ("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))
    with seeded_client(tmp_path) as client:
        resp = client.post("/v1/claims", files=[photo], data={"claim": _claim(category="produce")})
        bad_currency = client.post(
            "/v1/claims", files=[photo], data={"claim": _claim(currency="euro")}
        )
        future = client.post(
            "/v1/claims", files=[photo], data={"claim": _claim(delivered_at="2999-01-01T00:00:00Z")}
        )
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["errors"] if "errors" in resp.json() else [resp.json()]
    assert error["field"] == "claim.category"
    for category in ("frozen", "chilled", "chilled_produce", "ambient_produce"):
        assert category in resp.json()["detail"]
    assert "produce" in resp.json()["detail"].split(";")[0]
    # The same prefix as a field the schema checks.
    assert bad_currency.json()["errors"][0]["field"] == "claim.currency"
    assert future.status_code == 422 and future.json()["field"] == "claim.delivered_at"


def _offset_free(value: object, path: str = "") -> list[str]:
    """Every ISO date-time string in ``value`` that carries no offset, with its path."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _offset_free(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _offset_free(v, f"{path}[{i}]")]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?", value):
        return [f"{path}={value}"]
    return []


def test_every_time_answered_carries_an_offset_and_means_the_same_instant(tmp_path: Path) -> None:
    photo = ("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))
    with seeded_client(tmp_path) as client:
        part = _claim(delivered_at="2024-05-02T10:00:00+02:00")
        filed = client.post("/v1/claims", files=[photo], data={"claim": part})
        assert filed.status_code == 201, filed.text
        read = client.get(f"/v1/claims/{filed.json()['id']}").json()
        listed = client.get("/v1/claims").json()
    for body in (filed.json(), read, listed):
        assert _offset_free(body) == []
    # Stored as the instant it was, not as its wall-clock digits.
    assert datetime.fromisoformat(read["delivered_at"]) == datetime(2024, 5, 2, 8, tzinfo=UTC)
