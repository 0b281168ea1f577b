"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import get_settings, loaded_predictor
from api.openapi import problem_responses
from api.problems import Problem
from api.settings import Settings
from vision.errors import ModelError
from vision.registry import resolve_model

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> dict[str, Any]:
    """Service status and the identity of the model that will judge photos: as configured,
    and once this process has loaded it, what runs (``running``: with ``auto`` precision,
    what each network measured faster at here)."""
    try:
        spec = resolve_model(settings.weights_dir, settings.model_name, verify=False)
        # What is configured; a result records what actually ran (see Predictor.model).
        model: dict[str, Any] = spec.identity() | {
            "backend": settings.inference_backend,
            "precision": settings.inference_precision,
        }
        if (running := _running(loaded_predictor(request.app.state))) is not None:
            model["running"] = running
        status = "ok"
    except ModelError as exc:
        model, status = {"error": str(exc)}, "degraded"
    return {"status": status, "model": model}


@router.get("/readyz", responses=problem_responses(503))
def readyz(request: Request) -> dict[str, bool]:
    """Whether this process should be sent traffic: ready once the model it loads at start
    (``FRESHPROOF_PRELOAD_MODEL``) is loaded, or failed to load (``/healthz`` then says
    degraded and photos get the model's error at once); a 503 problem while it is still
    loading. A load balancer that waits for this sends no customer to a process that would
    keep them waiting for the model."""
    preloading = getattr(request.app.state, "preloading", None)
    if preloading is not None and preloading.is_alive():
        raise Problem(
            503, "starting", "Starting", "the serving model is still loading", retry_after=1
        )
    return {"ready": True}


def _running(predictor: object) -> dict[str, Any] | None:
    """What a loaded model says it runs; None before one is loaded, or for a stand-in that
    does not say (a health check must answer whatever judges photos)."""
    ran = getattr(predictor, "model", None)
    if not isinstance(ran, Mapping):
        return None
    return {k: ran[k] for k in ("version", "backend", "precision") if k in ran} or None


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
