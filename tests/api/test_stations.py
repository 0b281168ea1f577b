"""Station batches through the API: graded at once, queued in process, or on Celery workers
with the real broker (RabbitMQ) and result backend (Redis); the same assertions for each.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from stations.batches import Station
from stations.jobs import BatchJob, JobItem, record_job
from tests.api.access import grant
from tests.stations.test_batches import PHOTOS, PhotoScores

READ_POINT = "urn:epc:id:sgln:4000002.00007.0"
PROBLEM = "application/problem+json"


def _settings(tmp_path: Path, **settings: Any) -> Settings:
    return Settings(data_dir=tmp_path / "var", anchor_backend="none", **settings)


def _app(settings: Settings) -> Any:
    app = create_app(settings)
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
    app = _app(_settings(tmp_path, station_sync_items=3, station_max_items=8))
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


def test_bad_batches_are_problems(station_app: Any) -> None:
    app, client, station = station_app
    items, photos = _items(9)
    too_big = _post(client, station, "b-big", items, photos)
    assert too_big.status_code == 413 and too_big.json()["limit"] == 8
    missing = _post(
        client, station, "b-x", [{"epc": "x", "kind": "package", "photos": [3]}], photos[:1]
    )
    assert missing.status_code == 422
    # JSON's true is not photo 1; a 1,000-character id is told its length, not a regex.
    truthy = _post(
        client, station, "b-t", [{"epc": "x", "kind": "package", "photos": [True]}], photos[:2]
    )
    assert truthy.status_code == 422
    assert truthy.json()["errors"][0]["field"] == "batch.items.0.photos.0"
    long_id = _post(client, station, "b" * 1000, *_items(1))
    assert long_id.status_code == 422 and "at most 200 characters" in long_id.json()["detail"]
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


def test_a_batch_part_with_a_duplicate_key_grades_nothing(station_app: Any) -> None:
    # The batch part passes the strict JSON reader, as every other body: two "batch_id"s
    # (which one would a log reader see?) are refused naming where, before anything is graded.
    app, client, station = station_app
    items, photos = _items(1)
    text = json.dumps({"batch_id": "b-dup", "items": items})
    text = text.replace('"batch_id": "b-dup"', '"batch_id": "b-dup", "batch_id": "b-other"')
    before = app.state.services.ledger.size()
    resp = client.post(
        "/v1/stations/batches",
        headers=station,
        files=[("photos", ("p0.jpg", photos[0], "image/jpeg"))],
        data={"batch": text},
    )
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["errors"][0]["field"] == "batch.batch_id"
    assert app.state.services.ledger.size() == before


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


BROKER = pytest.mark.skipif(
    not (_reachable(5672) and _reachable(6379))
    and os.environ.get("FRESHPROOF_REQUIRE_BROKER") != "1",
    reason="RabbitMQ (5672) or Redis (6379) not running; .ci/run starts them",
)


@dataclass
class Queued:
    """An app whose large batches are queued, its client, and a station's and an
    adjudicator's keys."""

    app: Any
    client: TestClient
    station: dict[str, str]
    adjudicator: dict[str, str]


@pytest.fixture(params=["inprocess", pytest.param("celery", marks=BROKER)])
def queued(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queued]:
    """Batches above 3 items queued: graded by the API's own pool, or by a Celery worker on
    the real broker (RabbitMQ) and result backend (Redis). The same tests run on both."""
    settings = _settings(tmp_path, tasks=request.param, station_sync_items=3, station_max_items=16)
    app = _app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = Queued(
            app,
            client,
            grant(app, "station", station_id="ST-1", read_point=READ_POINT),
            grant(app, "adjudicator"),
        )
        if request.param == "inprocess":
            yield keys
            return
        from celery.contrib.testing.worker import start_worker

        from api.worker import celery_app, warm

        worker_app = celery_app(settings)
        queue_name = f"fp-test-{os.getpid()}-{time.monotonic_ns()}"
        worker_app.conf.task_default_queue = queue_name
        warm(settings, inspector=PhotoScores())  # the worker's model seam
        # Stopping the worker thread once took over Celery's default 10 s in a full CI run on
        # two loaded cores (teardown only; the test had passed): give it 30.
        with start_worker(
            worker_app,
            pool="threads",  # as `freshproof worker` runs one batch at a time
            perform_ping_check=False,
            queues=[queue_name],
            shutdown_timeout=30.0,
        ):
            yield keys
            # start_worker stops the worker by a flag its event loop reads on its next turn,
            # which waits in poll for a timer (about 10 s): a ping's message wakes it now.
            from celery.worker import state

            state.should_terminate = 0
            worker_app.control.ping(timeout=0.2, limit=1)


JUNK = b"\xff\xd8 not a photo"


def _mixed() -> tuple[list[dict[str, Any]], list[bytes]]:
    """Six items: good ones, an EPC that does not parse, one sent twice, a corrupt photo,
    one the model is unsure of, and a hex EPC of a lot the ledger never saw."""
    photos = [PHOTOS["fresh"], PHOTOS["damaged"], JUNK, PHOTOS["unsure"]]
    items = [
        {"epc": "urn:epc:id:sgtin:4000001.012345.4001", "kind": "package", "photos": [0]},
        {"epc": "urn:epc:id:sgtin:4000001.012345.4002", "kind": "package", "photos": [1]},
        {"epc": "not-an-epc", "kind": "package", "photos": [0]},
        {"epc": "urn:epc:id:sgtin:4000001.012345.4001", "kind": "package", "photos": [1]},
        {"epc": "urn:epc:id:sgtin:4000001.012345.4005", "kind": "package", "photos": [0, 2]},
        {"epc": "urn:epc:id:sgtin:4000001.012345.4006", "kind": "package", "photos": [3]},
        {"epc": "3074257BF7194E4000001A85", "kind": "produce", "photos": [0]},
    ]
    return items, photos


def test_a_large_batch_is_queued_graded_item_by_item_and_replayed(queued: Queued) -> None:
    client, station = queued.client, queued.station
    items, photos = _mixed()
    size = queued.app.state.services.ledger.size()
    resp = _post(client, station, "b-large", items, photos)
    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == resp.json()["url"] == "/v1/stations/jobs/b-large"
    state = _wait(client, station, resp.json()["url"])
    assert state["status"] == "done", state
    got = state["items"]
    assert [i["position"] for i in got] == list(range(len(items)))
    assert [i["error"]["type"] if i["error"] else None for i in got] == [
        None, None, "invalid-epc", "duplicate-epc", "photo-rejected", None, None
    ]  # fmt: skip
    assert [i["grade"]["condition"] for i in got if i["grade"]] == [
        "intact", "damaged", "intact", "fresh"
    ]  # fmt: skip
    assert got[5]["grade"]["manual"] and got[5]["ledger_index"] is None
    # Item 4 sent request photos 0 and 2; the junk one is the item's second, the request's third.
    rejected = got[4]["error"]
    assert (rejected["photo_index"], rejected["request_photo_index"]) == (1, 2)
    assert got[6]["uri"] == "urn:epc:id:sgtin:0614141.812345.6789" and got[6]["notes"]
    ledger = queued.app.state.services.ledger
    indices = [i["ledger_index"] for i in got if i["ledger_index"] is not None]
    assert len(indices) == 3 and ledger.size() >= size + 3
    event = ledger.entry(indices[1]).body["event"]
    assert event["bizStep"] == "inspecting" and event["disposition"] == "damaged"
    assert event["readPoint"]["id"] == READ_POINT
    # The same batch id and content: the same job, not graded twice.
    again = _post(client, station, "b-large", items, photos)
    assert again.status_code == 202 and again.json()["url"] == resp.json()["url"]
    assert _wait(client, station, again.json()["url"])["items"] == got


def test_a_station_can_wait_for_its_batch_in_one_request(station_app: Any) -> None:
    _, client, station = station_app
    items, photos = _items(5)
    resp = _post(client, station, "b-wait", items, photos)
    assert resp.status_code == 202, resp.text
    state = client.get(resp.json()["url"] + "?wait=30", headers=station).json()
    assert state["status"] == "done" and len(state["items"]) == len(items)
    too_long = client.get(resp.json()["url"] + "?wait=31", headers=station)
    assert too_long.status_code == 422
    for nonsense in ("NaN", "inf"):
        refused = client.get(resp.json()["url"] + f"?wait={nonsense}", headers=station)
        assert refused.status_code == 422
        assert "finite" in refused.text and "less than or equal" not in refused.text


def test_an_unsure_item_waits_for_a_person_who_grades_it_once(queued: Queued) -> None:
    client, station, person = queued.client, queued.station, queued.adjudicator
    items, photos = _mixed()
    resp = _post(client, station, "dock3/b-unsure", items, photos)
    assert resp.status_code == 202, resp.text
    assert _wait(client, station, resp.json()["url"])["status"] == "done"
    waiting = client.get("/v1/review/stations", headers=person).json()["items"]
    assert [(i["batch_id"], i["position"]) for i in waiting] == [("dock3/b-unsure", 5)]
    item = waiting[0]
    assert item["model_grade"]["manual"] and item["conditions"] == ["intact", "damaged", "swollen"]
    # A batch id may hold a slash: its items are still addressable.
    url = "/v1/review/stations/dock3/b-unsure/5"
    shot = client.get(f"{url}/photos/0", headers=person)
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"
    assert (
        client.post(f"{url}/grade", headers=station, json={"condition": "intact"}).status_code
        == 403
    )
    wrong = client.post(f"{url}/grade", headers=person, json={"condition": "moldy"})
    assert wrong.status_code == 422 and wrong.headers["content-type"].startswith(PROBLEM)
    graded = client.post(f"{url}/grade", headers=person, json={"condition": "swollen"})
    assert graded.status_code == 200, graded.text
    body = graded.json()
    assert body["status"] == "graded" and body["condition"] == "swollen"
    event = queued.app.state.services.ledger.entry(body["ledger_index"]).body
    assert event["event"]["disposition"] == "destroyed"
    assert event["event"]["fp:grade"]["graded_by"] == body["graded_by"]
    assert event["captured_by"].endswith("(adjudicator)")
    # The station's job now names the person's grade and its event.
    job = client.get(resp.json()["url"], headers=station).json()["items"][5]
    assert job["ledger_index"] == body["ledger_index"]
    assert job["person_grade"]["condition"] == "swollen"
    assert job["person_grade"]["graded_at"].endswith("+00:00")
    twice = client.post(f"{url}/grade", headers=person, json={"condition": "intact"})
    assert twice.status_code == 409
    assert client.get("/v1/review/stations", headers=person).json()["items"] == []
    assert client.get("/v1/review/stations/dock3/b-unsure/4", headers=person).status_code == 404


@BROKER
def test_two_workers_on_one_host_both_serve(tmp_path: Path) -> None:
    # Under Celery's default node name the second worker on a host dies (RESOURCE_LOCKED on
    # its control queue); `freshproof worker` names each process.
    env = {**os.environ, "FRESHPROOF_DATA_DIR": str(tmp_path / "var")}
    exe = Path(sys.executable).with_name("freshproof")
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    outs = [log.open("w") for log in logs]
    procs = [
        subprocess.Popen([exe, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        for out in outs
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all("ready." in p.read_text() for p in logs):
            assert all(p.poll() is None for p in procs), [p.read_text()[-2000:] for p in logs]
            time.sleep(0.5)
        assert all("ready." in p.read_text() for p in logs), [p.read_text()[-2000:] for p in logs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        for out in outs:
            out.close()


def test_two_stations_unsure_items_under_one_batch_id_stay_apart(station_app: Any) -> None:
    # A batch id is its station's own; items left to people under the same id and position
    # by two stations are two items: a person names whose, and grades only that one.
    app, client, station = station_app
    other = grant(app, "station", station_id="ST-2", read_point=READ_POINT)
    person = grant(app, "adjudicator")
    unsure = [{"epc": "urn:epc:id:sgtin:4000001.012345.7001", "kind": "package", "photos": [0]}]
    for key in (station, other):
        assert _post(client, key, "b-same", unsure, [PHOTOS["unsure"]]).status_code == 200
    waiting = client.get("/v1/review/stations", headers=person).json()["items"]
    assert sorted(i["station_id"] for i in waiting) == ["ST-1", "ST-2"]
    url = "/v1/review/stations/b-same/0"
    ambiguous = client.get(url, headers=person)
    assert ambiguous.status_code == 409 and ambiguous.json()["stations"] == ["ST-1", "ST-2"]
    refused = client.post(f"{url}/grade", headers=person, json={"condition": "intact"})
    assert refused.status_code == 409
    graded = client.post(
        f"{url}/grade", headers=person, params={"station_id": "ST-2"}, json={"condition": "intact"}
    )
    assert graded.status_code == 200 and graded.json()["station_id"] == "ST-2"
    left = client.get(url, headers=person, params={"station_id": "ST-1"}).json()
    assert left["status"] == "open"
    still = client.get("/v1/review/stations", headers=person).json()["items"]
    assert [(i["station_id"], i["batch_id"]) for i in still] == [("ST-1", "b-same")]
