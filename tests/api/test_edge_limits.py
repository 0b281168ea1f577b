"""The edge before the body (issue 22, item 6 and 7): key, role, rate and size are decided
from the headers, and a refused request's body is never read.

Requests are driven straight through the ASGI app with a ``receive`` that streams the body
in 64 KiB chunks and counts what the app pulled: a 100 MB upload with no key must be answered
having pulled nothing (the server then has nothing to spool). The rest use TestClient.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from api.auth.access import ROUTE_PERMISSIONS
from api.edge import match_route
from api.limits import BODY_KINDS
from supplychain.epcis import (
    CaptureLimits,
    DocumentTooLargeError,
    TooManyReadingsError,
    parse_document,
)
from tests.api.seeded import as_role, seeded_client, stored_state
from tests.epcis_events import document, lot_event

PROBLEM = "application/problem+json"
CHUNK = 64 * 1024
MB = 1024 * 1024
BOUNDARY = "edgeboundary"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with seeded_client(
        tmp_path_factory.mktemp("edge-limits") / "var",
        max_json_bytes=64 * 1024,
        epcis_max_bytes=256 * 1024,
        epcis_max_readings=50,
    ) as c:
        yield c


@dataclass
class Answer:
    """What the app sent back, and how many body bytes it pulled through ``receive``."""

    status: int
    headers: dict[str, str]
    body: bytes
    pulled: int

    def problem(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith(PROBLEM), self.headers
        doc: dict[str, Any] = json.loads(self.body)
        assert doc["status"] == self.status
        return doc


def _multipart(total: int) -> Iterator[bytes]:
    """A well-formed multipart claim whose photo makes the body ``total`` bytes, lazily."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="claim"\r\n\r\n{{}}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    yield head
    left = total - len(head) - len(tail)
    block = b"\xff" * CHUNK
    while left > 0:
        yield block[: min(CHUNK, left)]
        left -= CHUNK
    yield tail


def _filler(total: int) -> Iterator[bytes]:
    for start in range(0, total, CHUNK):
        yield b" " * min(CHUNK, total - start)


def _drive(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterator[bytes],
) -> Answer:
    """Send one request through the app's ASGI interface, counting the body bytes it pulls."""
    app = client.app
    pulled = 0
    finished = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled, finished
        chunk = None if finished else next(chunks, None)
        if chunk is None:
            if finished:
                return {"type": "http.disconnect"}
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def main() -> None:
        await app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(main)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    hdrs = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], hdrs, body, pulled)


# ---------------------------------------------------------------- key before body


def test_an_unauthenticated_100_mb_upload_is_refused_before_1_mb_is_read(
    client: TestClient,
) -> None:
    before = stored_state(client)
    size = 100 * MB
    answer = _drive(
        client,
        "POST",
        "/v1/claims",
        {
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            "content-length": str(size),
        },
        _multipart(size),
    )
    assert answer.status == 401
    assert answer.problem()["type"].endswith("/credentials-required")
    assert answer.pulled < MB, f"the app read {answer.pulled} bytes of a refused upload"
    assert answer.pulled == 0
    # The rest of the body is not drained either: the connection closes.
    assert answer.headers["connection"] == "close"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert stored_state(client) == before


def test_a_chunked_upload_with_a_rejected_key_is_refused_unread(client: TestClient) -> None:
    answer = _drive(
        client,
        "POST",
        "/v1/claims",
        {
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            "transfer-encoding": "chunked",
            "authorization": "Bearer fpk_00000000_" + "A" * 43,
        },
        _multipart(20 * MB),
    )
    assert answer.status == 401 and answer.pulled == 0
    assert answer.problem()["type"].endswith("/invalid-credentials")


def test_a_key_of_the_wrong_role_is_refused_before_its_body(client: TestClient) -> None:
    # A customer app's key may not capture events: 403 with nothing read.
    headers = {"content-type": "application/json", "content-length": str(200_000)}
    headers |= {"authorization": client.headers["authorization"]}
    answer = _drive(client, "POST", "/v1/events", headers, _filler(200_000))
    assert answer.status == 403 and answer.pulled == 0
    assert answer.problem()["type"].endswith("/forbidden")


def test_no_key_and_a_broken_body_on_keys_is_401_not_422(client: TestClient) -> None:
    resp = client.post(
        "/v1/keys",
        content=b'{"role": "admin", broken',
        headers={"Authorization": "", "Content-Type": "application/json"},
    )
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["type"].endswith("/credentials-required")


def test_a_rate_limited_key_is_refused_before_its_body_and_spends_one_token_a_request(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with seeded_client(
        tmp_path_factory.mktemp("edge-rate") / "var", rate_limit_per_minute=1, rate_limit_burst=3
    ) as c:
        from tests.api.access import grant

        headers = grant(c.app, "admin")  # type: ignore[arg-type]
        # Three in the burst: the edge and the route's check share one token a request.
        for i in range(3):
            party = {"id": f"urn:epc:id:pgln:40999{i}9.00000", "role": "supplier", "name": "P"}
            assert c.post("/v1/parties", json=party, headers=headers).status_code == 201
        answer = _drive(
            c,
            "POST",
            "/v1/parties",
            {**headers, "content-type": "application/json", "content-length": str(50_000)},
            _filler(50_000),
        )
        assert answer.status == 429 and answer.pulled == 0
        assert int(answer.headers["retry-after"]) >= 1


# ---------------------------------------------------------------- size before body


def test_a_content_length_over_the_cap_is_413_before_reading(client: TestClient) -> None:
    headers = {**as_role(client, "admin"), "content-type": "application/json"}
    answer = _drive(
        client,
        "POST",
        "/v1/parties",
        headers | {"content-length": str(2 * MB)},
        _filler(2 * MB),
    )
    assert answer.status == 413 and answer.pulled == 0
    problem = answer.problem()
    assert problem["type"].endswith("/request-too-large") and problem["limit"] == 64 * 1024
    assert answer.headers["connection"] == "close"


def test_an_upload_over_the_request_limit_is_413_before_reading(client: TestClient) -> None:
    limit = client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    answer = _drive(
        client,
        "POST",
        "/v1/claims",
        {
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            "content-length": str(limit + 1),
            "authorization": client.headers["authorization"],
        },
        _multipart(limit + 1),
    )
    assert answer.status == 413 and answer.pulled == 0


def test_a_chunked_body_over_the_cap_is_413_and_read_no_further(client: TestClient) -> None:
    headers = {**as_role(client, "admin"), "content-type": "application/json"}
    before = stored_state(client)
    answer = _drive(
        client,
        "POST",
        "/v1/parties",
        headers | {"transfer-encoding": "chunked"},
        _filler(4 * MB),
    )
    assert answer.status == 413, answer.body
    assert answer.problem()["type"].endswith("/request-too-large")
    assert answer.pulled <= 64 * 1024 + CHUNK  # stopped at the first chunk past the cap
    assert stored_state(client) == before


# ---------------------------------------------------------------- EPCIS caps


def _events(n: int, readings: int) -> dict[str, Any]:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    temps = tuple(4.0 for _ in range(readings))
    return document(
        *(lot_event(LOT, at + timedelta(hours=i), "inspecting", temps=temps) for i in range(n))
    )


def test_an_epcis_document_over_the_byte_cap_is_413_before_reading(client: TestClient) -> None:
    headers = {**as_role(client, "supply_chain"), "content-type": "application/json"}
    before = stored_state(client)
    answer = _drive(
        client,
        "POST",
        "/v1/events",
        headers | {"content-length": str(300 * 1024)},
        _filler(300 * 1024),
    )
    assert answer.status == 413 and answer.pulled == 0
    assert answer.problem()["limit"] == 256 * 1024
    assert stored_state(client) == before


def test_an_epcis_document_over_the_readings_cap_is_413_naming_both_figures(
    client: TestClient,
) -> None:
    before = stored_state(client)
    resp = client.post("/v1/events", json=_events(3, 20), headers=as_role(client, "supply_chain"))
    assert resp.status_code == 413, resp.text
    body = resp.json()
    assert body["type"].endswith("/too-many-readings")
    assert (body["limit"], body["actual"]) == (50, 60)
    assert stored_state(client) == before


def test_parse_document_checks_bytes_before_decoding_and_readings_before_events() -> None:
    raw = json.dumps(_events(2, 10)).encode()
    with pytest.raises(DocumentTooLargeError) as too_big:
        parse_document(raw, limits=CaptureLimits(max_bytes=len(raw) - 1))
    assert (too_big.value.limit, too_big.value.actual) == (len(raw) - 1, len(raw))
    # Readings are counted before any event is read: the bad event is never reached.
    doc = _events(2, 10)
    doc["epcisBody"]["eventList"][1]["eventTime"] = "not a time"
    with pytest.raises(TooManyReadingsError) as too_many:
        parse_document(json.dumps(doc), limits=CaptureLimits(max_readings=19))
    assert too_many.value.actual == 20
    assert len(parse_document(raw, limits=CaptureLimits(max_readings=20)).events) == 2


# ---------------------------------------------------------------- what passes


def test_public_routes_and_the_docs_need_no_key(client: TestClient) -> None:
    bare = {"Authorization": ""}
    for path in ("/healthz", "/v1/ledger/key", "/v1/ledger/checkpoint", "/review/login"):
        assert client.get(path, headers=bare).status_code == 200, path
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert client.get(path, headers=bare).status_code == 200, path
    # The workbench login takes its form without a key (its own CSRF cookie decides).
    login = client.post("/review/login", data={"api_key": "x"}, headers=bare)
    assert login.status_code != 401


def test_every_declared_route_resolves_to_itself_at_the_edge() -> None:
    def concrete(path: str) -> str:
        import re

        path = re.sub(r"\{\w+:int\}", "7", path)
        return re.sub(r"\{\w+(:path)?\}", "x", path)

    for (method, path), permission in ROUTE_PERMISSIONS.items():
        found = match_route(method, concrete(path))
        assert found is not None, (method, path)
        assert found.permission == permission, (method, path, found)


def test_every_upload_route_in_the_api_has_the_upload_cap(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    uploads = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    }
    assert uploads == {k for k, kind in BODY_KINDS.items() if kind == "uploads"}
