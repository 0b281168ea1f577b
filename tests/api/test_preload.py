"""The API loads its serving model when it starts, not when the first photo arrives."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import load_predictor
from api.settings import Settings
from serving.model_server import ModelServer
from serving.releases import Release
from tests.api.access import grant
from tests.api.test_releases import _inspect, _weights
from vision.predictor import Predictor


def _settings(tiny_weights: Path, tmp_path: Path, **kw: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        weights_dir=_weights(tiny_weights, tmp_path),
        model_name="tiny",
        anchor_backend="none",
        **kw,  # type: ignore[arg-type]
    )


def test_the_serving_model_is_loaded_when_the_api_starts(
    tiny_weights: Path, tmp_path: Path
) -> None:
    app = create_app(_settings(tiny_weights, tmp_path, preload_model=True))
    with TestClient(app) as client:
        app.state.preloading.join(timeout=60)
        loaded = app.state.models.loaded
        assert loaded is not None  # before any photo
        health = client.get("/healthz").json()
        assert health["model"]["running"]["version"] == loaded.model["version"]
        key = grant(app, "customer_app", customer_id="C-1")
        judged = _inspect(client, key)
        assert judged["version"] == loaded.model["version"]
        assert app.state.models.loaded is loaded  # the first photo used it, loaded nothing
        assert client.get("/readyz").json() == {"ready": True}


def test_readyz_says_starting_until_the_model_is_loaded(tiny_weights: Path, tmp_path: Path) -> None:
    settings = _settings(tiny_weights, tmp_path, preload_model=True)
    app = create_app(settings)
    loading = threading.Event()

    def slow_load(settings: Settings, release: Release) -> Predictor:
        loading.wait(30)
        return load_predictor(settings, release)

    app.state.models = ModelServer(settings, app.state.services.ledger, slow_load)
    with TestClient(app) as client:
        starting = client.get("/readyz")
        assert starting.status_code == 503
        assert starting.headers["content-type"] == "application/problem+json"
        assert starting.json()["type"].endswith("/starting")
        assert starting.headers["retry-after"] == "1"
        assert client.get("/healthz").json()["status"] == "ok"  # alive, just not ready
        loading.set()
        app.state.preloading.join(timeout=60)
        assert client.get("/readyz").status_code == 200


def test_without_preload_the_model_loads_with_the_first_photo(
    tiny_weights: Path, tmp_path: Path
) -> None:
    app = create_app(_settings(tiny_weights, tmp_path, preload_model=False))
    with TestClient(app) as client:
        assert app.state.preloading is None
        assert app.state.models.loaded is None
        assert "running" not in client.get("/healthz").json()["model"]
        assert client.get("/readyz").status_code == 200  # nothing to wait for
        _inspect(client, grant(app, "customer_app", customer_id="C-1"))
        assert app.state.models.loaded is not None


def test_a_model_that_cannot_load_is_logged_and_the_first_photo_meets_its_error(
    tiny_weights: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tiny_weights, tmp_path, preload_model=True)
    # Version 2 is the newest release: its detector altered after its manifest entry.
    detector = settings.weights_dir / "tiny-2.onnx"
    detector.write_bytes(detector.read_bytes() + b"altered")
    app = create_app(settings)
    with caplog.at_level(logging.INFO, "freshproof.models"), TestClient(app) as client:
        app.state.preloading.join(timeout=60)
        assert app.state.models.loaded is None
        assert any(
            "could not be loaded ahead of the first photo" in r.getMessage() for r in caplog.records
        )
        key = grant(app, "customer_app", customer_id="C-1")
        photo = ("p.jpg", b"\xff\xd8 not really", "image/jpeg")
        resp = client.post("/v1/inspect", files=[("photos", photo)], headers=key)
        assert resp.status_code == 503, resp.text
        assert resp.json()["type"].endswith("model-unavailable")
