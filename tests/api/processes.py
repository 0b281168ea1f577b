"""``freshproof serve`` as a real child process on a free port, as in production."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["Server", "serve"]


@dataclass
class Server:
    """A running server: its base URL and port, and (once stopped) its stderr."""

    url: str
    port: int
    data_dir: Path
    stderr: str = ""

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.data_dir / 'admin.key').read_text().strip()}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(tmp: Path, *, name: str = "stderr", **env: str) -> Iterator[Server]:
    """``freshproof serve`` in a subprocess on a free port, stopped with SIGINT at the end.

    ``env`` adds FRESHPROOF_* settings; its stderr goes to ``tmp/<name>.log``, so two
    servers on one data directory keep separate logs.
    """
    port = _free_port()
    data_dir = tmp / "var"
    environ = os.environ | {
        "FRESHPROOF_DATA_DIR": str(data_dir),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
        **env,
    }
    log = tmp / f"{name}.log"
    cli = Path(sys.executable).with_name("freshproof")
    err = log.open("w")
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    server = Server(f"http://127.0.0.1:{port}", port, data_dir)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
        server.stderr = log.read_text()
