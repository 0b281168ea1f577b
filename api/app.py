"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import Depends, FastAPI

from api.auth.access import authorize
from api.deps import app_predictor, load_predictor
from api.edge import EdgeMiddleware
from api.json_bodies import strict_json_body
from api.metrics import Metrics, MetricsMiddleware
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.queries import reject_unknown_query
from api.routes import (
    claims,
    events,
    health,
    inspect,
    keys,
    ledger,
    review,
    station_review,
    stations,
)
from api.services import Services, build_services
from api.settings import Settings
from api.web import install_workbench
from api.worker import make_queue
from operations.gauges import OperationsGauges, operations_gauges
from serving.model_server import ModelServer, record_serving_release

__all__ = ["create_app"]

VERSION = "0.1.0"


def _operations_now(services: Services) -> Callable[[], OperationsGauges]:
    """The operation's gauges as of each scrape (``operations.gauges``)."""

    def read() -> OperationsGauges:
        return operations_gauges(
            engine=services.engine, ledger=services.ledger, now=datetime.now(UTC)
        )

    return read


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the given settings (default: from the environment)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        preloading = None
        if app.state.predictor is None:  # no model was handed to the app: the ledger's serves
            record_serving_release(app.state.models)
            if settings.preload_model:
                preloading = app.state.preloading = app.state.models.preload()
        app.state.services.start_jobs()
        app.state.jobs = make_queue(settings, app.state.services, lambda: app_predictor(app.state))
        yield
        if preloading is not None:
            preloading.join()  # it reads the ledger: done before the database closes
        app.state.jobs.close()
        app.state.services.close()

    app = FastAPI(
        lifespan=lifespan,
        title="freshproof",
        version=VERSION,
        description="Photo evidence and tamper-evident traceability for fresh-food claims.",
        # Every route passes the access check: its permission from one table, the key, the
        # role, the rate (api/auth/access.py). The docs pages are not routes of the API.
        # Then unknown query parameters are refused (api/queries.py), and a JSON body the
        # strict reader refuses (duplicate keys, NaN, deep nesting: api/json_bodies.py).
        dependencies=[
            Depends(authorize),
            Depends(reject_unknown_query),
            Depends(strict_json_body),
        ],
    )
    app.state.settings = settings
    app.state.predictor = None
    app.state.preloading = None  # the thread loading the model at start (preload_model)
    app.state.services = build_services(settings)
    app.state.models = ModelServer(settings, app.state.services.ledger, load_predictor)
    buckets = app.state.services.rate_limiter.buckets
    app.state.metrics = Metrics(
        ledger_size=app.state.services.ledger.size,
        rate_limit_failures=buckets.failures,
        rate_limit_shared=buckets.shared,
        operations=_operations_now(app.state.services),
    )
    install_problem_handlers(app)
    install_openapi(app)
    # Key, role, rate and body size from the headers, before any body is read (api/edge.py).
    app.add_middleware(EdgeMiddleware, limits=settings.body_limits)
    # Added last, so outermost: it also counts requests the edge turns away.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(inspect.router)
    app.include_router(ledger.router)
    app.include_router(events.router)
    app.include_router(claims.router)
    app.include_router(keys.router)
    app.include_router(review.router)
    app.include_router(stations.router)
    app.include_router(station_review.router)
    # The adjudicator workbench: HTML pages under /review on a session cookie (api/web).
    install_workbench(app)
    return app
