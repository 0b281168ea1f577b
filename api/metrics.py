"""Prometheus metrics: request rates and latencies, model time per photo, claims, ledger size,
and whether the rate limits are counted with the other processes (Redis) or in this one.

Each app gets its own registry (not the process-global one) so that several apps in one
process, as in the tests, never collide on metric names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]

# Photo inference on 2 CPU cores sits around 20-200 ms; claims add ledger and database work.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _LedgerSize(Collector):
    """Read at scrape time, so the figure is never stale and costs nothing between scrapes."""

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "freshproof_ledger_entries", "Entries in the provenance ledger.", value=self._size()
        )


class _RateLimitStore(Collector):
    """Read at scrape time from the rate limiter's buckets (``api.auth.rate_limit``)."""

    def __init__(self, failures: Callable[[], int], shared: Callable[[], bool]) -> None:
        self._failures = failures
        self._shared = shared

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield CounterMetricFamily(
            "freshproof_rate_limit_store_failures",
            "Rate-limit checks Redis did not answer; each was counted in this process.",
            value=self._failures(),
        )
        yield GaugeMetricFamily(
            "freshproof_rate_limit_shared",
            "1 while rate limits are counted with the other processes (Redis), 0 while in "
            "this process alone (no Redis configured, or Redis failing).",
            value=1 if self._shared() else 0,
        )


class Metrics:
    """The app's metrics and the registry /metrics renders."""

    def __init__(
        self,
        *,
        ledger_size: Callable[[], int],
        rate_limit_failures: Callable[[], int] = lambda: 0,
        rate_limit_shared: Callable[[], bool] = lambda: False,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "freshproof_http_requests",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "freshproof_http_request_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.photo_seconds = Histogram(
            "freshproof_photo_inference_seconds",
            "Decode, quality gate and model time per judged photo.",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.claims = Counter(
            "freshproof_claims_filed",
            "Claims filed, by the responsible party of their verdict.",
            ["responsible_party"],
            registry=self.registry,
        )
        self.registry.register(_LedgerSize(ledger_size))
        self.registry.register(_RateLimitStore(rate_limit_failures, rate_limit_shared))

    def observe_photos(self, results: list[dict[str, Any]]) -> None:
        """Record each judged photo's own timing (``timing_ms`` of the output contract)."""
        for r in results:
            timing = r.get("timing_ms") or {}
            self.photo_seconds.observe(sum(timing.values()) / 1e3)


class MetricsMiddleware:
    """Counts and times every request under its route template, not its raw path.

    Raw paths (``/v1/claims/3f2a...``) would make one time series per claim.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
