"""``freshproof serve`` as a child process on a free port, for the benches that drive it.

One way to start it, wait until it answers and stop it (cleanly, or with SIGKILL for the
crash scenarios), instead of a loop per bench.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

__all__ = ["REPO", "Server", "free_port"]

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``freshproof serve`` as a child process on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> float:
        """Start it and wait until /healthz answers; seconds it took."""
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        with httpx.Client(base_url=self.base, timeout=5) as client:
            while time.monotonic() - started < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited ({self.proc.returncode}): {self.tail()}")
                with suppress(httpx.HTTPError):
                    if client.get("/healthz").status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.1)
        self.kill9()
        raise RuntimeError(f"server not ready after {timeout:.0f}s: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def count(self, text: str) -> int:
        """How often ``text`` appears in its log."""
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, a clean shutdown (SIGKILL after 20 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
