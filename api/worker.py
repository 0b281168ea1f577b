"""Where station batches are graded: Celery workers on RabbitMQ, or the API process itself.

``FRESHPROOF_TASKS=celery``: the API queues each large batch as a Celery task (broker
``FRESHPROOF_BROKER_URL``, RabbitMQ; results in ``FRESHPROOF_RESULT_BACKEND``, Redis) and
``freshproof worker`` runs workers that grade them. ``inprocess`` (the default for
``make run``): a thread pool in the API process runs the very same task function. Either
way the job's state lives in the database (``claims.station_jobs``), so the answer to
``GET /v1/stations/jobs/{id}`` does not depend on which ran it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from api.settings import Settings
from claims.grading import GradingPolicy
from claims.service import Inspector
from claims.station_jobs import BatchJob, run_batch_job

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


def _grade(services: Any, payload: str, inspector: Inspector) -> dict[str, Any]:
    """The task itself, wherever it runs."""
    job = BatchJob.from_json(payload)
    result = run_batch_job(
        ledger=services.ledger,
        store=services.evidence,
        inspector=inspector,
        job=job,
        policy=GradingPolicy(min_confidence=services.settings.grading_min_confidence),
        now=datetime.now(UTC),
        pool=services.grading_pool,
    )
    services.after_write()
    return {"batch_id": result.batch_id, "counts": result.counts}


class InProcessQueue:
    """A thread pool in the API process (the embedded default)."""

    def __init__(self, services: Any, inspector: Callable[[], Inspector], workers: int = 1) -> None:
        self._services = services
        self._inspector = inspector
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fp-job")

    def submit(self, job: BatchJob) -> None:
        """Run the job on the pool; a failure is logged and recorded on the job's row."""

        def run() -> None:
            try:
                _grade(self._services, job.to_json(), self._inspector())
            except Exception:
                log.exception("batch job %s failed", job.batch_id)

        self._pool.submit(run)

    def close(self) -> None:
        """Wait for queued jobs."""
        self._pool.shutdown(wait=True)


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
            task_acks_late=True,  # a worker killed mid-batch leaves it queued
            worker_prefetch_multiplier=1,
            broker_connection_retry_on_startup=True,
        )
        state = _STATES.setdefault(key, {})

        @app.task(name=TASK)  # type: ignore[untyped-decorator]
        def grade_batch_task(payload: str) -> dict[str, Any]:
            services, predictor = _loaded(state, settings)
            return _grade(services, payload, predictor)

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
        import numpy as np

        from api.deps import load_predictor
        from api.releases import ModelServer
        from api.services import build_services

        services = build_services(settings)
        models = ModelServer(settings, services.ledger, load_predictor)
        predictor = models.current()
        predictor.judge(np.full((64, 64, 3), 128, np.uint8), floor=predictor.spec.box_floor)
        state["services"], state["model"] = services, models.current
    return state["services"], state["model"]()


def warm(settings: Settings, inspector: Inspector | None = None) -> None:
    """Load this process's services and model now, replacing any loaded before: a solo
    worker does it before it takes tasks. ``inspector`` stands in for the model (tests)."""
    celery_app(settings)
    state = _STATES[_key(settings)]
    if (old := state.pop("services", None)) is not None:
        old.close()
    if inspector is None:
        _loaded(state, settings)
        return
    from api.services import build_services

    state["services"], state["model"] = build_services(settings), lambda: inspector


class CeleryQueue:
    """Send jobs to Celery workers through the broker."""

    def __init__(self, settings: Settings) -> None:
        self._app = celery_app(settings)

    def submit(self, job: BatchJob) -> None:
        """Publish the task; the worker records the outcome on the job's row."""
        self._app.send_task(TASK, args=[job.to_json()], task_id=f"batch-{job.batch_id}")

    def close(self) -> None:
        """Nothing to drain here: the broker holds the queue."""


def make_queue(settings: Settings, services: Any, inspector: Callable[[], Inspector]) -> JobQueue:
    """The queue the settings name; ``inspector`` gives the in-process pool the app's model."""
    if settings.tasks == "celery":
        return CeleryQueue(settings)
    return InProcessQueue(services, inspector)
