"""Queued station batches outlive the process: a server SIGKILLed mid-batch, started again on
the same data dir, grades every item of every batch it answered 202 for, once; and the queue
limit counts live work only, never what a dead process left.

The server is a real child process (uvicorn) running this module's ``serve``: the app with
a model double that takes its time and notes each photo it judges, so the test knows the
batch is half graded when it kills it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.services import build_services
from api.settings import Settings
from stations.batches import ItemResult, Station
from stations.job_state import job_state
from stations.jobs import (
    BatchJob,
    JobItem,
    ProgressLog,
    job_progress,
    live_jobs,
    record_job,
    start_job,
)
from tests.api.access import grant
from tests.stations.test_batches import PHOTOS, PhotoScores

REPO = Path(__file__).resolve().parents[2]
READ_POINT = "urn:epc:id:sgln:4000002.00003.0"


def _settings(data: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=data,
        anchor_backend="none",
        station_sync_items=2,
        station_threads=1,
        station_job_lease_seconds=2,
        **extra,
    )


class _Slow(PhotoScores):
    """The photo double, ``delay`` seconds a photo, each judged photo noted in ``log``."""

    def __init__(self, delay: float, log: Path) -> None:
        super().__init__()
        self.delay, self.log = delay, log

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Any:
        with self.log.open("a") as f:
            f.write(image + "\n")
        time.sleep(self.delay)
        return super().inspect(data, image=image, family=family)


def serve(data: Path, port: int, delay: float) -> None:
    """The child: the app on ``port`` (see the module)."""
    import uvicorn

    app = create_app(_settings(data))
    model = _Slow(delay, data / "judged.log")
    app.dependency_overrides[get_predictor] = lambda: model
    app.state.predictor = model
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Child:
    def __init__(self, data: Path, delay: float) -> None:
        self.port = _free_port()
        self.log = (data / f"server-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(data), str(self.port), str(delay)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, Path(self.log.name).read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.log.close()


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


def _batch(serial: int, n: int) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    items = [
        {"epc": f"urn:epc:id:sgtin:4000001.012345.{serial + i}", "kind": "package", "photos": [i]}
        for i in range(n)
    ]
    photos = [PHOTOS["damaged" if i % 2 else "fresh"] for i in range(n)]
    files = [("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
    return {"batch": json.dumps({"batch_id": f"b-{serial}", "items": items})}, files


def test_batches_queued_when_the_server_is_killed_are_graded_once_after_a_restart(
    data: Path,
) -> None:
    station = _station_key(data)
    sizes = {1000: 6, 2000: 4}  # one grading when killed, one waiting behind it

    first = _Child(data, delay=0.4)
    urls = {}
    for serial, n in sizes.items():
        form, files = _batch(serial, n)
        resp = httpx.post(
            f"{first.base}/v1/stations/batches", headers=station, data=form, files=files
        )
        assert resp.status_code == 202, resp.text
        urls[serial] = resp.json()["url"]
    judged = data / "judged.log"
    before = _killed_after_two_photos(judged, first.stop)
    assert before < sum(sizes.values()), "killed mid-batch"

    second = _Child(data, delay=0)
    try:
        states = {s: _wait(second.base, station, url) for s, url in urls.items()}
    finally:
        second.stop(signal.SIGTERM)
    # The killed run's graded items were kept: the restart graded only the rest (the one
    # photo being judged at the kill is judged again).
    assert len(_lines(judged)) <= sum(sizes.values()) + 1
    for serial, state in states.items():
        assert state["status"] == "done", state
        assert len(state["items"]) == sizes[serial]
        assert all(i["error"] is None and i["ledger_index"] is not None for i in state["items"])

    # Each item is on the ledger once: the killed run's work was rolled back, not kept twice.
    graded = _inspected_epcs(data)
    expected = [
        f"urn:epc:id:sgtin:4000001.012345.{s + i}" for s, n in sizes.items() for i in range(n)
    ]
    assert sorted(graded) == sorted(expected)


def _station_key(data: Path) -> dict[str, str]:
    """Headers of a station key (DOCK-3) made in the data dir's database."""
    services = build_services(_settings(data))
    try:
        token, _ = services.keys.create(
            role="station",
            name="dock 3",
            created_by="tests",
            station_id="DOCK-3",
            read_point=READ_POINT,
        )
    finally:
        services.close()
    return {"Authorization": f"Bearer {token}"}


def _killed_after_two_photos(judged: Path, stop: Callable[[int], None]) -> int:
    """SIGKILL (through ``stop``) the process grading once the double has judged two photos;
    how many it had judged by then (at least two)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_lines(judged)) < 2:
        time.sleep(0.05)
    stop(signal.SIGKILL)
    before = len(_lines(judged))
    assert before >= 2, "killed before it graded anything"
    return before


def _inspected_epcs(data: Path) -> list[str]:
    """The EPC of every inspection event on the data dir's ledger, in ledger order."""
    services = build_services(_settings(data))
    try:
        ledger = services.ledger
        return [
            e.body["event"]["epcList"][0]
            for e in (ledger.entry(i) for i in range(ledger.size()))
            if e.body.get("event", {}).get("bizStep") == "inspecting"
        ]
    finally:
        services.close()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait(base: str, headers: dict[str, str], url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state: dict[str, Any] = httpx.get(f"{base}{url}", headers=headers, timeout=10).json()
        if state["status"] != "pending":
            return state
        time.sleep(0.2)
    raise AssertionError(f"{url} still pending a minute after the restart")


def test_the_queue_limit_counts_live_jobs_not_a_dead_processs(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        anchor_backend="none",
        station_sync_items=2,
        station_max_queued=2,
        station_job_lease_seconds=600,  # this app renews (and takes over) rarely here
    )
    app = create_app(settings)
    app.dependency_overrides[get_predictor] = PhotoScores
    app.state.predictor = PhotoScores()
    with TestClient(app, raise_server_exceptions=False) as client:
        station = grant(app, "station", station_id="DOCK-3", read_point=READ_POINT)
        engine = app.state.services.engine
        other = Station("DOCK-9", READ_POINT, "key:fpk_00000000 (station)")
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        for n in range(2):  # held by a process that died an hour ago: its lease ran out
            job = BatchJob(f"dead-{n}", other, (JobItem("x", "package", ()),))
            record_job(engine, job, long_ago, owner="inprocess:dead", lease=timedelta(minutes=1))
        assert live_jobs(engine, datetime.now(UTC)) == 0
        form, files = _batch(3000, 3)
        resp = client.post("/v1/stations/batches", headers=station, data=form, files=files)
        assert resp.status_code == 202, resp.text  # was 429: dead jobs filled the queue

        for n in range(2):  # held by a live process: these count
            job = BatchJob(f"live-{n}", other, (JobItem("x", "package", ()),))
            record_job(engine, job, datetime.now(UTC), owner="inprocess:alive")
        form, files = _batch(4000, 3)
        full = client.post("/v1/stations/batches", headers=station, data=form, files=files)
        assert full.status_code == 429 and int(full.headers["retry-after"]) > 0


def test_a_batch_fails_only_when_runs_keep_dying_without_progress(tmp_path: Path) -> None:
    services = build_services(_settings(tmp_path / "var"))
    try:
        engine = services.engine
        station = Station("DOCK-3", READ_POINT, "key:fpk_00000000 (station)")
        job = BatchJob("b-poison", station, (JobItem("x", "package", ()),) * 2)
        now = datetime.now(UTC)
        record_job(engine, job, now, owner="a")

        clock = [now]

        def run(owner: str) -> BatchJob | None:
            clock[0] += timedelta(minutes=1)  # the previous run's lease ran out: it died
            return start_job(
                engine,
                job.key,
                owner=owner,
                now=clock[0],
                lease=timedelta(seconds=30),
                max_attempts=2,
            )

        # Interrupted after grading an item, twice in a row: never given up.
        for n in range(5):
            assert run(f"r{n}") is not None
            ProgressLog(engine, job.key)(ItemResult(n % 2, "x", error={"type": "t"}))
        assert sorted(job_progress(engine, job.key)) == [0, 1]
        # Dying before grading anything, runs after runs: failed after the third.
        assert run("s1") is not None and run("s2") is not None
        assert run("s3") is None
        state = job_state(engine, "DOCK-3", "b-poison")
        assert state is not None and state["status"] == "failed"
        assert "in a row" in state["error"]
    finally:
        services.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
