"""The PyTorch reference backend, through ultralytics: for benches and checks, never serving.

It runs the training checkpoint that ships beside each ONNX file (``<name>-<version>.pt``)
behind the same ``Backend`` protocol, so our own pre- and postprocessing can be fed by the
network as trained: any difference from the ONNX backends is then the runtime's alone.
Import this module only where torch is meant to be loaded (the train extra); the serving
install has neither torch nor ultralytics. Callers that must stay offline call
``training.offline.configure_offline`` before constructing it (vision cannot import it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import ModelError

__all__ = ["UltralyticsTorchBackend", "checkpoint_for"]


def checkpoint_for(model_path: Path) -> Path:
    """The PyTorch checkpoint released beside an ONNX file."""
    return model_path.with_suffix(".pt")


class UltralyticsTorchBackend:
    """An ultralytics checkpoint run eagerly in PyTorch on the CPU, float32."""

    name = "torch"
    precision = "f32"

    def __init__(self, checkpoint: Path, *, threads: int = 0) -> None:
        if not checkpoint.is_file():
            raise ModelError(f"PyTorch checkpoint {checkpoint} is missing")
        try:
            import torch
            from ultralytics import YOLO
        except ImportError as exc:
            raise ModelError(
                "the PyTorch reference backend needs the train extra: "
                "pip install 'freshproof[train]'"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        model: Any = YOLO(str(checkpoint)).model  # typed loosely by ultralytics
        # Fused conv+bn like the ONNX export, so both compute the same graph.
        self._model = model.float().fuse(verbose=False).eval()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; returns what the ONNX export of the same head returns."""
        with self._torch.inference_mode():
            out = self._model(self._torch.from_numpy(np.ascontiguousarray(batch)))
        # Outside export mode the heads return (decoded, raw); the export keeps decoded only.
        if isinstance(out, tuple | list):
            out = out[0]
        result: np.ndarray = out.numpy()
        return result
