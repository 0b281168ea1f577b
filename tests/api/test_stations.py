"""Station batches through the API: graded at once, queued in process, or on Celery workers
with the real broker (RabbitMQ) and result backend (Redis); the same assertions for each.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from claims.station_jobs import BatchJob, JobItem, record_job
from claims.stations import Station
from tests.api.access import grant
from tests.claims.test_stations import PHOTOS, PhotoScores
from tests.conftest import jpeg_bytes, textured

READ_POINT = "urn:epc:id:sgln:4000002.00007.0"
PROBLEM = "application/problem+json"


def _app(tmp_path: Path, **settings: Any) -> Any:
    app = create_app(Settings(data_dir=tmp_path / "var", anchor_backend="none", **settings))
    app.dependency_overrides[get_predictor] = PhotoScores  # the model seam, for the sync path
    app.state.predictor = PhotoScores()  # ...and the app's model for its in-process queue
    return app


def _post(
    client: TestClient,
    headers: dict[str, str],
    batch_id: str,
    items: list[dict[str, Any]],
    photos: list[bytes],
) -> Any:
    return client.post(
        "/v1/stations/batches",
        headers=headers,
        files=[("photos", (f"p{n}.jpg", p, "image/jpeg")) for n, p in enumerate(photos)],
        data={"batch": json.dumps({"batch_id": batch_id, "items": items})},
    )


def _items(n: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    items = [
        {"epc": f"urn:epc:id:sgtin:4000001.012345.{2000 + i}", "kind": "package", "photos": [i]}
        for i in range(n)
    ]
    photos = [PHOTOS["damaged"] if i % 2 else PHOTOS["fresh"] for i in range(n)]
    return items, photos


def _wait(
    client: TestClient, headers: dict[str, str], url: str, seconds: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(url, headers=headers).json()
        if state["status"] != "pending":
            return state
        time.sleep(0.2)
    raise AssertionError(f"{url} still pending after {seconds} s")


@pytest.fixture
def station_app(tmp_path: Path) -> Iterator[tuple[Any, TestClient, dict[str, str]]]:
    app = _app(tmp_path, station_sync_items=3, station_max_items=8)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client, grant(app, "station", station_id="ST-1", read_point=READ_POINT)


def test_a_small_batch_is_graded_at_once_item_by_item(station_app: Any) -> None:
    app, client, station = station_app
    items, photos = _items(2)
    items.append({"epc": "not-an-epc", "kind": "package", "photos": [0]})
    resp = _post(client, station, "b-small", items, photos)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [i["position"] for i in body["items"]] == [0, 1, 2]
    assert body["items"][1]["grade"]["condition"] == "damaged"
    assert body["items"][2]["error"]["type"] == "invalid-epc"
    entry = app.state.services.ledger.entry(body["items"][0]["ledger_index"])
    assert entry.body["event"]["readPoint"]["id"] == READ_POINT
    assert entry.body["captured_by"].endswith("(station)")
    again = _post(client, station, "b-small", items, photos).json()
    assert again["replay"] and again["items"] == body["items"]
    other = _post(client, station, "b-small", items[:1], photos)
    assert other.status_code == 409 and other.headers["content-type"].startswith(PROBLEM)


def test_a_large_batch_is_queued_and_polled(station_app: Any) -> None:
    _, client, station = station_app
    items, photos = _items(5)
    resp = _post(client, station, "b-large", items, photos)
    assert resp.status_code == 202, resp.text
    state = _wait(client, station, resp.json()["url"])
    assert state["status"] == "done" and [i["position"] for i in state["items"]] == list(range(5))
    assert [i["grade"]["condition"] for i in state["items"]] == ["intact", "damaged"] * 2 + [
        "intact"
    ]


def test_bad_batches_are_problems(station_app: Any) -> None:
    app, client, station = station_app
    items, photos = _items(9)
    too_big = _post(client, station, "b-big", items, photos)
    assert too_big.status_code == 413 and too_big.json()["limit"] == 8
    missing = _post(
        client, station, "b-x", [{"epc": "x", "kind": "package", "photos": [3]}], photos[:1]
    )
    assert missing.status_code == 422
    customer = grant(app, "customer_app", customer_id="C-1")
    assert _post(client, customer, "b-y", *_items(1)).status_code == 403
    # A full queue: 429 with Retry-After.
    full = Station("ST-1", READ_POINT, "key:fpk_00000000 (station)")
    for n in range(50):
        record_job(
            app.state.services.engine,
            BatchJob(f"stuck-{n}", full, (JobItem("x", "package", ()),)),
            _now(),
        )
    queued = _post(client, station, "b-queue", *_items(5))
    assert queued.status_code == 429 and int(queued.headers["retry-after"]) > 0


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    not (_reachable(5672) and _reachable(6379))
    and os.environ.get("FRESHPROOF_REQUIRE_BROKER") != "1",
    reason="RabbitMQ (5672) or Redis (6379) not running; .ci/run starts them",
)
def test_celery_workers_grade_queued_batches_on_the_real_broker(tmp_path: Path) -> None:
    from celery.contrib.testing.worker import start_worker

    from api.worker import celery_app

    queue_name = f"fp-test-{os.getpid()}"
    settings = Settings(
        data_dir=tmp_path / "var", anchor_backend="none", tasks="celery", station_sync_items=1
    )
    worker_app = celery_app(settings)
    worker_app.conf.task_default_queue = queue_name
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        station = grant(app, "station", station_id="ST-9", read_point=READ_POINT)
        photos = [jpeg_bytes(textured()), jpeg_bytes((textured() // 2).astype("uint8"))]
        items = [
            {"epc": "urn:epc:id:sgtin:4000001.012345.3001", "kind": "produce", "photos": [0]},
            {"epc": "urn:epc:id:sgtin:4000001.012345.3002", "kind": "package", "photos": [1]},
            {"epc": "bad", "kind": "package", "photos": [0]},
        ]
        with start_worker(worker_app, pool="solo", perform_ping_check=False, queues=[queue_name]):
            resp = _post(client, station, "b-celery", items, photos)
            assert resp.status_code == 202, resp.text
            state = _wait(client, station, resp.json()["url"], seconds=120)
    assert state["status"] == "done", state
    graded, other, bad = state["items"]
    assert graded["grade"]["kind"] == "produce" and other["grade"]["kind"] == "package"
    assert bad["error"]["type"] == "invalid-epc"
    assert graded["ledger_index"] is not None or graded["grade"]["manual"]
