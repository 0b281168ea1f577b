"""Settings refuse runtimes and precisions the service cannot honour, at start-up."""

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_backend_and_precision_default_to_the_faster_runtime_and_precision_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRESHPROOF_INFERENCE_BACKEND", raising=False)
    monkeypatch.delenv("FRESHPROOF_INFERENCE_PRECISION", raising=False)
    monkeypatch.delenv("FRESHPROOF_INFERENCE_THREADS", raising=False)
    s = Settings(_env_file=None)
    assert (s.inference_backend, s.inference_precision) == ("auto", "auto")
    assert s.inference_threads == 1


def test_backend_and_precision_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHPROOF_INFERENCE_BACKEND", "onnxruntime")
    monkeypatch.setenv("FRESHPROOF_INFERENCE_PRECISION", "f32")
    s = Settings(_env_file=None)
    assert (s.inference_backend, s.inference_precision) == ("onnxruntime", "f32")


def test_choosing_onnxruntime_alone_means_its_f32(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator who sets only the backend to ONNX Runtime gets a service, not a refusal
    because the default precision (auto) is OpenVINO's choice; naming bf16 with it is still refused
    (vision.runtime.load_backend)."""
    monkeypatch.setenv("FRESHPROOF_INFERENCE_BACKEND", "onnxruntime")
    monkeypatch.delenv("FRESHPROOF_INFERENCE_PRECISION", raising=False)
    s = Settings(_env_file=None)
    assert (s.inference_backend, s.inference_precision) == ("onnxruntime", "f32")
    monkeypatch.setenv("FRESHPROOF_INFERENCE_PRECISION", "bf16")
    assert Settings(_env_file=None).inference_precision == "bf16"


@pytest.mark.parametrize(("field", "value"), [("backend", "tensorrt"), ("precision", "int4")])
def test_unknown_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"FRESHPROOF_INFERENCE_{field.upper()}", value)
    with pytest.raises(ValidationError, match=f"inference_{field}"):
        Settings(_env_file=None)


def test_settings_and_file_combine_in_the_services(tmp_path: Path) -> None:
    from api.services import claims_config

    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"compensation": {"auto_pay_limit": "30.00"}, **{"lot_alert": {"claims": 5}}})
    )
    config = claims_config(
        Settings(data_dir=tmp_path, claims_policy_file=path, auto_pay_min_confidence=0.7)
    )
    assert config.compensation.auto_pay_limit == Decimal("30.00")  # the file
    assert config.compensation.auto_pay_min_confidence == 0.7  # the setting
    assert config.lot_alert_claims == 5
    assert config.tickets.sla["P0"].first_response > timedelta(0)  # built-in table kept
