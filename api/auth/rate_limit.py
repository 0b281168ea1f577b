"""Where a key's rate is counted: this process's buckets, or buckets shared in Redis.

Every store is the same token bucket: a key may send ``burst`` requests at once and
``per_minute`` sustained; a refused request spends nothing. ``spend`` answers 0.0 when a
token was spent, else the seconds until one is there (``api.auth.access.RateLimiter``
turns that into a 429 with ``Retry-After``).

- ``LocalBuckets``: one bucket per key in this process (the embedded mode). With N
  processes a key gets N times the rate.
- ``RedisBuckets``: the same bucket in Redis, so every process pointed at one Redis (and
  one key prefix) counts together. The bucket is kept as GCRA (the generic cell rate
  algorithm), which is a token bucket written as one timestamp per key, the time at which
  the bucket would be full again; a Lua script reads and moves it atomically, on Redis's
  own clock (so the replicas' clocks need not agree), one round trip a request.
  Why not a library: ``limits`` and ``pyrate-limiter`` offer fixed, moving and sliding
  windows, none of them a token bucket; a window of 600 a minute admits 600 at once, where
  the bucket admits 120 and then 10 a second. Keeping the limits the same meant the bucket.
- ``SharedBuckets``: Redis while it answers; while it does not, this process's buckets
  (fail to per-process, not open, not closed): a Redis outage neither turns every request
  away nor lifts the limit, it only makes it per process again, as in the embedded mode.
  The failure is logged and counted (``failures``, the metric
  ``freshproof_rate_limit_store_failures_total``), and Redis is tried again after
  ``retry_seconds``, so an unreachable Redis costs one timeout per interval, not one per
  request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["Buckets", "LocalBuckets", "RedisBuckets", "SharedBuckets"]

log = logging.getLogger("freshproof.access")


class Buckets(Protocol):
    """A store of per-key token buckets."""

    def spend(self, key_id: str) -> float:
        """Spend one token: 0.0 when spent, else the seconds until one is there."""
        ...

    def failures(self) -> int:
        """Checks the shared store failed to answer (0 for a store that cannot fail)."""
        ...

    def shared(self) -> bool:
        """Whether the last check was counted with the other processes."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class LocalBuckets:
    """A token bucket per key in this process: ``per_minute`` sustained, ``burst`` at once."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def spend(self, key_id: str) -> float:
        """Spend one token: 0.0 when spent, else the seconds until one is there."""
        now = self.clock()
        with self._lock:
            b = self._buckets.setdefault(key_id, _Bucket(self.burst, now))
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0.0
            return (1 - b.tokens) / self.rate

    def failures(self) -> int:
        """Nothing to fail: always 0."""
        return 0

    def shared(self) -> bool:
        """Never shared."""
        return False

    def close(self) -> None:
        """Nothing to release."""


# KEYS[1]: the key's bucket. ARGV: the emission interval T (µs a token takes to come back)
# and the burst B. The stored value is the bucket's TAT (theoretical arrival time, µs on
# Redis's clock): the bucket holds B - (TAT - now) / T tokens. Spending one moves TAT by T;
# it is refused when that would put TAT more than B*T ahead of now, and the answer is then
# the µs until it would not. Integers throughout: µs since 1970 fit a double exactly, and
# string.format('%d') keeps every digit (a bare number would be written as %.14g).
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then return string.format('%d', wait) end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
return '0'
"""


class RedisBuckets:
    """The token buckets in Redis: every process with the same Redis and prefix counts
    together. ``spend`` raises ``redis.RedisError`` when Redis does not answer."""

    def __init__(self, client: redis.Redis, *, per_minute: int, burst: int, prefix: str) -> None:
        if per_minute <= 0:
            raise ValueError("a shared rate limit needs per_minute > 0 (0 means no limit)")
        self._client = client
        self._interval_us = max(1, round(60_000_000 / per_minute))
        self._burst = burst
        self._prefix = prefix
        self._script = client.register_script(_GCRA)

    @classmethod
    def from_url(
        cls, url: str, *, per_minute: int, burst: int, prefix: str, timeout: float
    ) -> RedisBuckets:
        """Buckets in the Redis at ``url``; nothing is contacted until the first ``spend``.

        No retries inside the client: a failed check falls back at once (``SharedBuckets``)
        rather than waiting through three more timeouts.
        """
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, per_minute=per_minute, burst=burst, prefix=prefix)

    def key(self, key_id: str) -> str:
        """The Redis key holding ``key_id``'s bucket."""
        return f"{self._prefix}rate:{key_id}"

    def spend(self, key_id: str) -> float:
        """Spend one token: 0.0 when spent, else the seconds until one is there."""
        wait_us = int(self._script(keys=[self.key(key_id)], args=[self._interval_us, self._burst]))
        return wait_us / 1e6

    def failures(self) -> int:
        """Failures are counted by ``SharedBuckets``; here, always 0."""
        return 0

    def shared(self) -> bool:
        """Always shared."""
        return True

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class SharedBuckets:
    """Redis's buckets while Redis answers; this process's while it does not."""

    def __init__(
        self,
        shared: RedisBuckets,
        local: LocalBuckets,
        *,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = local
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._failures = 0

    def spend(self, key_id: str) -> float:
        """Spend one token in Redis, or in this process while Redis is failing."""
        if self._down():
            return self._local.spend(key_id)
        try:
            wait = self._shared.spend(key_id)
        except redis.RedisError as exc:
            self._failed(exc)
            return self._local.spend(key_id)
        with self._lock:
            self._down_until = None
        return wait

    def failures(self) -> int:
        """Checks Redis failed to answer since start."""
        with self._lock:
            return self._failures

    def shared(self) -> bool:
        """False while checks are counted in this process (Redis failed lately)."""
        return not self._down()

    def close(self) -> None:
        """Close Redis's connections."""
        self._shared.close()

    def _down(self) -> bool:
        with self._lock:
            return self._down_until is not None and self._clock() < self._down_until

    def _failed(self, exc: redis.RedisError) -> None:
        with self._lock:
            self._failures += 1
            self._down_until = self._clock() + self._retry_seconds
        # The exception's type only: its text may carry the URL, and the URL a password.
        log.warning(
            "rate limits counted per process for %.0f s: Redis did not answer (%s)",
            self._retry_seconds,
            type(exc).__name__,
        )
