"""Hostile and careless photos through the API: the documented status, a problem body, and
nothing stored when a claim is refused.

The corpus (``tests/hostile_images.py``) is generated in memory: truncated and empty files,
decompression bombs in PNG, WebP and GIF, huge EXIF and APP segments, CMYK, 16-bit, palette
and alpha images, animations, SVG, a JPEG named .heic and a real HEIC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.seeded import LOT, seeded_client, stored_state
from tests.hostile_images import HostileImage, hostile_images

PROBLEM = "application/problem+json"
CASES = hostile_images()
REFUSED = [c for c in CASES if c.outcome != "ok"]
CLAIM = {
    "order_id": "h-1",
    "lot": LOT,
    "category": "chilled",
    "line_value": "9.99",
    "currency": "EUR",
    "delivered_at": "2024-05-02T10:00:00Z",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with seeded_client(tmp_path_factory.mktemp("hostile") / "var") as c:
        yield c


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in resp.text
    return body


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_inspect_answers_each_upload_as_documented(client: TestClient, case: HostileImage) -> None:
    resp = client.post("/v1/inspect", files=[("photos", (case.filename, case.data))])
    if case.outcome == "ok":
        assert resp.status_code == 200, resp.text[:300]
        (result,) = resp.json()
        assert result["width"] > 0 and result["height"] > 0
    else:
        body = _problem(resp, case.status)
        assert body["photo_index"] == 0
        assert body["type"].endswith("/image-too-large" if case.status == 413 else "/not-an-image")


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_a_claim_with_a_refused_photo_stores_nothing(
    client: TestClient, case: HostileImage
) -> None:
    before = stored_state(client)
    good = CASES[0] if CASES[0].outcome == "ok" else next(c for c in CASES if c.outcome == "ok")
    resp = client.post(
        "/v1/claims",
        files=[("photos", (good.filename, good.data)), ("photos", (case.filename, case.data))],
        data={"claim": json.dumps(CLAIM)},
    )
    body = _problem(resp, case.status)
    assert body["photo_index"] == 1
    assert stored_state(client) == before


def test_eleven_photos_are_a_413_before_any_is_decoded(client: TestClient) -> None:
    before = stored_state(client)
    photo = next(c for c in CASES if c.outcome == "ok")
    resp = client.post(
        "/v1/claims",
        files=[("photos", (photo.filename, photo.data))] * 11,
        data={"claim": json.dumps(CLAIM)},
    )
    assert _problem(resp, 413)["type"].endswith("/too-many-photos")
    assert stored_state(client) == before


@pytest.mark.parametrize("path", ["/v1/claims", "/v1/inspect"])
def test_every_bad_photo_of_several_is_named_and_nothing_is_stored(
    client: TestClient, path: str
) -> None:
    # Five photos, two of them bad: the customer learns both at once, by index and name.
    good = next(c for c in CASES if c.outcome == "ok")
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    datas = [good.data, b"not an image", good.data, good.data[:200], good.data]
    before = stored_state(client)
    resp = client.post(
        path,
        files=[("photos", (n, d)) for n, d in zip(names, datas, strict=True)],
        data={"claim": json.dumps(CLAIM)} if path == "/v1/claims" else None,
    )
    body = _problem(resp, 422)
    assert body["type"].endswith("/not-an-image")
    assert (body["photo_index"], body["field"]) == (1, "photos[1]")
    assert [(e["field"], e["filename"]) for e in body["errors"]] == [
        ("photos[1]", "b.jpg"),
        ("photos[3]", "d.jpg"),
    ]
    assert all(e["type"].endswith("/not-an-image") and e["reason"] for e in body["errors"])
    assert "photo 1 (b.jpg)" in body["detail"] and "photo 3 (d.jpg)" in body["detail"]
    assert stored_state(client) == before
