"""The PyTorch reference backend computes what the ONNX export of the same checkpoint does.

Runs in a child process: importing ultralytics patches ``PIL.Image.open`` process-wide,
which would change how every later test's image decoding fails.
"""

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import run_in_child


def compare(tmp: Path) -> dict[str, object]:
    """Random-init 4-label YOLO11n at 64 px: checkpoint -> ONNX; both backends on one batch."""
    from training.offline import configure_offline

    configure_offline(tmp / "yolo")
    import numpy as np
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from training.export import export_onnx
    from vision.labels import LABELS
    from vision.runtime import OnnxRuntimeBackend
    from vision.runtime_torch import UltralyticsTorchBackend, checkpoint_for

    torch.manual_seed(0)
    model = DetectionModel("yolo11n.yaml", nc=len(LABELS), verbose=False)
    model.names = dict(enumerate(LABELS))
    model.args = {"task": "detect", "imgsz": 64}
    checkpoint = tmp / "m.pt"
    torch.save({"model": model, "train_args": model.args}, checkpoint)
    # A shipped network beside the checkpoint (weights/x.onnx next to weights/x.pt) must
    # survive an export elsewhere: ultralytics writes its output beside what it loaded.
    (tmp / "m.onnx").write_bytes(b"shipped")
    onnx = export_onnx(
        checkpoint=checkpoint, imgsz=64, dest=tmp / "n.onnx", config_dir=tmp / "yolo"
    )
    sibling_kept = (tmp / "m.onnx").read_bytes() == b"shipped"
    (tmp / "n.pt").write_bytes(checkpoint.read_bytes())
    batch = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    torch_out = UltralyticsTorchBackend(checkpoint_for(onnx)).run(batch)
    onnx_out = OnnxRuntimeBackend(onnx).run(batch)
    return {
        "sibling_kept": sibling_kept,
        "shapes": [list(torch_out.shape), list(onnx_out.shape)],
        "score_diff": float(np.abs(torch_out[:, 4:] - onnx_out[:, 4:]).max()),
        "box_diff": float(np.abs(torch_out[:, :4] - onnx_out[:, :4]).max()),
    }


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="the train extra (ultralytics) is not installed",
)
def test_torch_reference_matches_onnx_export(tmp_path: Path) -> None:
    result = run_in_child("tests.vision.test_runtime_torch:compare", tmp_path)
    anchors = (64 // 8) ** 2 + (64 // 16) ** 2 + (64 // 32) ** 2
    assert result["sibling_kept"] is True
    assert result["shapes"] == [[1, 8, anchors]] * 2
    assert result["score_diff"] < 1e-4
    assert result["box_diff"] < 1e-2  # pixels of a 64 px input


def test_missing_checkpoint_is_a_model_error(tmp_path: Path) -> None:
    from vision.errors import ModelError
    from vision.runtime_torch import UltralyticsTorchBackend

    with pytest.raises(ModelError, match="is missing"):
        UltralyticsTorchBackend(tmp_path / "absent.pt")
