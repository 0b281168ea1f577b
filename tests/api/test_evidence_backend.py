"""The evidence store is chosen by settings alone, and an unreachable store is a 503 problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings
from storage.evidence import LocalEvidenceStore
from storage.s3 import S3EvidenceStore
from tests.api.access import grant
from tests.conftest import jpeg_bytes, scene
from tests.storage.seaweedfs import S3Server, free_ports, fresh_bucket
from tests.test_evidence import photo_with_private_exif


def _settings(tmp_path: Path, **s3: object) -> Settings:
    return Settings(data_dir=tmp_path / "var", anchor_backend="none", **s3)


def test_local_is_the_default(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    assert isinstance(app.state.services.evidence, LocalEvidenceStore)
    app.state.services.close()


@pytest.mark.s3
def test_s3_backend_from_settings_stores_in_the_bucket(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = fresh_bucket()
    app = create_app(
        _settings(
            tmp_path,
            evidence_backend="s3",
            s3_endpoint=s3_server.endpoint,
            s3_access_key=s3_server.access_key,
            s3_secret_key=s3_server.secret_key,
            s3_bucket=bucket,
            s3_retention_mode="COMPLIANCE",
            s3_retention_days=7,
        )
    )
    try:
        store = app.state.services.evidence
        assert isinstance(store, S3EvidenceStore)
        assert (store.bucket, store.retention_mode, store.retention_days) == (
            bucket,
            "COMPLIANCE",
            7,
        )
        data = photo_with_private_exif()
        stored = store.put(data)
        assert stored.original == f"s3://{bucket}/originals/{stored.sha256}"
        assert s3_server.client().stat_object(bucket, f"originals/{stored.sha256}").size == len(
            data
        )
        assert not (tmp_path / "var" / "evidence").exists()
    finally:
        app.state.services.close()


def test_s3_backend_needs_an_endpoint(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FRESHPROOF_S3_ENDPOINT"):
        _settings(tmp_path, evidence_backend="s3")


def test_unreachable_store_is_a_503_problem_without_its_address(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there
    app = create_app(_settings(tmp_path, evidence_backend="s3", s3_endpoint=f"127.0.0.1:{port}"))
    # Filing a claim stores its photos: a customer app files one, as it would in production.
    customer_app = grant(app, "customer_app", customer_id="cust-503")
    claim = {
        "order_id": "O-503",
        "lot": "LOT-503",
        "category": "chilled",
        "line_value": "4.00",
        "currency": "EUR",
        "delivered_at": "2024-05-02T10:00:00Z",
    }
    with TestClient(app, raise_server_exceptions=False, headers=customer_app) as client:
        resp = client.post(
            "/v1/claims",
            files=[("photos", ("p.jpg", jpeg_bytes(scene()), "image/jpeg"))],
            data={"claim": json.dumps(claim)},
        )
        assert client.get("/v1/claims").json()["items"] == []  # nothing filed half-way
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"].endswith("/storage-unavailable") and body["instance"] == "/v1/claims"
    assert str(port) not in resp.text and "freshproof-evidence" not in resp.text
