"""Long polling a queued batch: the wait ends when the batch does, or when its time is up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.to_thread
from sqlalchemy import create_engine, update

from stations.batches import ItemInput, Station
from stations.jobs import record_job, station_jobs, store_job
from stations.waiting import MAX_WAIT_SECONDS, wait_for_job
from storage.evidence import LocalEvidenceStore
from storage.schema import metadata
from tests.conftest import jpeg_bytes, textured

STATION = Station("ST-1", "urn:epc:id:sgln:4000001.00001.0", "key:station")


class Clock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _wait(engine: object, batch: str, seconds: float, clock: Clock) -> None:
    anyio.run(
        lambda: wait_for_job(engine, "ST-1", batch, seconds=seconds, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    )


def _engine(tmp_path: Path) -> object:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    items = [ItemInput("epc-0", "package", (("a.jpg", jpeg_bytes(textured(40, 50))),))]
    job = store_job(LocalEvidenceStore(tmp_path / "ev"), "b-1", STATION, items)
    record_job(engine, job, datetime.now(UTC))
    return engine


def test_a_pending_batch_is_waited_on_until_the_time_is_up(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    clock = Clock()
    _wait(engine, "b-1", 1.0, clock)
    assert clock.now == 1.0 and len(clock.sleeps) == 40  # every 25 ms
    clock = Clock()
    _wait(engine, "b-1", 1e6, clock)
    assert clock.now == MAX_WAIT_SECONDS


def test_a_finished_or_unknown_batch_is_not_waited_on(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(station_jobs).values(status="failed"))
    for batch in ("b-1", "no-such-batch"):
        clock = Clock()
        _wait(engine, batch, 10, clock)
        assert clock.sleeps == []


def test_a_waiting_request_holds_no_thread_between_its_checks(tmp_path: Path) -> None:
    """With one worker thread in all, work sent to threads while a batch is waited on runs
    during the wait, not after it."""
    engine = _engine(tmp_path)
    done: list[str] = []

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1

        async def waiter() -> None:
            await wait_for_job(engine, "ST-1", "b-1", seconds=0.5)  # type: ignore[arg-type]
            done.append("wait")

        async def other(n: int) -> None:
            await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(lambda: None)
            done.append(f"other-{n}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            for n in range(3):
                tg.start_soon(other, n)

    anyio.run(main)
    assert done[-1] == "wait" and sorted(done[:-1]) == ["other-0", "other-1", "other-2"]
