"""Request-scoped dependencies: settings and the shared predictor."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header, Request

from api.problems import Problem
from api.services import Services
from api.settings import Settings
from vision.budget import DecodeBudget
from vision.predictor import Predictor

if TYPE_CHECKING:
    from serving.model_server import ModelServer
    from serving.releases import Release

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "get_predictor",
    "get_services",
    "get_settings",
    "idempotency_key",
    "load_predictor",
]

# Room for a UUID, a ULID, base64 or "order-7781-line-1"; nothing that needs quoting or
# could be confused in a log line. The claims column holds 200 characters.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._~:/+=-]{1,200}$"


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def load_predictor(s: Settings, release: Release | None = None) -> Predictor:
    """The model the settings name (hash-checked), with the process-wide decode budget:
    the version of ``release`` (whose ledger entry its results name), or the newest."""
    return Predictor.from_weights(
        s.weights_dir,
        name=s.model_name,
        version=release.version if release else None,
        release_entry=release.ref.index if release else None,
        backend=s.inference_backend,
        precision=s.inference_precision,
        threads=s.inference_threads,
        limits=s.image_limits,
        quality=s.quality_thresholds,
        # One budget for the process: it bounds decodes across all requests.
        budget=DecodeBudget(
            max_decodes=s.decode_concurrency,
            max_bytes=s.decode_budget_mb * 1024 * 1024,
            wait_seconds=s.decode_wait_seconds,
        ),
    )


def app_predictor(state: Any) -> Predictor:
    """The app's model: one handed to the app (``state.predictor``), else the release the
    ledger says serves (``serving.model_server.ModelServer``), reloaded when that changes."""
    if state.predictor is not None:
        given: Predictor = state.predictor
        return given
    models: ModelServer = state.models
    return models.current()


def loaded_predictor(state: Any) -> Predictor | None:
    """The app's model if one is loaded, without loading it (health checks ask this)."""
    if state.predictor is not None:
        given: Predictor = state.predictor
        return given
    models: ModelServer | None = getattr(state, "models", None)
    return models.loaded if models is not None else None


def get_predictor(request: Request) -> Predictor:
    """The app's predictor, loaded on first use (hash-checked) and then shared."""
    return app_predictor(request.app.state)


def get_services(request: Request) -> Services:
    """The app's long-lived services (database, ledger, signing key)."""
    services: Services = request.app.state.services
    return services


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a retry safe: the same key with the same request returns the "
            "first answer; with another request, 409. 1 to 200 characters of "
            "A-Z a-z 0-9 . _ ~ : / + = -",
            json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
        ),
    ] = None,
) -> str | None:
    """The request's Idempotency-Key, or a 400 problem when it is present but unusable."""
    if key is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        # An empty header is what a client sends when its key variable is unset: stored, it
        # would make every later such request a replay of the first.
        raise Problem(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "Idempotency-Key must be 1 to 200 characters of A-Z a-z 0-9 . _ ~ : / + = -"
            + (" (it was empty)" if key == "" else f" (it was {len(key)} characters)"),
            field="Idempotency-Key",
        )
    return key
