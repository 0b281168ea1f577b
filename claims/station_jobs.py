"""Station batches as jobs: what a worker needs to grade a batch, and the job's state.

A job carries no photo bytes: the API stores each photo in the evidence store (content
addressed) before queueing, and the job names them by SHA-256, so a worker on another
machine reads the same bytes (local evidence needs a shared data dir; S3 is shared by
nature). The job's row says pending, done or failed; the result is the batch row that
``claims.stations`` writes with the events, so a job is done exactly when its events are
on the ledger. The same code runs in a Celery worker (``api.worker``) or in the API
process (``FRESHPROOF_TASKS=inprocess``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, String, Table, Text, func, select, update

from claims.grading import GradingPolicy
from claims.service import Inspector
from claims.stations import (
    BatchResult,
    ItemInput,
    Station,
    grade_batch,
    station_batches,
    station_reviews,
)
from ledger.log import Ledger
from storage.evidence import EvidenceStore
from storage.schema import metadata

__all__ = [
    "BatchJob",
    "JobItem",
    "job_state",
    "pending_jobs",
    "record_job",
    "run_batch_job",
    "station_jobs",
]

station_jobs = Table(
    "station_jobs",
    metadata,
    Column("batch_id", String(200), primary_key=True),
    Column("station_id", String(200), nullable=False),
    Column("status", String(12), nullable=False),  # pending, done, failed
    Column("job", Text, nullable=False),
    Column("error", Text),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class JobItem:
    """One item of a queued batch: its EPC, kind and photos by name and SHA-256."""

    epc: str
    kind: str
    photos: tuple[tuple[str, str], ...]
    error: dict[str, Any] | None = None  # refused before queueing (a photo not storable)
    request_photos: tuple[int, ...] = ()  # each photo's index among the request's parts


@dataclass(frozen=True)
class BatchJob:
    """Everything a worker needs, as JSON."""

    batch_id: str
    station: Station
    items: tuple[JobItem, ...]

    def to_json(self) -> str:
        """The task's argument."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BatchJob:
        """Back from the task's argument."""
        raw = json.loads(text)
        items = tuple(
            JobItem(
                i["epc"],
                i["kind"],
                tuple((n, h) for n, h in i["photos"]),
                i["error"],
                tuple(i.get("request_photos", ())),  # jobs queued before it lack it
            )
            for i in raw["items"]
        )
        return cls(raw["batch_id"], Station(**raw["station"]), items)


def record_job(engine: Engine, job: BatchJob, now: datetime) -> bool:
    """Remember a queued job; False when the batch id was queued before (a replay)."""
    with engine.begin() as conn:
        found = conn.execute(
            select(station_jobs.c.batch_id).where(station_jobs.c.batch_id == job.batch_id)
        ).first()
        if found is not None:
            return False
        conn.execute(
            station_jobs.insert().values(
                batch_id=job.batch_id,
                station_id=job.station.station_id,
                status="pending",
                job=job.to_json(),
                submitted_at=now,
            )
        )
    return True


def pending_jobs(engine: Engine) -> int:
    """Jobs queued and not finished: the queue depth."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(station_jobs)
                .where(station_jobs.c.status == "pending")
            ).scalar_one()
        )


def _finish(engine: Engine, batch_id: str, status: str, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(station_jobs)
            .where(station_jobs.c.batch_id == batch_id)
            .values(status=status, error=error, finished_at=datetime.now(UTC))
        )


def run_batch_job(
    *,
    ledger: Ledger,
    store: EvidenceStore,
    inspector: Inspector,
    job: BatchJob,
    policy: GradingPolicy,
    now: datetime,
    pool: Executor | None = None,
) -> BatchResult:
    """Grade a queued batch (items refused before queueing keep their error); ``pool`` as
    for ``grade_batch``."""
    try:
        result = grade_batch(
            ledger=ledger,
            store=store,
            inspector=inspector,
            station=job.station,
            batch_id=job.batch_id,
            items=_inputs(store, job.items),
            policy=policy,
            now=now,
            refused={n: i.error for n, i in enumerate(job.items) if i.error},
            pool=pool,
        )
    except Exception as exc:
        _finish(ledger.engine, job.batch_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish(ledger.engine, job.batch_id, "done", None)
    return result


def _inputs(store: EvidenceStore, items: Sequence[JobItem]) -> list[ItemInput]:
    return [
        ItemInput(
            i.epc,
            i.kind,  # type: ignore[arg-type]
            tuple((name, store.get_original(h)) for name, h in i.photos) if not i.error else (),
            i.request_photos,
        )
        for i in items
    ]


def job_state(engine: Engine, batch_id: str) -> dict[str, Any] | None:
    """A job's status, and the batch's items once done; None for an unknown batch id."""
    with engine.connect() as conn:
        row = conn.execute(select(station_jobs).where(station_jobs.c.batch_id == batch_id)).first()
        done = conn.execute(
            select(station_batches.c.result, station_batches.c.station_id).where(
                station_batches.c.batch_id == batch_id
            )
        ).first()
        graded = conn.execute(
            select(station_reviews).where(
                station_reviews.c.batch_id == batch_id, station_reviews.c.status == "graded"
            )
        ).all()
    source = row if row is not None else done
    if source is None:
        return None
    items = json.loads(done.result) if done is not None else None
    return {
        "batch_id": batch_id,
        "station_id": source.station_id,
        "status": "done" if done is not None else row.status if row else "pending",
        "error": row.error if row else None,
        "items": _with_persons_grades(items, graded) if items is not None else None,
    }


def _with_persons_grades(items: list[dict[str, Any]], graded: Sequence[Any]) -> list[Any]:
    """The batch's items as graded, with what a person decided for the items the model left
    to one: their inspection event's ``ledger_index`` and ``person_grade``."""
    by_position = {r.position: r for r in graded}
    out = []
    for item in items:
        r = by_position.get(item.get("position"))
        if r is not None:
            person = {
                "condition": r.condition,
                "graded_by": r.graded_by,
                "graded_at": r.graded_at.isoformat() if r.graded_at else None,
            }
            item = item | {"ledger_index": r.ledger_index, "person_grade": person}
        out.append(item)
    return out
