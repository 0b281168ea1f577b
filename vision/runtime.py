"""Inference backends behind one small protocol; the serving path never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from vision.errors import ModelError

__all__ = ["Backend", "OnnxRuntimeBackend", "load_backend"]


class Backend(Protocol):
    """Runs a float32 NCHW batch through the detector and returns its raw output."""

    name: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for ``batch`` (N, 3, H, W) float32 in 0..1."""
        ...


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU, float32, so results are reproducible bit for bit."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort  # keep import cost off module import

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {model_path.name}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch."""
        out: np.ndarray = self._session.run(None, {self._input: batch})[0]
        return out


def load_backend(kind: str, model_path: Path, *, threads: int = 0) -> Backend:
    """Build the named backend for an ONNX file."""
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(model_path, threads=threads)
    raise ModelError(f"unknown inference backend {kind!r}; available: onnxruntime")
