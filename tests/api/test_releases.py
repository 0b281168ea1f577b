"""The serving model follows the ledger's releases: recorded at start-up, swapped without a
restart when another release (a promotion, a rollback) is appended, named by every result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import build_services
from api.settings import Settings
from serving.releases import record_release, record_rollback, release_body, serving_release
from tests.api.access import grant
from tests.conftest import jpeg_bytes, scene
from training.export import write_manifest_entry
from vision.labels import LABELS
from vision.registry import manifest_entry


def _weights(tiny_weights: Path, root: Path) -> Path:
    """Two releases of the tiny model in one folder: 1 finds nothing, 2 finds everything."""
    weights = root / "weights"
    weights.mkdir()
    base = json.loads((tiny_weights / "manifest.json").read_text())["models"][0]
    for version, threshold in (("1", 1.01), ("2", 0.0)):
        det = weights / f"tiny-{version}.onnx"
        shutil.copyfile(tiny_weights / base["file"], det)
        cls = weights / f"tiny-{version}-condition.onnx"
        shutil.copyfile(tiny_weights / base["classifier"]["file"], cls)
        write_manifest_entry(
            weights_dir=weights,
            model_file=det,
            name="tiny",
            version=version,
            imgsz=base["imgsz"],
            thresholds=dict.fromkeys(LABELS, threshold),
            classifier={**base["classifier"], "file": cls.name},
        )
    return weights


def _inspect(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    photo = ("p.jpg", jpeg_bytes(scene()), "image/jpeg")
    resp = client.post("/v1/inspect", files=[("photos", photo)], headers=headers)
    assert resp.status_code == 200, resp.text
    (result,) = resp.json()
    model: dict[str, Any] = result["model"]
    return {**model, "found": len(result["findings"])}


def test_a_fresh_ledger_records_the_shipped_model_at_start_up(
    tiny_weights: Path, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        weights_dir=_weights(tiny_weights, tmp_path),
        anchor_backend="none",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        served = _inspect(client, grant(app, "customer_app", customer_id="C-1"))
        release = serving_release(app.state.services.engine, "tiny")
        assert release is not None and release.version == "2"  # the manifest's newest
        assert served["version"] == "2" and served["release_entry"] == str(release.ref.index)
        entry = app.state.services.ledger.entry(release.ref.index)
        assert entry.kind == "model.release" and entry.body["released_by"] == "system:start-up"
        assert entry.body["files"]["tiny-2.onnx"] == served["sha256"]
    # A restart records nothing more: the ledger already names the serving release.
    again = create_app(settings)
    with TestClient(again):
        assert serving_release(again.state.services.engine, "tiny") == release
        assert again.state.services.ledger.size() == app.state.services.ledger.size()


def test_a_promotion_and_a_rollback_reach_a_running_service(
    tiny_weights: Path, tmp_path: Path
) -> None:
    weights = _weights(tiny_weights, tmp_path)
    settings = Settings(
        data_dir=tmp_path / "var",
        weights_dir=weights,
        anchor_backend="none",
        model_refresh_seconds=0,  # look at the ledger on every request
    )
    seeded = build_services(settings)
    first = record_release(
        seeded.ledger, release_body(manifest_entry(weights, "tiny", "1")), actor="t"
    )
    seeded.close()
    app = create_app(settings)
    with TestClient(app) as client:
        key = grant(app, "customer_app", customer_id="C-1")
        before = _inspect(client, key)
        assert (before["version"], before["release_entry"]) == ("1", str(first.ref.index))
        assert before["found"] == 0
        ledger = app.state.services.ledger
        second = record_release(  # what `freshproof models promote` appends
            ledger, release_body(manifest_entry(weights, "tiny", "2")), actor="t"
        )
        promoted = _inspect(client, key)
        assert (promoted["version"], promoted["release_entry"]) == ("2", str(second.ref.index))
        assert promoted["found"] > 0
        record_rollback(ledger, "tiny", actor="t", reason="too many false alarms")
        back = _inspect(client, key)
        assert (back["version"], back["release_entry"]) == ("1", str(first.ref.index))
