"""Inference backends behind one small protocol; the serving path never imports torch.

Every backend reads the same ONNX file the manifest hash-checks, so the evidence names
exactly the network that ran whichever runtime ran it. The service runs backend ``auto`` at
precision ``auto`` by default (its settings): each network is loaded on ONNX Runtime and on
OpenVINO at f32 and the faster here is kept (the two give the same scores within f32
rounding; which is faster depends on the CPU: OpenVINO on the AVX-512 machines measured,
ONNX Runtime on an AVX2-only EPYC), then OpenVINO's bf16 replaces it only where it measures
clearly faster still (``BF16_MARGIN``), within the agreement bench's tolerance of stock.
``load_backend`` and the training commands default to ONNX Runtime f32. The runtime and
precision that actually ran are recorded with every result. The PyTorch reference backend
lives in ``vision.runtime_torch`` (benches only) so that nothing here can pull torch in.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vision.errors import ModelError

__all__ = [
    "AUTO",
    "BACKENDS",
    "BF16_MARGIN",
    "LOAD_CHOICES",
    "PRECISIONS",
    "Backend",
    "OnnxRuntimeBackend",
    "OpenVinoBackend",
    "bf16_capable",
    "choose",
    "fixed_batch",
    "load_backend",
    "median_times",
]

BACKENDS: tuple[str, ...] = ("onnxruntime", "openvino")
PRECISIONS: tuple[str, ...] = ("f32", "bf16")
AUTO = "auto"
"""A precision (or a backend) chosen per network when it is loaded: what measures faster here."""
LOAD_CHOICES: tuple[str, ...] = (AUTO, *BACKENDS)
"""What ``load_backend`` takes as its backend: one of ``BACKENDS``, or ``auto``."""

BF16_MARGIN = 0.9
"""``auto`` keeps bf16 only when its median run takes at most this share of f32's: f32 gives
the same scores on any CPU, so bf16 has to win clearly. On a 2-core EPYC with avx512_bf16
bf16 served 2.39x stock against f32's 1.74x; on a 2-core Xeon with avx512_bf16 and no AMX
the detector ran 14.1 ms at bf16 against 10.1 at f32 (bench/inference.py: 1.41x stock
against 1.64x), so neither precision is right on every CPU."""

log = logging.getLogger(__name__)

_PROBE_RUNS = 12  # timed runs per precision, interleaved, after one untimed run each


class Backend(Protocol):
    """Runs a float32 NCHW batch through one network and returns its raw output."""

    name: str
    precision: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for ``batch`` (N, 3, H, W) float32 in 0..1."""
        ...


def fixed_batch(backend: Backend) -> int | None:
    """The batch size the backend's network was exported with; None when it takes any.

    A backend that does not say (a test double) is taken to run one image at a time.
    """
    return getattr(backend, "batch", 1)


def _batch_dim(dim: object) -> int | None:
    """An input's first dimension as the runtime reports it: a number, or a name (dynamic)."""
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU, float32, so results are reproducible bit for bit."""

    name = "onnxruntime"
    precision = "f32"

    def __init__(self, model_path: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort  # keep import cost off module import

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle pool threads otherwise spin on a core waiting for the next operator. The API
        # decodes, hashes and writes evidence on the same cores, and a server runs several
        # sessions: on two shared cores one photo took 79-92 ms spinning and 26-34 ms not
        # (scores unchanged; spinning decides only who waits how).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {model_path.name}: {exc}") from exc
        first = self._session.get_inputs()[0]
        self._input = first.name
        self.batch = _batch_dim(first.shape[0])
        self.input_shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in first.shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch."""
        out: np.ndarray = self._session.run(None, {self._input: batch})[0]
        return out


# OpenVINO's short type names happen to be ours; the table keeps that an explicit choice.
_OV_HINT = {"f32": "f32", "bf16": "bf16"}


class OpenVinoBackend:
    """OpenVINO on the CPU, compiled from the same ONNX file.

    The precision hint is always set: OpenVINO's CPU plugin otherwise picks bf16 by itself
    on CPUs that have it, and evidence must not silently change with the hardware.
    ``precision`` is what the compiled model reports, not what was asked for, so a CPU
    without bf16 that falls back to f32 is recorded as f32. ``auto`` compiles both and
    keeps the faster on this CPU (``BF16_MARGIN``); the one kept is recorded likewise.
    """

    name = "openvino"

    def __init__(self, model_path: Path, *, precision: str = "f32", threads: int = 0) -> None:
        if precision not in _OV_HINT and precision != AUTO:
            raise ModelError(
                f"unknown precision {precision!r} for openvino; available: "
                f"{', '.join((*PRECISIONS, AUTO))}"
            )
        try:
            import openvino as ov  # a dependency of the serving install
        except ImportError as exc:
            raise ModelError(
                "inference backend 'openvino' needs the openvino package: "
                "pip install 'freshproof[openvino]' (or set FRESHPROOF_INFERENCE_BACKEND=onnxruntime)"
            ) from exc
        config: dict[str, Any] = {
            # One stream; requests from several threads still run side by side on it (the
            # predictor's pool runs a photo's two networks, and other photos', at once).
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
            # A small thread budget means several models share the cores (one per worker);
            # pinned, their threads land on the same core: 58 vs 91 images/s with two
            # one-thread workers on 2 cores (bench/inference.py).
            config["ENABLE_CPU_PINNING"] = False
        try:
            core = ov.Core()
            network = core.read_model(str(model_path))

            def compiled(hint: str) -> Any:
                return core.compile_model(
                    network, "CPU", {**config, "INFERENCE_PRECISION_HINT": _OV_HINT[hint]}
                )

            self.bf16_capable = bf16_capable(core)
            if precision == AUTO:
                f32 = compiled("f32")
                self._compiled = _faster(f32, compiled("bf16")) if self.bf16_capable else f32
            else:
                self._compiled = compiled(precision)
        except Exception as exc:  # OpenVINO raises RuntimeError for everything
            raise ModelError(
                f"cannot load ONNX model {model_path.name} in OpenVINO: {exc}"
            ) from exc
        # An ov.Type; to_string() gives its short name ("f32", "bf16", "f16").
        self.precision: str = self._compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self._output = self._compiled.output(0)
        first = self._compiled.input(0).get_partial_shape()[0]
        self.batch = _batch_dim(first.get_length() if first.is_static else None)
        # An infer request is not thread-safe and the API runs inspections on a thread
        # pool: each thread gets its own request on the one compiled model.
        self._local = threading.local()
        # One inference now, on this thread alone. The binding initialises a function-local
        # static on its first tensor copy while holding the GIL; two threads arriving there
        # at once (a photo's detector and classifier, started side by side) deadlocked: one
        # waited for the static's guard holding the GIL, the other for the GIL inside it.
        self.input_shape = tuple(_input_shape(self._compiled))
        probe = np.zeros(self.input_shape, np.float32)
        self._compiled.create_infer_request().infer({0: probe})

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        # share_inputs=True: the runtime reads the batch where it lies instead of copying it
        # into the request's own buffer first (the same outputs bit for bit; 0.25 ms of CPU
        # a photo for the detector's 640 px input). The call is synchronous, so the array
        # outlives its use. share_outputs=False copies the result out of the request's
        # reused buffer.
        result = request.infer({0: batch}, share_inputs=True, share_outputs=False)
        return np.asarray(result[self._output])


def _input_shape(compiled: Any) -> list[int]:
    return [d.get_length() if d.is_static else 1 for d in compiled.input(0).get_partial_shape()]


def bf16_capable(core: Any) -> bool:
    """Whether OpenVINO's CPU plugin runs bf16 on this CPU (its optimisation capabilities name
    BF16). Without it a bf16 compile falls back to f32: ``auto`` then compiles f32 alone
    instead of a second, identical network (about 0.3 s a network at load). Unknown: True,
    and ``_faster`` sees the fallback."""
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an older or stripped plugin: let the compile tell
        return True


def _faster(f32: Any, bf16: Any) -> Any:
    """Of one network compiled at f32 and at bf16, the one to serve (``choose``); f32 also
    where the CPU has no bf16 and the plugin fell back to f32."""
    if bf16.get_property("INFERENCE_PRECISION_HINT").to_string() != "bf16":
        return f32
    probe = {0: np.zeros(_input_shape(f32), np.float32)}
    runs = [partial(compiled.create_infer_request().infer, probe) for compiled in (f32, bf16)]
    f32_s, bf16_s = median_times(runs)
    chosen = (f32, bf16)[choose([f32_s], bf16_s)]
    log.info(
        "precision auto: %s (median run %.2f ms at f32, %.2f ms at bf16, input %s)",
        "bf16" if chosen is bf16 else "f32",
        f32_s * 1e3,
        bf16_s * 1e3,
        "x".join(map(str, probe[0].shape)),
    )
    return chosen


def median_times(runs: Sequence[Callable[[], object]]) -> list[float]:
    """Each run's median time in seconds on this CPU: one untimed call each (first
    allocations), then ``_PROBE_RUNS`` calls each, alternating, so load falls on all alike."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(_PROBE_RUNS):
        for run, taken in zip(runs, times, strict=True):
            started = time.perf_counter()
            run()
            taken.append(time.perf_counter() - started)
    return [statistics.median(taken) for taken in times]


def choose(f32: Sequence[float], bf16: float | None) -> int:
    """Which of a network's candidates to serve, by their median times: the index of the
    fastest f32 one, or ``len(f32)`` for bf16 when there is one and its time is at most
    ``BF16_MARGIN`` of that fastest f32's. The f32 candidates give the same scores within f32
    rounding, so the faster simply wins; bf16 changes them a little and must win clearly."""
    fastest = min(range(len(f32)), key=f32.__getitem__)
    if bf16 is not None and bf16 <= BF16_MARGIN * f32[fastest]:
        return len(f32)
    return fastest


_Loadable = OnnxRuntimeBackend | OpenVinoBackend
"""The runtimes backend ``auto`` times (each knows its input's shape)."""


def _measured(model_path: Path, *, precision: str, threads: int) -> Backend:
    """Backend ``auto``: the network on each runtime that can run ``precision`` here, timed
    on this CPU, the one ``choose`` picks kept (the others are dropped)."""
    if precision == "bf16":  # only OpenVINO runs bf16
        return OpenVinoBackend(model_path, precision="bf16", threads=threads)
    makers: list[Callable[[], _Loadable]] = [
        partial(OnnxRuntimeBackend, model_path, threads=threads),
        partial(OpenVinoBackend, model_path, precision="f32", threads=threads),
    ]
    f32 = _loaded(makers, model_path)
    bf16: OpenVinoBackend | None = None
    if precision == AUTO:
        candidate = next((b for b in f32 if isinstance(b, OpenVinoBackend)), None)
        if candidate is not None and candidate.bf16_capable:
            bf16 = OpenVinoBackend(model_path, precision="bf16", threads=threads)
            if bf16.precision != "bf16":  # the plugin fell back to f32
                bf16 = None
    candidates = [*f32, *([bf16] if bf16 is not None else [])]
    probes = [np.zeros(b.input_shape, np.float32) for b in candidates]
    medians = median_times([partial(b.run, x) for b, x in zip(candidates, probes, strict=True)])
    chosen = candidates[choose(medians[: len(f32)], medians[-1] if bf16 is not None else None)]
    log.info(
        "backend auto for %s: %s %s (median run %s, input %s)",
        model_path.name,
        chosen.name,
        chosen.precision,
        ", ".join(
            f"{b.name} {b.precision} {m * 1e3:.2f} ms"
            for b, m in zip(candidates, medians, strict=True)
        ),
        "x".join(map(str, probes[0].shape)),
    )
    return chosen


def _loaded(makers: Sequence[Callable[[], _Loadable]], model_path: Path) -> list[_Loadable]:
    """The backends that load; a runtime that cannot (not installed, refuses the file) is
    left out with a warning while another loads, else its error is raised."""
    loaded: list[_Loadable] = []
    errors: list[ModelError] = []
    for make in makers:
        try:
            loaded.append(make())
        except ModelError as exc:
            errors.append(exc)
    if not loaded:
        raise errors[0]
    for error in errors:
        log.warning("backend auto for %s: a runtime left out: %s", model_path.name, error)
    return loaded


def load_backend(
    kind: str, model_path: Path, *, precision: str = "f32", threads: int = 0
) -> Backend:
    """Build the named backend for an ONNX file; unknown names are a ``ModelError``.

    Backend ``auto``: the runtime that measures faster here (``_measured``). Precision
    ``auto``: OpenVINO measures which precision serves faster here; ONNX Runtime runs f32.
    """
    if precision not in PRECISIONS and precision != AUTO:
        raise ModelError(
            f"unknown precision {precision!r}; available: {', '.join((*PRECISIONS, AUTO))}"
        )
    if kind == AUTO:
        return _measured(model_path, precision=precision, threads=threads)
    if kind == "onnxruntime":
        if precision == AUTO:
            return OnnxRuntimeBackend(model_path, threads=threads)
        if precision != "f32":
            raise ModelError(
                f"onnxruntime runs f32 only; precision {precision!r} needs backend 'openvino'"
            )
        return OnnxRuntimeBackend(model_path, threads=threads)
    if kind == "openvino":
        return OpenVinoBackend(model_path, precision=precision, threads=threads)
    raise ModelError(f"unknown inference backend {kind!r}; available: {', '.join(LOAD_CHOICES)}")
