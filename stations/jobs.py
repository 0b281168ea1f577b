"""Station batches as jobs: what a worker needs to grade a batch, and the job's state.

A job carries no photo bytes: the API stores each photo in the evidence store (content
addressed) before queueing, and the job names them by SHA-256, so a worker on another
machine reads the same bytes (local evidence needs a shared data dir; S3 is shared by
nature). The job's row says pending, done or failed; the result is the batch row that
``stations.batches`` writes with the events, so a job is done exactly when its events are
on the ledger. The same code runs in a Celery worker (``api.worker``) or in the API
process (``FRESHPROOF_TASKS=inprocess``).

A job is the station's: keyed by (station, batch id), as its batch is. Jobs outlive the
process that queued them. Whoever holds a pending job (the API process that queued it, or
the worker running it) is its ``owner`` and renews its lease (``lease_until``) while it
lives; a job whose lease ran out belongs to a process that died, and any runner may take
it over (``adopt``) and run it again. Running a job again never grades twice: its events
and its batch row commit together, and a batch already recorded answers its stored result.
Each item a run grades is kept on the job's row as it is graded (``progress``), so a run
that dies part way leaves its work behind and the next one grades only the rest; the events
still go on the ledger together at the end. ``attempts`` counts the runs in a row that died
without grading an item: a job whose runs keep dying at the same item (a batch that kills
its worker) fails after ``max_attempts`` instead of taking every runner down in turn, while
one that crashes keep interrupting still finishes. The queue
limit counts live jobs only (``live_jobs``): held under a fresh lease, or waiting in the
broker, never the leftovers of a dead process.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ledger.log import Ledger
from stations.batches import (
    BatchResult,
    ItemInput,
    ItemResult,
    Station,
    batch_digest,
    grade_batch,
    photo_rejected,
    station_batches,
)
from stations.errors import BatchConflictError
from stations.grading import GradingPolicy
from storage.evidence import EvidenceStore
from storage.schema import metadata
from vision.ocr import LabelReaderLike
from vision.predictor import Inspector

__all__ = [
    "BatchJob",
    "JobItem",
    "ProgressLog",
    "abandoned_jobs",
    "adopt_jobs",
    "hold_job",
    "job_progress",
    "job_where",
    "live_jobs",
    "queued_conflict",
    "record_job",
    "renew_leases",
    "run_batch_job",
    "start_job",
    "station_jobs",
    "store_job",
]

station_jobs = Table(
    "station_jobs",
    metadata,
    Column("batch_id", String(200), nullable=False),
    Column("station_id", String(200), nullable=False),
    Column("status", String(12), nullable=False),  # pending, done, failed
    Column("job", Text, nullable=False),
    Column("error", Text),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # Who holds it while pending (a runner's id; None: sent to the broker, or queued before
    # leases), until when (renewed while it lives), and how many runs have started.
    Column("owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # JSON: position -> the item as graded by a run so far (migration 0007).
    Column("progress", Text),
    # A batch id is its station's own (migration 0005).
    PrimaryKeyConstraint("station_id", "batch_id"),
)


@dataclass(frozen=True)
class JobItem:
    """One item of a queued batch: its EPC, kind and photos by name and SHA-256."""

    epc: str
    kind: str
    photos: tuple[tuple[str, str], ...]
    error: dict[str, Any] | None = None  # refused before queueing (a photo not storable)
    request_photos: tuple[int, ...] = ()  # each photo's index among the request's parts
    family: str | None = None  # produce, parcel, can or pouch, when the station named it


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
                i.get("family"),  # likewise
            )
            for i in raw["items"]
        )
        return cls(raw["batch_id"], Station(**raw["station"]), items)

    @property
    def key(self) -> tuple[str, str]:
        """The job's key: its station and the station's batch id."""
        return (self.station.station_id, self.batch_id)

    def digest(self) -> str:
        """The batch's content as ``stations.batches`` hashes it when it grades the job."""
        return batch_digest(
            (i.epc, i.kind if i.family is None else f"{i.kind}/{i.family}",
             () if i.error else i.photos)
            for i in self.items
        )  # fmt: skip


def store_job(
    store: EvidenceStore,
    batch_id: str,
    station: Station,
    items: Sequence[ItemInput],
    *,
    pool: Executor | None = None,
) -> BatchJob:
    """Keep each item's photos in the evidence store and describe the job by their hashes.

    A photo the store refuses (not an image it can keep: it re-encodes the copy) fails its
    item, as grading at once would; the other items go on. ``pool``: where the photos are
    stored side by side; each write waits on its own fsync (or S3 request), so the batch is
    queued, and its grading starts, sooner.
    """

    def put(data: bytes) -> str | None:
        try:
            return store.put(data).sha256
        except Exception:  # not an image the store can keep
            return None

    photos = [data for item in items for _, data in item.photos]
    hashes = iter(list(pool.map(put, photos) if pool is not None else map(put, photos)))
    described = []
    for item in items:
        named: list[tuple[str, str]] = []
        error = None
        stored = [next(hashes) for _ in item.photos]
        for n, ((name, _), sha256) in enumerate(zip(item.photos, stored, strict=True)):
            if sha256 is None:
                error = photo_rejected("not a readable image", n, item.request_photos)
                break
            named.append((name, sha256))
        described.append(
            JobItem(
                item.epc, item.kind, tuple(named), error, tuple(item.request_photos), item.family
            )
        )
    return BatchJob(batch_id, station, tuple(described))


def job_where(station_id: str, batch_id: str) -> Any:
    return and_(station_jobs.c.station_id == station_id, station_jobs.c.batch_id == batch_id)


def record_job(
    engine: Engine,
    job: BatchJob,
    now: datetime,
    *,
    owner: str | None = None,
    lease: timedelta = timedelta(seconds=30),
) -> bool:
    """Remember a queued job; False when the station queued (or graded) this batch before
    with the same content (a replay). Another content under the same batch id, queued or
    graded, is a ``BatchConflictError``: the first batch stands, the second is
    refused rather than silently dropped.

    ``owner``: the runner that will hold it (None: the broker holds it until a worker
    starts it); ``lease``: how long it lives unless renewed.
    """
    try:
        with engine.begin() as conn:
            if _seen(conn, job):
                return False
            conn.execute(
                station_jobs.insert().values(
                    batch_id=job.batch_id,
                    station_id=job.station.station_id,
                    status="pending",
                    job=job.to_json(),
                    submitted_at=now,
                    owner=owner,
                    lease_until=now + lease,
                    attempts=0,
                )
            )
    except IntegrityError:
        # The same batch id queued at the same instant: the first stands; this is its replay
        # or its conflict.
        with engine.connect() as conn:
            if _seen(conn, job):
                return False
        raise
    return True


def _seen(conn: Any, job: BatchJob) -> bool:
    """Whether the station used this batch id before with this content; raises when it used
    it with other content."""
    row = conn.execute(select(station_jobs.c.job).where(job_where(*job.key))).first()
    if row is not None:
        if BatchJob.from_json(row.job).items != job.items:
            raise BatchConflictError(job.batch_id)
        return True
    graded = conn.execute(
        select(station_batches.c.request_hash).where(
            station_batches.c.station_id == job.station.station_id,
            station_batches.c.batch_id == job.batch_id,
        )
    ).first()
    if graded is not None:
        if graded.request_hash != job.digest():
            raise BatchConflictError(job.batch_id)
        return True
    return False


def queued_conflict(engine: Engine, station_id: str, batch_id: str, digest: str) -> None:
    """Raise ``BatchConflictError`` when the station queued a batch under this id with
    content other than ``digest`` (a batch graded at once meeting a queued one)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(station_jobs.c.job).where(job_where(station_id, batch_id))
        ).first()
    if row is not None and BatchJob.from_json(row.job).digest() != digest:
        raise BatchConflictError(batch_id)


def live_jobs(engine: Engine, now: datetime) -> int:
    """Jobs queued and not finished that something still holds: the queue depth the limit
    counts. A job under a fresh lease is held by a live runner; one with no owner waits in
    the broker; a pending job whose owner's lease ran out died with its process."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(station_jobs)
                .where(
                    station_jobs.c.status == "pending",
                    or_(station_jobs.c.owner.is_(None), station_jobs.c.lease_until > now),
                )
            ).scalar_one()
        )


def hold_job(
    engine: Engine, key: tuple[str, str], *, owner: str, now: datetime, lease: timedelta
) -> None:
    """Make ``owner`` the holder of a pending job it queued (its lease starts now)."""
    with engine.begin() as conn:
        conn.execute(
            update(station_jobs)
            .where(job_where(*key), station_jobs.c.status == "pending")
            .values(owner=owner, lease_until=now + lease)
        )


def renew_leases(engine: Engine, *, owner: str, now: datetime, lease: timedelta) -> int:
    """Renew the lease of every pending job ``owner`` holds; how many it holds."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                update(station_jobs)
                .where(station_jobs.c.owner == owner, station_jobs.c.status == "pending")
                .values(lease_until=now + lease)
            ).rowcount
        )


def _abandoned(now: datetime) -> Any:
    # Pending, and nobody's lease fresh: its holder died (or it was queued before leases).
    return and_(
        station_jobs.c.status == "pending",
        or_(station_jobs.c.lease_until.is_(None), station_jobs.c.lease_until <= now),
    )


def abandoned_jobs(engine: Engine, now: datetime) -> list[BatchJob]:
    """Pending jobs no live runner holds, oldest first: left to the broker, or their
    holder's lease ran out (to send to the broker again)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(station_jobs.c.job)
            .where(or_(_abandoned(now), station_jobs.c.owner.is_(None)))
            .where(station_jobs.c.status == "pending")
            .order_by(station_jobs.c.submitted_at)
        ).scalars()
        return [BatchJob.from_json(j) for j in rows]


def adopt_jobs(
    engine: Engine, *, owner: str, now: datetime, lease: timedelta, limit: int = 100
) -> list[BatchJob]:
    """Take over pending jobs whose holder died, oldest first; each is taken by one runner
    only (a compare-and-set on its lease), and returned for ``owner`` to run."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(station_jobs.c.station_id, station_jobs.c.batch_id, station_jobs.c.lease_until)
            .where(_abandoned(now))
            .order_by(station_jobs.c.submitted_at)
            .limit(limit)
        ).all()
    taken = []
    for row in rows:
        seen = (
            station_jobs.c.lease_until.is_(None)
            if row.lease_until is None
            else station_jobs.c.lease_until == row.lease_until
        )
        with engine.begin() as conn:
            changed = conn.execute(
                update(station_jobs)
                .where(job_where(row.station_id, row.batch_id), _abandoned(now), seen)
                .values(owner=owner, lease_until=now + lease)
            ).rowcount
            if changed == 1:
                job = conn.execute(
                    select(station_jobs.c.job).where(job_where(row.station_id, row.batch_id))
                ).scalar_one()
                taken.append(BatchJob.from_json(job))
    return taken


def start_job(
    engine: Engine,
    key: tuple[str, str],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
) -> BatchJob | None:
    """Claim a pending job to run it now: the job, or None when it is finished or another
    live runner holds it. A job whose runs died ``max_attempts`` times is failed instead."""
    with engine.begin() as conn:
        free = or_(
            station_jobs.c.owner.is_(None),
            station_jobs.c.owner == owner,
            station_jobs.c.lease_until.is_(None),
            station_jobs.c.lease_until <= now,
        )
        changed = conn.execute(
            update(station_jobs)
            .where(job_where(*key), station_jobs.c.status == "pending", free)
            .values(owner=owner, lease_until=now + lease, attempts=station_jobs.c.attempts + 1)
        ).rowcount
        if changed != 1:
            return None
        row = conn.execute(
            select(station_jobs.c.job, station_jobs.c.attempts).where(job_where(*key))
        ).one()
        if row.attempts > max_attempts:
            conn.execute(
                update(station_jobs)
                .where(job_where(*key))
                .values(
                    status="failed",
                    error=f"its worker stopped {max_attempts} times in a row before it graded "
                    "another item: given up",
                    finished_at=now,
                )
            )
            return None
    return BatchJob.from_json(row.job)


def job_progress(engine: Engine, key: tuple[str, str]) -> dict[int, ItemResult]:
    """The items earlier runs of the job graded, by position."""
    with engine.connect() as conn:
        text = conn.execute(select(station_jobs.c.progress).where(job_where(*key))).scalar()
    return {int(k): ItemResult.from_dict(v) for k, v in json.loads(text or "{}").items()}


class ProgressLog:
    """Keeps the items a run grades on the job's row; a kept item also restarts the count of
    runs that died without progress.

    Each write is a commit (an fsync on SQLite), and an item of 1080p grades in a few tens
    of milliseconds, so one commit per item cost the worker about as much as a network. A
    run's first item is written at once (the run made progress); later ones are written
    together, at most one commit per ``interval`` seconds, by the grading thread that finds
    the interval over, and a thread that finds another writing leaves its items to that
    writer. A run that dies loses at most the last ``interval`` of its work (graded again by
    the next run); ``flush`` writes what still waits (a run that fails); a run that
    finishes records every item with its batch row, so what waits then is dropped.
    """

    def __init__(self, engine: Engine, key: tuple[str, str], *, interval: float = 0.25) -> None:
        self.engine, self.key, self.interval = engine, key, interval
        self._lock = threading.Lock()
        self._waiting: dict[str, Any] = {}
        self._writing = False
        self._last: float | None = None  # when the last write began (monotonic)

    def __call__(self, item: ItemResult) -> None:
        with self._lock:
            self._waiting[str(item.position)] = item.as_dict()
            if self._last is not None and time.monotonic() - self._last < self.interval:
                return  # written with the next item after the interval, or by ``flush``
        self._drain()

    def flush(self) -> None:
        """Write every item still waiting, now."""
        self._drain()

    def _drain(self) -> None:
        with self._lock:
            if self._writing:
                return  # the thread writing now takes it in its next round
            self._writing = True
        while True:
            with self._lock:
                items, self._waiting = self._waiting, {}
                if not items:
                    self._writing = False  # under the lock: no item can slip between
                    return
                self._last = time.monotonic()
            try:
                self._write(items)
            except BaseException:
                with self._lock:
                    self._writing = False
                raise

    def _write(self, items: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            text = conn.execute(
                select(station_jobs.c.progress).where(job_where(*self.key))
            ).scalar()
            kept = json.loads(text or "{}") | items
            conn.execute(
                update(station_jobs)
                .where(job_where(*self.key), station_jobs.c.status == "pending")
                .values(progress=json.dumps(kept), attempts=0)
            )


def _finish(engine: Engine, key: tuple[str, str], status: str, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(station_jobs)
            .where(job_where(*key), station_jobs.c.status == "pending")
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
    label_reader: LabelReaderLike | None = None,
) -> BatchResult:
    """Grade a queued batch (items refused before queueing keep their error); ``pool`` and
    ``label_reader`` as for ``grade_batch``."""
    progress = ProgressLog(ledger.engine, job.key)
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
            graded=job_progress(ledger.engine, job.key),
            on_graded=progress,
            label_reader=label_reader,
        )
    except Exception as exc:
        # The items graded before the failure are kept for the next run; a database that
        # refuses that too must not keep the job from being marked failed.
        with contextlib.suppress(Exception):
            progress.flush()
        _finish(ledger.engine, job.key, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish(ledger.engine, job.key, "done", None)
    return result


def _inputs(store: EvidenceStore, items: Sequence[JobItem]) -> list[ItemInput]:
    return [
        ItemInput(
            i.epc,
            i.kind,  # type: ignore[arg-type]
            tuple((name, store.get_original(h)) for name, h in i.photos) if not i.error else (),
            i.request_photos,
            i.family,
            tuple(h for _, h in i.photos) if not i.error else (),
        )
        for i in items
    ]
