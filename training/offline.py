"""Keep ultralytics off the network: no hub sync, no auto-install, no asset downloads.

Must run before ``ultralytics`` is first imported, since it reads these at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["configure_offline"]


def configure_offline(config_dir: Path) -> None:
    """Point ultralytics at a project-local config dir and switch off everything online."""
    config_dir = config_dir.resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("YOLO_VERBOSE", "false")
    from ultralytics.utils import SETTINGS  # must follow the env vars

    wanted = {
        "sync": False,
        "mlflow": False,
        "wandb": False,
        "tensorboard": False,
        "clearml": False,
        "comet": False,
        "dvc": False,
        "neptune": False,
        "raytune": False,
        "vscode_msg": False,
        "openvino_msg": False,
        # downloads would land in weights/, which holds only shipped models
        "weights_dir": str(config_dir / "weights"),
        "runs_dir": str(config_dir / "runs"),
    }
    SETTINGS.update({k: v for k, v in wanted.items() if k in SETTINGS})
