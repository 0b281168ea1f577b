"""Settings refuse runtimes and precisions the service cannot honour, at start-up."""

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_backend_and_precision_default_to_reproducible_f32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRESHPROOF_INFERENCE_BACKEND", raising=False)
    monkeypatch.delenv("FRESHPROOF_INFERENCE_PRECISION", raising=False)
    s = Settings(_env_file=None)
    assert (s.inference_backend, s.inference_precision) == ("onnxruntime", "f32")


def test_backend_and_precision_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHPROOF_INFERENCE_BACKEND", "openvino")
    monkeypatch.setenv("FRESHPROOF_INFERENCE_PRECISION", "bf16")
    s = Settings(_env_file=None)
    assert (s.inference_backend, s.inference_precision) == ("openvino", "bf16")


@pytest.mark.parametrize(("field", "value"), [("backend", "tensorrt"), ("precision", "int4")])
def test_unknown_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"FRESHPROOF_INFERENCE_{field.upper()}", value)
    with pytest.raises(ValidationError, match=f"inference_{field}"):
        Settings(_env_file=None)
