"""Two real API processes on one database and one Redis enforce one rate limit (issue 24).

tests/api/test_shared_state.py stands two apps in one interpreter for two replicas; here
they are two ``freshproof serve`` processes, as a deployment runs them: each has its own
interpreter, its own connection pool and its own in-process buckets, so only what is
shared through Redis can make them agree.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.processes import serve
from tests.conftest import RedisSpace

PROBLEM = "application/problem+json"


@pytest.mark.broker
def test_two_serve_processes_sharing_redis_allow_one_limit_together(
    tmp_path: Path, redis_space: RedisSpace
) -> None:
    env = {
        "FRESHPROOF_RATE_LIMIT_PER_MINUTE": "1",
        "FRESHPROOF_RATE_LIMIT_BURST": "4",
        "FRESHPROOF_REDIS_URL": redis_space.url,
        "FRESHPROOF_REDIS_KEY_PREFIX": redis_space.prefix,
    }
    # The first process makes the database and the admin key; the second opens the same.
    with serve(tmp_path, name="a", **env) as a, serve(tmp_path, name="b", **env) as b:
        assert a.data_dir == b.data_dir and a.port != b.port
        admin = a.admin()
        with httpx.Client(timeout=30) as http:
            codes = [
                http.get(f"{s.url}/v1/claims", headers=admin).status_code for s in (a, b, a, b)
            ]
            assert codes == [200, 200, 200, 200]
            # The fifth request, to either process, is over the key's one limit of four.
            for s in (a, b):
                refused = http.get(f"{s.url}/v1/claims", headers=admin)
                assert refused.status_code == 429, refused.text
                assert refused.headers["content-type"].startswith(PROBLEM)
                assert refused.json()["type"].endswith("rate-limited")
                assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_two_serve_processes_without_redis_each_count_alone(tmp_path: Path) -> None:
    """The embedded mode, as documented: N processes give a key N times the rate."""
    env = {"FRESHPROOF_RATE_LIMIT_PER_MINUTE": "1", "FRESHPROOF_RATE_LIMIT_BURST": "2"}
    with serve(tmp_path, name="a", **env) as a, serve(tmp_path, name="b", **env) as b:
        admin = a.admin()
        with httpx.Client(timeout=30) as http:
            codes = [
                http.get(f"{s.url}/v1/claims", headers=admin).status_code
                for s in (a, a, a, b, b, b)
            ]
    assert codes == [200, 200, 429, 200, 200, 429]
