"""State the API processes share (issue 24), with two apps standing for two replicas.

Both apps are built on one data directory (one database); with ``redis_url`` set they
count a key's rate in one Redis (a real one, under a prefix of this test's own). Also:
the embedded mode still counts per process; a Redis that does not answer leaves the limit
per process, never lifted; and a key revoked through one app is refused by the other
within a second.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import RedisSpace

PROBLEM = "application/problem+json"


def _replicas(
    tmp_path: Path, stack: ExitStack, count: int = 2, **settings: Any
) -> list[tuple[Any, TestClient]]:
    """``count`` apps on one database, each with its own client, started."""
    made = []
    for _ in range(count):
        app = create_app(Settings(data_dir=tmp_path / "var", anchor_backend="none", **settings))
        made.append((app, stack.enter_context(TestClient(app, raise_server_exceptions=False))))
    return made


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


@pytest.mark.broker
def test_two_replicas_sharing_redis_allow_one_limit_together(
    tmp_path: Path, stack: ExitStack, redis_space: RedisSpace
) -> None:
    (a, ca), (_, cb) = _replicas(
        tmp_path,
        stack,
        rate_limit_per_minute=1,
        rate_limit_burst=4,
        redis_url=redis_space.url,
        redis_key_prefix=redis_space.prefix,
    )
    auditor = grant(a, "auditor")
    codes = [c.get("/v1/claims", headers=auditor).status_code for c in (ca, cb, ca, cb)]
    assert codes == [200, 200, 200, 200]
    # The fifth request, to either replica, is over the key's one limit of four.
    for client in (ca, cb):
        refused = client.get("/v1/claims", headers=auditor)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["type"].endswith("rate-limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Per key still: another key starts with a full bucket.
    assert cb.get("/v1/claims", headers=grant(a, "auditor")).status_code == 200


def test_without_redis_each_replica_counts_alone(tmp_path: Path, stack: ExitStack) -> None:
    """The embedded mode, unchanged: a key gets the limit once per process."""
    (a, ca), (_, cb) = _replicas(tmp_path, stack, rate_limit_per_minute=1, rate_limit_burst=2)
    auditor = grant(a, "auditor")
    codes = [c.get("/v1/claims", headers=auditor).status_code for c in (ca, cb, ca, cb, ca, cb)]
    assert codes == [200, 200, 200, 200, 429, 429]


def _dead_redis() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://:s3cret@127.0.0.1:{port}/0"  # nothing listens there


def _metric(client: TestClient, headers: dict[str, str], name: str) -> float:
    text = client.get("/metrics", headers=headers).text
    [line] = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


def test_with_redis_down_each_replica_still_limits_and_says_so(
    tmp_path: Path, stack: ExitStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="freshproof.access")
    [(app, client)] = _replicas(
        tmp_path, stack, 1, rate_limit_per_minute=1, rate_limit_burst=2, redis_url=_dead_redis()
    )
    auditor, metrics = grant(app, "auditor"), grant(app, "ml_engineer")
    codes = [client.get("/v1/claims", headers=auditor).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # fails to per process: neither open nor closed
    assert _metric(client, metrics, "freshproof_rate_limit_store_failures_total") >= 1
    assert _metric(client, metrics, "freshproof_rate_limit_shared") == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "freshproof.access"]
    assert logged and all("per process" in m and "s3cret" not in m for m in logged)


@pytest.mark.broker
def test_the_metrics_say_when_the_limit_is_shared(
    tmp_path: Path, stack: ExitStack, redis_space: RedisSpace
) -> None:
    [(app, client)] = _replicas(
        tmp_path, stack, 1, redis_url=redis_space.url, redis_key_prefix=redis_space.prefix
    )
    metrics = grant(app, "ml_engineer")
    assert _metric(client, metrics, "freshproof_rate_limit_shared") == 1
    assert _metric(client, metrics, "freshproof_rate_limit_store_failures_total") == 0


def test_a_key_revoked_through_one_replica_is_refused_by_the_other_within_a_second(
    tmp_path: Path, stack: ExitStack
) -> None:
    (a, ca), (_, cb) = _replicas(tmp_path, stack, rate_limit_per_minute=0)
    admin = grant(a, "admin")
    auditor = grant(a, "auditor")
    key_id = auditor["Authorization"].split("_")[1]
    assert cb.get("/v1/claims", headers=auditor).status_code == 200  # now cached in b
    assert ca.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 200
    assert ca.get("/v1/claims", headers=auditor).status_code == 401  # at once where revoked
    # The other replica: refused once its cached row is a second old. Polled, with room
    # for a slow machine; the one-second bound itself is test_key_cache.py's, on a clock.
    deadline = time.monotonic() + 1.0 + 4.0
    answer = cb.get("/v1/claims", headers=auditor)
    while answer.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = cb.get("/v1/claims", headers=auditor)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith(PROBLEM)
