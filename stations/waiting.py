"""Waiting on a queued batch inside one request (long polling), instead of a station asking
again every few milliseconds.

A station that polls its job every 20 ms costs the API about as much CPU as receiving the
photos did (bench/stations.py on 2 cores: 7.8 ms per item of 1080p with 20 ms polls, 2.7 ms
with none); one request that waits costs two small queries every ``interval``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
from sqlalchemy import Engine, select

from stations.batches import station_batches
from stations.jobs import station_jobs

__all__ = ["MAX_WAIT_SECONDS", "job_settled", "wait_for_job"]

MAX_WAIT_SECONDS = 30.0  # a station's request held open: keep it bounded


def job_settled(engine: Engine, station_id: str, batch_id: str) -> bool:
    """Whether the station's batch is no longer pending: done, failed or unknown."""
    with engine.connect() as conn:
        if conn.execute(
            select(station_batches.c.batch_id).where(
                station_batches.c.station_id == station_id,
                station_batches.c.batch_id == batch_id,
            )
        ).first():
            return True
        status = conn.execute(
            select(station_jobs.c.status).where(
                station_jobs.c.station_id == station_id, station_jobs.c.batch_id == batch_id
            )
        ).scalar()
    return status != "pending"


async def wait_for_job(
    engine: Engine,
    station_id: str,
    batch_id: str,
    *,
    seconds: float,
    interval: float = 0.025,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Return once the station's batch is no longer pending (done, failed or unknown), or
    when ``seconds`` have passed; the caller reads the job's state afterwards.

    Asynchronous: a waiting request holds no server thread between its checks (each check
    borrows one for its two small queries), so stations waiting at once cannot starve the
    thread pool every other route runs on."""
    deadline = clock() + min(seconds, MAX_WAIT_SECONDS)
    while True:
        if await anyio.to_thread.run_sync(job_settled, engine, station_id, batch_id):
            return
        left = deadline - clock()
        if left <= 0:
            return
        await sleep(min(interval, left))
