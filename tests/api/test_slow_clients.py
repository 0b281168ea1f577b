"""A real ``freshproof serve`` against clients that hold connections (issue 22, items 7 and 8).

22,000 sockets each sending part of a request line exhausted the server's file descriptors,
and the log grew by 473,087 identical tracebacks. Here the server runs as a subprocess, as
in production, with short timeouts: a few hundred slow clients are closed after the header
timeout while ``/healthz`` keeps answering, a stalled body is closed after the body timeout,
a repeated warning is logged once with its count, and ``/healthz`` keeps answering while an
EPCIS document as large as the limits allow is parsed. bench/edge.py runs 5,000.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.log_repeats import RepeatFilter
from tests.api.processes import Server, serve
from tests.epcis_events import document, lot_event

SLOW_CLIENTS = 300
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
LOT = "urn:epc:class:lgtin:4012345.012345.SLOW-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(
        tmp_path_factory.mktemp("slow"),
        FRESHPROOF_SERVER_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        FRESHPROOF_SERVER_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
    ) as s:
        yield s


def _slow_clients(port: int, n: int) -> list[socket.socket]:
    """``n`` connections, each having sent part of a request line and nothing more."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        socks.append(s)
    return socks


def _closed_within(s: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it was still open after ``seconds``."""
    s.settimeout(seconds)
    got = b""
    try:
        while chunk := s.recv(4096):
            got += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return got


def _healthz(url: str) -> float:
    t = time.perf_counter()
    resp = httpx.get(f"{url}/healthz", timeout=10)
    assert resp.status_code == 200
    return time.perf_counter() - t


def test_healthz_answers_while_slow_clients_hold_connections_and_they_are_closed(
    server: Server,
) -> None:
    started = time.monotonic()
    socks = _slow_clients(server.port, SLOW_CLIENTS)
    try:
        held = time.monotonic() - started
        assert held < HEADER_TIMEOUT, "opening the clients took longer than the timeout"
        latencies = [_healthz(server.url) for _ in range(3)]
        assert max(latencies) < 1.0, latencies
        # Each slow client is answered 408 and closed once the header timeout has passed.
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        answers = [_closed_within(s, max(0.01, deadline - time.monotonic())) for s in socks]
        assert all(a is not None for a in answers), "a slow client was never closed"
        assert all(a is not None and a.startswith(b"HTTP/1.1 408") for a in answers)
        assert time.monotonic() - started >= HEADER_TIMEOUT * 0.9  # not closed early
    finally:
        for s in socks:
            s.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    server: Server,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        assert _closed_within(s, HEADER_TIMEOUT + 5) is not None


def test_a_stalled_body_is_closed_after_the_body_timeout(server: Server) -> None:
    # The login form is public: the app reads its body, which stops after 10 bytes.
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(
            b"POST /review/login HTTP/1.1\r\nHost: slow\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"api_key=ab"
        )
        t = time.monotonic()
        assert _closed_within(s, BODY_TIMEOUT + 5) is not None, "a stalled body was kept open"
        assert time.monotonic() - t >= BODY_TIMEOUT * 0.9


def test_healthz_answers_while_a_maximal_epcis_document_is_parsed(server: Server) -> None:
    admin = server.admin()
    party = "urn:epc:id:pgln:4012345.00000"
    resp = httpx.post(
        f"{server.url}/v1/keys",
        json={"role": "supply_chain", "name": "slow parse", "parties": [party]},
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    supply = {"Authorization": f"Bearer {resp.json()['key']}"}
    # As many readings as the default limit allows (20,000); the last event is broken, so
    # the whole document is refused once parsed and nothing is written.
    at = datetime(2024, 5, 1, tzinfo=UTC)
    temps = tuple(4.0 for _ in range(20))
    events = [
        lot_event(LOT, at + timedelta(hours=i), "inspecting", temps=temps) for i in range(1000)
    ]
    events[-1]["eventTime"] = "not a time"
    body = json.dumps(document(*events)).encode()
    answer: list[httpx.Response] = []

    def capture() -> None:
        answer.append(
            httpx.post(
                f"{server.url}/v1/events",
                content=body,
                headers=supply | {"Content-Type": "application/json"},
                timeout=120,
            )
        )

    worker = threading.Thread(target=capture)
    worker.start()
    polls: list[float] = []
    while worker.is_alive():
        polls.append(_healthz(server.url))
    worker.join()
    assert answer[0].status_code == 422, answer[0].text
    # The event loop kept serving while the document was parsed in a worker thread: more
    # than one /healthz answered before the capture did (parsed on the loop, the first poll
    # waited for the whole parse and it was the only one). How fast: bench/edge.py.
    assert len(polls) >= 2, f"only {len(polls)} /healthz answered during the parse"


def test_identical_warnings_are_logged_once_with_a_count(tmp_path: Path) -> None:
    with serve(
        tmp_path,
        FRESHPROOF_SERVER_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        FRESHPROOF_SERVER_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
    ) as s:
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", s.port)) as bad:
                bad.sendall(b"NOT HTTP\r\n\r\n")
                bad.recv(1024)
    lines = [line for line in s.stderr.splitlines() if "Invalid HTTP request received." in line]
    assert len(lines) == 2, s.stderr  # the first, and the count at shutdown
    assert "repeated 39 more times" in lines[1]


def test_the_repeat_filter_counts_identical_tracebacks_and_reports_them() -> None:
    now = [0.0]
    repeats = RepeatFilter(window=10, clock=lambda: now[0])
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(repeats)
    log = logging.getLogger("tests.repeats")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG)

    def accept() -> None:
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            log.exception("accept failed")

    try:
        for _ in range(1000):
            accept()
        log.error("another error")  # not identical: logged
        log.info("info is never counted")
        log.info("info is never counted")
        now[0] = 11.0
        accept()  # after the window: logged, with the count of the run before it
        for _ in range(5):
            accept()
        repeats.flush()
    finally:
        log.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert messages[:4] == [
        "accept failed",
        "another error",
        "info is never counted",
        "info is never counted",
    ]
    assert records[0].exc_info is not None  # the first keeps its traceback
    assert messages[4] == "accept failed [999 identical before this, within 10 s]"
    assert messages[5] == "accept failed [repeated 5 more times, not logged]"  # the flush
    assert len(messages) == 6
