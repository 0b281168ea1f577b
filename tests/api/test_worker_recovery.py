"""A Celery worker SIGKILLed mid-batch: the broker hands the batch to another worker, which
grades what the dead one had not, and every item lands on the ledger once.

Real processes on RabbitMQ and Redis: the API (this module's ``serve``, tasks on Celery) and
`freshproof worker`'s own command line (``worker_argv``: one pool thread, acks late) run by
this module's ``work``, each on a queue of its own, with the photo double of
``test_station_recovery`` that takes its time and notes each photo it judges.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_station_recovery import (
    _batch,
    _free_port,
    _inspected_epcs,
    _killed_after_two_photos,
    _lines,
    _settings,
    _Slow,
    _station_key,
    _wait,
)
from tests.api.test_stations import BROKER

REPO = Path(__file__).resolve().parents[2]


def serve(data: Path, port: int, queue: str) -> None:
    """The API child: batches over two items are queued on ``queue`` for the workers."""
    import uvicorn

    from api.app import create_app
    from api.deps import get_predictor
    from api.worker import celery_app
    from tests.stations.test_batches import PhotoScores

    settings = _settings(data, tasks="celery")
    celery_app(settings).conf.task_default_queue = queue
    app = create_app(settings)
    app.dependency_overrides[get_predictor] = PhotoScores  # the API itself grades nothing here
    app.state.predictor = PhotoScores()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def work(data: Path, queue: str, delay: float) -> None:
    """A worker child, started as `freshproof worker` starts one, with the photo double."""
    from api.cli import worker_argv
    from api.worker import celery_app, warm

    settings = _settings(data, tasks="celery")
    app = celery_app(settings)
    app.conf.task_default_queue = queue
    warm(settings, inspector=_Slow(delay, data / "judged.log"))
    argv = worker_argv(concurrency=1, loglevel="INFO", name=f"recovery-{os.getpid()}@%h")
    app.worker_main([*argv, f"--queues={queue}"])


class _Proc:
    def __init__(self, data: Path, name: str, *args: str) -> None:
        self.log_path = data.parent / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_for(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"{what} did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        self.log.close()


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@BROKER
def test_a_worker_killed_mid_batch_leaves_it_to_another_which_grades_each_item_once(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    station = _station_key(data)
    queue = f"fp-recovery-{os.getpid()}-{time.monotonic_ns()}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    api = _Proc(data, "api", "serve", str(data), str(port), queue)
    workers: list[_Proc] = []
    try:
        api.wait_for(lambda: _up(base), "the API")
        first = _Proc(data, "worker-1", "work", str(data), queue, "0.4")
        workers.append(first)
        first.wait_for(lambda: "ready." in first.log_path.read_text(), "the first worker")
        n = 6
        form, files = _batch(5000, n)
        resp = httpx.post(f"{base}/v1/stations/batches", headers=station, data=form, files=files)
        assert resp.status_code == 202, resp.text
        judged = data / "judged.log"
        assert _killed_after_two_photos(judged, first.stop) < n, "killed mid-batch"

        second = _Proc(data, "worker-2", "work", str(data), queue, "0")
        workers.append(second)
        state = _wait(base, station, resp.json()["url"])
    finally:
        for w in workers:
            w.stop(signal.SIGTERM)
        api.stop(signal.SIGTERM)

    assert state["status"] == "done", state
    assert len(state["items"]) == n
    assert all(i["error"] is None and i["ledger_index"] is not None for i in state["items"])
    # The dead worker's graded items were kept: the second graded only the rest (the photo
    # being judged at the kill is judged again).
    assert len(_lines(judged)) <= n + 1
    assert "grade_batch" in second.log_path.read_text()  # the batch went to the second worker
    graded = _inspected_epcs(data)
    assert sorted(graded) == sorted(f"urn:epc:id:sgtin:4000001.012345.{5000 + i}" for i in range(n))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        work(Path(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
