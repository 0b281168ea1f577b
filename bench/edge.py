"""The edge under hostile clients (issue 22, items 6-8), each figure beside its peer.

1. An unauthenticated 100 MB upload: body bytes the app pulled through ASGI ``receive``
   with the edge, and with the app as it was (the key checked by a route dependency, after
   FastAPI has read the body), in-process.
2. EPCIS parsing: a document as large as the limits allow (1,000 events, 20,000 readings) and
   one over them (100 events of 1,000 readings): time and peak memory (tracemalloc) with
   the caps, and the over-limit one without them.
3. ``freshproof serve`` as a child process: ``/healthz`` latency idle, while N slow clients
   hold connections (each sent part of a request line), and while the maximal EPCIS
   document is parsed; and how many slow clients the server had closed after its header
   timeout.

    python bench/edge.py [--slow 5000] [--repeats 5]

N is lowered to fit ``ulimit -n`` (this process holds one descriptor per slow client).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.edge import EdgeMiddleware
from api.settings import Settings
from bench.server import Server
from supplychain.epcis import CaptureLimits, EPCISError, build, parse_document

MB = 1024 * 1024
LOT = "urn:epc:class:lgtin:4012345.012345.BENCH"


# ---------------------------------------------------------------- 1. upload before the key


def _pulled(app: Any, size: int) -> tuple[int, int, float]:
    """(status, body bytes pulled, seconds) for an unauthenticated multipart upload."""
    boundary = "b"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="claim"\r\n\r\n{{}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        left = size - len(head) - len(tail)
        while left > 0:
            yield b"\xff" * min(64 * 1024, left)
            left -= 64 * 1024
        yield tail

    it = chunks()
    pulled = 0
    status = 0
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal pulled, done
        chunk = None if done else next(it, None)
        if chunk is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/claims",
        "raw_path": b"/v1/claims",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            (b"content-length", str(size).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "state": {},
    }
    started = time.perf_counter()
    anyio.run(app, scope, receive, send)
    return status, pulled, time.perf_counter() - started


def bench_upload(tmp: Path) -> None:
    """Bytes pulled by the app for a refused 100 MB upload, with and without the edge."""
    settings = Settings(data_dir=tmp / "upload", anchor_backend="none")
    with_edge = create_app(settings)
    without = create_app(settings)
    without.user_middleware = [m for m in without.user_middleware if m.cls is not EdgeMiddleware]
    status, pulled, took = _pulled(with_edge, 100 * MB)
    status0, pulled0, took0 = _pulled(without, 100 * MB)
    print("1. unauthenticated 100 MB upload (POST /v1/claims, no key), in-process ASGI")
    print(f"   with the edge:        {status}, {pulled:>11,} body bytes pulled, {took:6.3f} s")
    print(f"   key checked in route: {status0}, {pulled0:>11,} body bytes pulled, {took0:6.3f} s")


# ---------------------------------------------------------------- 2. EPCIS parsing


def epcis_document(events: int, readings: int, *, broken_last: bool = False) -> bytes:
    """An EPCIS document of ``events`` inspections with ``readings`` temperatures each."""
    at = datetime(2024, 5, 1, tzinfo=UTC)
    body = [_inspection(at + timedelta(hours=i), readings).to_json() for i in range(events)]
    if broken_last:
        body[-1]["eventTime"] = "not a time"
    return json.dumps(build.epcis_document(body, creation_date=datetime.now(UTC))).encode()


def _inspection(t: datetime, readings: int) -> build.ObjectEvent:
    """40 kg of the lot inspected at ``t``, with ``readings`` temperatures a second apart."""
    reports = tuple(
        build.SensorReport(
            "gs1:Temperature", value=4.0 + (j % 10) / 10, uom="CEL", time=t + timedelta(seconds=j)
        )
        for j in range(readings)
    )
    return build.ObjectEvent(
        event_time=t,
        biz_step="inspecting",
        quantities=(build.Quantity(LOT, 40, "KGM"),),
        sensors=(build.SensorElement(reports),),
    )


def _measure(fn: Callable[[], object]) -> tuple[float, float, str]:
    """(seconds, peak MB under tracemalloc, outcome); timed without tracemalloc."""
    started = time.perf_counter()
    outcome = _outcome(fn)
    took = time.perf_counter() - started
    tracemalloc.start()
    _outcome(fn)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return took, peak, outcome


def _outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except EPCISError as exc:
        return type(exc).__name__
    return "parsed"


def bench_epcis(settings: Settings) -> None:
    """Parse time and memory of the largest allowed document and of one over the caps."""
    caps = settings.capture_limits
    uncapped = CaptureLimits(max_events=caps.max_events)
    now = datetime.now(UTC) + timedelta(days=3650)
    maximal = epcis_document(1000, caps.max_readings // 1000 if caps.max_readings else 20)
    over = epcis_document(100, 1000)
    many = epcis_document(100, 500)  # under the byte cap, over the readings cap
    print("2. EPCIS parse (this process, one thread)")
    print(
        f"   limits: {caps.max_events} events, {caps.max_bytes:,} bytes, "
        f"{caps.max_readings:,} readings"
    )
    rows = [
        ("maximal allowed, with caps", maximal, caps),
        ("over the caps, with caps", over, caps),
        ("over the readings cap, with caps", many, caps),
        ("over the readings cap, no caps", many, uncapped),
        ("over the caps, no caps (before)", over, uncapped),
    ]
    for name, doc, limits in rows:
        took, peak, outcome = _measure(partial(parse_document, doc, limits=limits, now=now))
        print(
            f"   {name:<34} {len(doc) / MB:6.1f} MiB  {took:6.2f} s  peak {peak:7.1f} MB  {outcome}"
        )


# ---------------------------------------------------------------- 3. the server


def _latency(base: str) -> float:
    started = time.perf_counter()
    resp = httpx.get(f"{base}/healthz", timeout=30)
    resp.raise_for_status()
    return time.perf_counter() - started


def _median(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms, max {max(values) * 1000:7.1f} ms"


def bench_server(tmp: Path, slow: int, repeats: int) -> None:
    """/healthz idle, under slow clients, and during a maximal EPCIS parse."""
    env = os.environ | {
        "FRESHPROOF_DATA_DIR": str(tmp / "server"),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
        "FRESHPROOF_SERVER_HEADER_TIMEOUT_SECONDS": "10",
    }
    server = Server(env, tmp / "server.log")
    server.start()
    try:
        idle = [_latency(server.base) for _ in range(repeats)]
        print(f"3. freshproof serve (header timeout 10 s), ulimit -n {_fd_limit()}")
        print(f"   /healthz idle:                          {_median(idle)}")
        socks: list[socket.socket] = []
        opened = time.monotonic()
        for _ in range(slow):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
            socks.append(s)
        took = time.monotonic() - opened
        under = [_latency(server.base) for _ in range(repeats)]
        print(
            f"   /healthz, {slow} slow clients held:       {_median(under)}  (opened in {took:.1f} s)"
        )
        closed = _closed_after(socks, opened + 10 + 10)
        print(f"   slow clients closed by the server within 20 s of opening: {closed}/{slow}")
        for s in socks:
            s.close()
        _during_parse(server)
        for _ in range(500):  # each one a warning in the server's log
            with socket.create_connection(("127.0.0.1", server.port)) as bad:
                bad.sendall(b"NOT HTTP\r\n\r\n")
                bad.recv(1024)
    finally:
        server.stop()
    lines = server.count("Invalid HTTP request received.")
    print(f"   500 malformed requests: {lines} log lines (the first, then the count at shutdown)")


def _closed_after(socks: list[socket.socket], deadline: float) -> int:
    closed = 0
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            while s.recv(4096):
                pass
            closed += 1
        except ConnectionResetError:
            closed += 1
        except TimeoutError:
            pass
    return closed


def _during_parse(server: Server) -> None:
    admin = (Path(server.env["FRESHPROOF_DATA_DIR"]) / "admin.key").read_text().strip()
    resp = httpx.post(
        f"{server.base}/v1/keys",
        json={
            "role": "supply_chain",
            "name": "bench",
            "parties": ["urn:epc:id:pgln:4012345.00000"],
        },
        headers={"Authorization": f"Bearer {admin}"},
    )
    resp.raise_for_status()
    key = resp.json()["key"]
    doc = epcis_document(1000, 20, broken_last=True)  # refused once parsed: nothing written
    answer: list[tuple[int, float]] = []

    def capture() -> None:
        started = time.perf_counter()
        r = httpx.post(
            f"{server.base}/v1/events",
            content=doc,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=300,
        )
        answer.append((r.status_code, time.perf_counter() - started))

    worker = threading.Thread(target=capture)
    worker.start()
    polls = []
    while worker.is_alive():
        polls.append(_latency(server.base))
    worker.join()
    status, took = answer[0]
    print(
        f"   /healthz during a maximal EPCIS parse ({len(doc) / MB:.1f} MiB, {took:.2f} s, "
        f"{status}): {_median(polls)} over {len(polls)} polls"
    )


def _fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    """Run the three parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=5000, help="slow clients to hold")
    parser.add_argument("--repeats", type=int, default=5, help="/healthz calls per figure")
    args = parser.parse_args()
    slow = min(args.slow, _fd_limit() - 200)
    if slow < args.slow:
        print(f"ulimit -n is {_fd_limit()}: holding {slow} slow clients, not {args.slow}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_upload(Path(tmp))
        bench_epcis(Settings(data_dir=Path(tmp) / "epcis"))
        bench_server(Path(tmp), slow, args.repeats)


if __name__ == "__main__":
    main()
