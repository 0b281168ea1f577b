"""Request-scoped dependencies: settings and the shared predictor."""

from __future__ import annotations

import threading

from fastapi import Request

from api.services import Services
from api.settings import Settings
from vision.predictor import Predictor

__all__ = ["get_predictor", "get_services", "get_settings"]

_lock = threading.Lock()


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_predictor(request: Request) -> Predictor:
    """The app's predictor, loaded on first use (hash-checked) and then shared."""
    state = request.app.state
    if state.predictor is None:
        with _lock:
            if state.predictor is None:
                s: Settings = state.settings
                state.predictor = Predictor.from_weights(
                    s.weights_dir,
                    name=s.model_name,
                    backend=s.inference_backend,
                    precision=s.inference_precision,
                    threads=s.inference_threads,
                    limits=s.image_limits,
                    quality=s.quality_thresholds,
                )
    predictor: Predictor = state.predictor
    return predictor


def get_services(request: Request) -> Services:
    """The app's long-lived services (database, ledger, signing key)."""
    services: Services = request.app.state.services
    return services
