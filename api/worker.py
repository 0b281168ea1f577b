"""Where station batches are graded: Celery workers on RabbitMQ, or the API process itself.

``FRESHPROOF_TASKS=celery``: the API queues each large batch as a Celery task (broker
``FRESHPROOF_BROKER_URL``, RabbitMQ; results in ``FRESHPROOF_RESULT_BACKEND``, Redis) and
``freshproof worker`` runs workers that grade them. ``inprocess`` (the default for
``make run``): a thread pool in the API process runs the very same task function. Either
way the job's state lives in the database (``stations.jobs``), so the answer to
``GET /v1/stations/jobs/{id}`` does not depend on which ran it.

Jobs survive their process. Each runner (the API's pool, each worker process) has an id and
renews the leases of the jobs it holds every third of ``station_job_lease_seconds``; the
API's pool also takes over, at start-up and then on each renewal, pending jobs whose lease
ran out (their process died), so a restart grades what a SIGKILL left. Celery tasks are
acknowledged late and rejected when their worker is lost, so the broker hands a killed
worker's batch to another; one that finds the batch still held by a live runner retries
after the lease. A batch run twice is graded once (``stations.batches`` records it with its
events, and a recorded batch answers its stored result).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from api.settings import Settings
from stations.grading import GradingPolicy
from stations.job_state import job_state
from stations.jobs import (
    BatchJob,
    abandoned_jobs,
    adopt_jobs,
    hold_job,
    renew_leases,
    run_batch_job,
    start_job,
)
from vision.predictor import Inspector

__all__ = [
    "RETRAIN_TASK",
    "TASK",
    "CeleryQueue",
    "InProcessQueue",
    "JobQueue",
    "celery_app",
    "make_queue",
    "warm",
]

log = logging.getLogger("freshproof.worker")
TASK = "freshproof.grade_batch"
RETRAIN_TASK = "freshproof.retrain"


class JobQueue(Protocol):
    """Where the API hands a batch job."""

    def submit(self, job: BatchJob) -> None:
        """Queue the job; it runs later, here or in a worker."""
        ...

    def close(self) -> None:
        """Stop accepting jobs and let running ones finish."""
        ...


def runner_id(kind: str) -> str:
    """A name for this runner, unique across processes and restarts (a job's ``owner``)."""
    return f"{kind}:{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease(services: Any) -> timedelta:
    return timedelta(seconds=services.settings.station_job_lease_seconds)


class Leases:
    """A runner's heartbeat: renews the leases of the jobs ``owner`` holds every third of
    the lease, then calls ``tick`` (the in-process pool takes over dead jobs there)."""

    def __init__(self, services: Any, owner: str, tick: Callable[[], None] = lambda: None):
        self.owner = owner
        self._services = services
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fp-job-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lease = _lease(self._services)
        while not self._stop.wait(lease.total_seconds() / 3):
            try:
                renew_leases(
                    self._services.engine, owner=self.owner, now=datetime.now(UTC), lease=lease
                )
                self._tick()
            except Exception:  # a database hiccup must not stop the heartbeat
                log.exception("renewing station job leases failed")

    def close(self) -> None:
        """Stop renewing: what this runner still holds lapses after one lease."""
        self._stop.set()
        self._thread.join(timeout=10)


def _start(services: Any, job: BatchJob, owner: str) -> BatchJob | None:
    """Claim the job to run it now (see ``stations.jobs.start_job``)."""
    return start_job(
        services.engine,
        job.key,
        owner=owner,
        now=datetime.now(UTC),
        lease=_lease(services),
        max_attempts=services.settings.station_job_attempts,
    )


def _grade(services: Any, job: BatchJob, inspector: Inspector) -> dict[str, Any]:
    """The task itself, wherever it runs (the job claimed first)."""
    result = run_batch_job(
        ledger=services.ledger,
        store=services.evidence,
        inspector=inspector,
        job=job,
        policy=GradingPolicy(min_confidence=services.settings.grading_min_confidence),
        now=datetime.now(UTC),
        pool=services.grading_pool,
        label_reader=getattr(services, "label_reader", None),
    )
    services.after_write()
    return {"batch_id": result.batch_id, "counts": result.counts}


class InProcessQueue:
    """A thread pool in the API process (the embedded default).

    At start it takes over the pending jobs a dead process left (their lease ran out), and
    keeps doing so on each lease renewal, so no batch answered 202 stays pending.
    """

    def __init__(self, services: Any, inspector: Callable[[], Inspector], workers: int = 1) -> None:
        self._services = services
        self._inspector = inspector
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fp-job")
        self.owner = runner_id("inprocess")
        self._lock = threading.Lock()
        self._queued: set[tuple[str, str]] = set()
        self._closing = False
        self._adopt()
        self._leases = Leases(services, self.owner, tick=self._adopt)

    def submit(self, job: BatchJob) -> None:
        """Hold the job and run it on the pool; a failure is logged and recorded on its row."""
        now = datetime.now(UTC)
        hold_job(
            self._services.engine, job.key, owner=self.owner, now=now, lease=_lease(self._services)
        )
        self._enqueue(job)

    def _enqueue(self, job: BatchJob) -> None:
        with self._lock:
            if self._closing or job.key in self._queued:
                return
            self._queued.add(job.key)
        self._pool.submit(self._run, job)

    def _run(self, job: BatchJob) -> None:
        try:
            if (claimed := _start(self._services, job, self.owner)) is not None:
                _grade(self._services, claimed, self._inspector())
        except Exception:
            log.exception("batch job %s of %s failed", job.batch_id, job.station.station_id)
        finally:
            with self._lock:
                self._queued.discard(job.key)

    def _adopt(self) -> None:
        """Take over the pending jobs whose holder died, and queue them here."""
        if self._closing:
            return
        taken = adopt_jobs(
            self._services.engine,
            owner=self.owner,
            now=datetime.now(UTC),
            lease=_lease(self._services),
        )
        for job in taken:
            log.warning(
                "taking over station batch %s of %s: its process stopped before grading it",
                job.batch_id,
                job.station.station_id,
            )
            self._enqueue(job)

    def close(self) -> None:
        """Wait for queued jobs (their leases renewed meanwhile), then stop renewing."""
        with self._lock:
            self._closing = True
        self._pool.shutdown(wait=True)
        self._leases.close()


_APPS: dict[str, Any] = {}
# Per app: the worker's services and model once loaded (see ``_loaded``).
_STATES: dict[str, dict[str, Any]] = {}
_APPS_LOCK = threading.Lock()


def _key(settings: Settings) -> str:
    return f"{settings.broker_url}|{settings.result_backend}"


def celery_app(settings: Settings) -> Any:
    """The Celery app for these settings, with the grading task registered (one per URL)."""
    from celery import Celery

    key = _key(settings)
    with _APPS_LOCK:
        if key in _APPS:
            return _APPS[key]
        app = Celery("freshproof", broker=settings.broker_url, backend=settings.result_backend)
        app.conf.update(
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            task_acks_late=True,  # a worker killed mid-batch leaves it queued...
            task_reject_on_worker_lost=True,  # ...and the broker hands it to another
            worker_prefetch_multiplier=1,
            broker_connection_retry_on_startup=True,
        )
        state = _STATES.setdefault(key, {})

        @app.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
        def grade_batch_task(task: Any, payload: str) -> dict[str, Any]:
            services, predictor = _loaded(state, settings)
            job = BatchJob.from_json(payload)
            if "leases" not in state:
                state["leases"] = Leases(services, runner_id("celery"))
            claimed = _start(services, job, state["leases"].owner)
            if claimed is not None:
                return _grade(services, claimed, predictor)
            now = job_state(services.engine, *job.key)
            if now is not None and now["status"] == "pending":
                # A live runner holds it (the broker redelivered it early): ask again after
                # the lease, when it is done or its holder is known dead.
                raise task.retry(countdown=settings.station_job_lease_seconds, max_retries=None)
            return {"batch_id": job.batch_id, "status": now["status"] if now else None}

        @app.task(name=RETRAIN_TASK)  # type: ignore[untyped-decorator]
        def retrain_task(job: dict[str, Any]) -> dict[str, Any]:
            # Needs the train extra (torch, ultralytics) on this worker.
            from api.retraining import RetrainJob, run_retrain_job

            entry = run_retrain_job(settings, RetrainJob(**job), log=log.info)
            return {"version": entry["version"], "metrics": entry.get("metrics", {}).get("test")}

        # A prefork child loads the model as it starts, not on its first batch.
        from celery.signals import worker_process_init

        worker_process_init.connect(lambda **_: _loaded(state, settings), weak=False)

        _APPS[key] = app
        return app


def _loaded(state: dict[str, Any], settings: Settings) -> tuple[Any, Inspector]:
    """This worker's services and model (the release the ledger says serves, reloaded when
    it changes), built once; the model is run once to warm it up."""
    if "services" not in state:
        from api.deps import load_predictor
        from api.services import build_services
        from serving.model_server import ModelServer
        from vision.parallel import pixels_on_one_thread

        pixels_on_one_thread()  # a worker grades batches only

        services = build_services(settings)
        models = ModelServer(settings, services.ledger, load_predictor)
        models.current().warm_up()
        state["services"], state["model"] = services, models.current
    return state["services"], state["model"]()


def warm(settings: Settings, inspector: Inspector | None = None) -> None:
    """Load this process's services and model now, replacing any loaded before: a
    one-thread worker does it before it takes tasks. ``inspector`` stands in for the model (tests)."""
    celery_app(settings)
    state = _STATES[_key(settings)]
    if (old := state.pop("services", None)) is not None:
        old.close()
    if (leases := state.pop("leases", None)) is not None:
        leases.close()
    if inspector is None:
        _loaded(state, settings)
        return
    from api.services import build_services

    state["services"], state["model"] = build_services(settings), lambda: inspector


class CeleryQueue:
    """Send jobs to Celery workers through the broker.

    At start it sends again the pending jobs no live runner holds (a broker that lost them,
    an API killed between recording a job and sending it); a copy the broker still had is
    harmless: the job is claimed once, and a recorded batch is not graded again.
    """

    def __init__(self, settings: Settings, engine: Any = None) -> None:
        self._app = celery_app(settings)
        if engine is None:
            return
        try:
            for job in abandoned_jobs(engine, datetime.now(UTC)):
                self.submit(job)
        except Exception:  # the broker down: the API still serves; workers catch up later
            log.exception("sending pending station batches again failed")

    def submit(self, job: BatchJob) -> None:
        """Publish the task; the worker records the outcome on the job's row."""
        task_id = f"batch-{job.station.station_id}-{job.batch_id}"
        self._app.send_task(TASK, args=[job.to_json()], task_id=task_id)

    def close(self) -> None:
        """Nothing to drain here: the broker holds the queue."""


def make_queue(settings: Settings, services: Any, inspector: Callable[[], Inspector]) -> JobQueue:
    """The queue the settings name; ``inspector`` gives the in-process pool the app's model."""
    if settings.tasks == "celery":
        return CeleryQueue(settings, services.engine)
    return InProcessQueue(services, inspector)
