"""The rate limit's stores (issue 24): this process's buckets, Redis's, and the fallback.

Redis's buckets run against a real Redis (``redis_space``: a prefix of their own); the
fallback against a port where nothing listens, and against a redis-server this test starts,
stops and starts again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from api.auth.access import RateLimitedError, RateLimiter
from api.auth.rate_limit import LocalBuckets, RedisBuckets, SharedBuckets
from tests.conftest import REQUIRE_REDIS, RedisSpace


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _buckets(url: str, *, prefix: str, per_minute: int = 60, burst: int = 3) -> RedisBuckets:
    return RedisBuckets.from_url(
        url, per_minute=per_minute, burst=burst, prefix=prefix, timeout=0.5
    )


@pytest.mark.broker
def test_redis_buckets_are_the_local_token_bucket(redis_space: RedisSpace) -> None:
    """Burst 3 at one a second: three at once, then a wait of up to a second, in both."""
    shared = _buckets(redis_space.url, prefix=redis_space.prefix)
    clock = FakeClock()
    local = LocalBuckets(60, 3, clock)
    try:
        assert [shared.spend("k1") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert [local.spend("k1") for _ in range(3)] == [0.0, 0.0, 0.0]
        # Redis's clock moved a little since the first spend; the fake clock did not.
        assert 0.5 < shared.spend("k1") <= 1.0
        assert local.spend("k1") == pytest.approx(1.0)
        # A refusal spends nothing: the wait does not grow with each refused request.
        assert shared.spend("k1") <= 1.0
        # Another key has its own bucket.
        assert shared.spend("k2") == 0.0
    finally:
        shared.close()


@pytest.mark.broker
def test_the_bucket_lives_in_redis_under_the_prefix_and_expires(redis_space: RedisSpace) -> None:
    shared = _buckets(redis_space.url, prefix=redis_space.prefix, per_minute=6, burst=120)
    client = redis.Redis.from_url(redis_space.url)
    try:
        shared.spend("3f9a2c1d")
        key = f"{redis_space.prefix}rate:3f9a2c1d"
        assert client.exists(key) == 1
        # Full again after one token's time (10 s at 6 a minute): gone by then.
        assert 0 < client.pttl(key) <= 10_000
    finally:
        client.close()
        shared.close()


@pytest.mark.broker
def test_the_limiter_answers_with_whole_seconds_to_wait(redis_space: RedisSpace) -> None:
    limiter = RateLimiter(
        1, 2, buckets=_buckets(redis_space.url, prefix=redis_space.prefix, per_minute=1, burst=2)
    )
    try:
        limiter.take("k")
        limiter.take("k")
        with pytest.raises(RateLimitedError) as refused:
            limiter.take("k")
        assert 59 <= refused.value.retry_after <= 60
    finally:
        limiter.close()


def test_with_redis_down_the_rate_is_counted_here_and_redis_is_retried_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    url = f"redis://:s3cret@127.0.0.1:{_free_port()}/0"  # nothing listens there
    buckets = SharedBuckets(
        _buckets(url, prefix="fp-test:", burst=2), LocalBuckets(60, 2, clock), clock=clock
    )
    caplog.set_level("WARNING", logger="freshproof.access")
    # Per process, not open: the third request at once is refused by the local bucket.
    assert [buckets.spend("k") > 0 for _ in range(3)] == [False, False, True]
    # One failure, then Redis is left alone for the retry interval.
    assert buckets.failures() == 1 and buckets.shared() is False
    [warning] = [r for r in caplog.records if r.name == "freshproof.access"]
    assert "per process" in warning.getMessage()
    assert "s3cret" not in warning.getMessage() and url not in warning.getMessage()
    clock.now += 5.0
    assert buckets.spend("k") == 0.0  # the local bucket refilled; Redis was tried again
    assert buckets.failures() == 2


@pytest.fixture
def own_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A redis-server of this test's own on a free port, that the test may stop."""
    binary = shutil.which("redis-server")
    if binary is None:
        if REQUIRE_REDIS:
            pytest.fail("Redis is required but redis-server is not installed")
        pytest.skip("redis-server not installed")
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    yield port, procs
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def _start_redis(port: int, procs: list[subprocess.Popen[bytes]]) -> None:
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@pytest.mark.broker
def test_shared_counting_comes_back_when_redis_does(
    own_redis: tuple[int, list[subprocess.Popen[bytes]]],
) -> None:
    port, procs = own_redis
    _start_redis(port, procs)
    clock = FakeClock()
    shared = _buckets(f"redis://127.0.0.1:{port}/0", prefix="fp-test:", per_minute=1, burst=2)
    buckets = SharedBuckets(shared, LocalBuckets(1, 2, clock), clock=clock)
    assert buckets.spend("k") == 0.0 and buckets.shared()

    procs[-1].terminate()
    procs[-1].wait(timeout=10)
    assert buckets.spend("k") == 0.0  # the local bucket's first token
    assert (buckets.failures(), buckets.shared()) == (1, False)

    _start_redis(port, procs)  # empty: the bucket starts full again
    assert buckets.spend("k") == 0.0  # still within the retry interval: the local bucket
    assert buckets.spend("k") > 0  # ...whose two tokens are spent
    clock.now += 5.0
    assert buckets.spend("k") == 0.0 and buckets.shared()  # Redis again
    assert buckets.spend("k") == 0.0
    assert buckets.spend("k") > 0  # Redis's bucket of two, spent
    assert buckets.failures() == 1
    buckets.close()
