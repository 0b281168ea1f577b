"""Train a freshproof detector with ultralytics, offline and reproducibly."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.offline import configure_offline

__all__ = [
    "TrainResult",
    "common_args",
    "describe_hardware",
    "offline_yolo",
    "start_weights",
    "train_detector",
]


@dataclass(frozen=True)
class TrainResult:
    """Where the best checkpoint is and how long training took on what hardware."""

    best: Path
    run_dir: Path
    seconds: float
    hardware: str
    args: dict[str, object]


def describe_hardware(device: str) -> str:
    import torch  # the train extra only

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def offline_yolo(config_dir: Path) -> Any:
    """The ultralytics ``YOLO`` class, imported only after the offline settings are in place."""
    configure_offline(config_dir)
    import ultralytics.utils.torch_utils as tu  # heavy, after configure_offline
    from ultralytics import YOLO

    # ultralytics keeps one core free for its loaders (cpu_count - 1); on a 2-core box that
    # halves training speed, and with images cached in RAM the loaders need little.
    tu.NUM_THREADS = max(1, os.cpu_count() or 1)
    return YOLO


def start_weights(model: str) -> str | bool:
    """``pretrained`` for ultralytics: the checkpoint itself when going on from one.

    ultralytics drops the weights of a ``.pt`` model when ``pretrained=False`` and trains the
    bare architecture, so a continued run must name its checkpoint here too.
    """
    return model if model.endswith(".pt") else False


def common_args(
    *,
    model: str,
    data: Path,
    out_dir: Path,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str,
    workers: int,
    seed: int,
    hours: float | None,
) -> dict[str, object]:
    """Training arguments every freshproof run shares: from scratch (or on from ``model`` when
    it is a checkpoint), offline, reproducible.

    ``amp=False`` because ultralytics' AMP check downloads yolo11n.pt; ``plots=False`` because
    plotting fetches a font.
    """
    args: dict[str, object] = {
        "data": str(data),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "workers": workers,
        "seed": seed,
        "deterministic": True,
        "amp": False,
        "plots": False,
        "pretrained": start_weights(model),
        "project": str(out_dir.resolve()),
        "name": "train",
        "exist_ok": True,
        "patience": 0,
        "verbose": False,
    }
    if hours:
        # ultralytics then fits the epoch count and the LR schedule to the time budget
        args["time"] = hours
    return args


def train_detector(
    *,
    data: Path,
    out_dir: Path,
    model: str = "yolo11n.yaml",
    epochs: int = 30,
    imgsz: int = 320,
    batch: int = 32,
    device: str = "cpu",
    workers: int = 2,
    seed: int = 0,
    fraction: float = 1.0,
    cache: bool = True,
    hours: float | None = None,
    warmup_epochs: float = 3.0,
    close_mosaic: int = 10,
    config_dir: Path = Path("var/yolo-config"),
) -> TrainResult:
    """Train from scratch (no pretrained weights can be fetched) and return the best weights."""
    YOLO = offline_yolo(config_dir)
    args = common_args(
        model=model,
        data=data,
        out_dir=out_dir,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        workers=workers,
        seed=seed,
        hours=hours,
    ) | {
        "fraction": fraction,
        "cache": "ram" if cache else False,
        "val": True,
        "warmup_epochs": warmup_epochs,
        "close_mosaic": close_mosaic,
    }
    start = time.perf_counter()
    yolo = YOLO(model)
    yolo.train(**args)
    seconds = time.perf_counter() - start
    run_dir = out_dir.resolve() / "train"
    result = TrainResult(
        run_dir / "weights" / "best.pt",
        run_dir,
        seconds,
        describe_hardware(device),
        {"model": model, **args},
    )
    (run_dir / "freshproof_train.json").write_text(
        json.dumps({"seconds": seconds, "hardware": result.hardware, "args": result.args}, indent=2)
    )
    return result
