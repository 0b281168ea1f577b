"""GET /metrics: Prometheus text with requests per route template, photo timings, ledger size."""

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import jpeg_bytes, scene


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_by_route_template(tmp_path: Path, tiny_weights: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var", weights_dir=tiny_weights, anchor_backend="none")
    )
    # A customer app inspects and reads (absent) claims; an ML engineer reads the metrics.
    customer_app = grant(app, "customer_app", customer_id="cust-metrics")
    with TestClient(app, raise_server_exceptions=False, headers=customer_app) as client:
        photo = jpeg_bytes(scene(seed=5))
        files = [
            ("photos", ("a.jpg", photo, "image/jpeg")),
            ("photos", ("b.jpg", photo, "image/jpeg")),
        ]
        assert client.post("/v1/inspect", files=files).status_code == 200
        assert client.get("/v1/claims/abc123").status_code == 404
        assert client.get("/v1/claims/def456").status_code == 404
        resp = client.get("/metrics", headers=grant(app, "ml_engineer"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    got = _samples(resp.text)
    inspect = (("method", "POST"), ("route", "/v1/inspect"), ("status", "200"))
    assert got[("freshproof_http_requests_total", inspect)] == 1
    # one series for every claim id, not one per id
    missing = (("method", "GET"), ("route", "/v1/claims/{claim_id}"), ("status", "404"))
    assert got[("freshproof_http_requests_total", missing)] == 2
    assert got[("freshproof_photo_inference_seconds_count", ())] == 2
    assert got[("freshproof_photo_inference_seconds_sum", ())] > 0
    assert got[("freshproof_ledger_entries", ())] >= 0
