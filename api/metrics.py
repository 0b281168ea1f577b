"""Prometheus metrics: request rates and latencies, model time per photo, claims, ledger size,
whether the rate limits are counted with the other processes (Redis) or in this one, and the
operation's gauges (``operations.gauges``: SLAs, automation, lots above their baseline) that
``deploy/prometheus/alerts.yml`` alerts on.

Each app gets its own registry (not the process-global one) so that several apps in one
process, as in the tests, never collide on metric names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from operations.gauges import OperationsGauges

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


class _Operations(Collector):
    """The operation's gauges, read from the database at scrape time and kept ``ttl`` seconds
    (a scrape every few seconds must not rescan a month of claims each time)."""

    def __init__(self, read: Callable[[], OperationsGauges], ttl: float = 30.0) -> None:
        self._read, self._ttl = read, ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, OperationsGauges] | None = None

    def _gauges(self) -> OperationsGauges:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._ttl:
                self._cached = (time.monotonic(), self._read())
            return self._cached[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = self._gauges()
        open_ = GaugeMetricFamily(
            "freshproof_ops_open_tickets",
            "Open tickets of claims filed in the last 30 days, by priority.",
            labels=["priority"],
        )
        overdue = GaugeMetricFamily(
            "freshproof_ops_overdue_tickets",
            "Open tickets past their first-response or resolution deadline (moved by time "
            "waiting on the customer), by SLA and priority.",
            labels=["sla", "priority"],
        )
        for priority, n in g.open_tickets.items():
            open_.add_metric([priority], n)
            overdue.add_metric(["first_response", priority], g.overdue_first_response[priority])
            overdue.add_metric(["resolution", priority], g.overdue_resolution[priority])
        yield open_
        yield overdue
        for name, text, value in (
            ("claims_filed_24h", "Claims filed in the last 24 hours.", g.filed_24h),
            (
                "claims_automated_24h",
                "Claims filed in the last 24 hours that the policy paid without a person.",
                g.automated_24h,
            ),
            (
                "claims_sla_breached_24h",
                "Claims filed in the last 24 hours that breached either SLA (late, done or not).",
                g.breached_24h,
            ),
        ):
            yield GaugeMetricFamily(f"freshproof_ops_{name}", text, value=value)
        first = GaugeMetricFamily(
            "freshproof_ops_first_response_seconds_24h",
            "Time from filing to first response of the last 24 hours' claims that had one "
            "(nearest-rank quantile; absent while none had).",
            labels=["quantile"],
        )
        for q, v in (("0.5", g.first_response_p50_s_24h), ("0.9", g.first_response_p90_s_24h)):
            if v is not None:
                first.add_metric([q], v)
        yield first
        probability = GaugeMetricFamily(
            "freshproof_ops_lot_excess_probability",
            "Posterior probability that a lot's claims per delivered unit exceed `multiple` "
            "times its category's baseline (lots claimed in the last days with a quantity).",
            labels=["lot", "category", "multiple"],
        )
        ratio = GaugeMetricFamily(
            "freshproof_ops_lot_rate_ratio",
            "A lot's recent claims per delivered unit over its category's baseline.",
            labels=["lot", "category"],
        )
        for w in g.lots:
            probability.add_metric([w.lot, w.category, f"{w.multiple:g}"], w.probability or 0.0)
            ratio.add_metric([w.lot, w.category], w.ratio or 0.0)
        yield probability
        yield ratio


class Metrics:
    """The app's metrics and the registry /metrics renders."""

    def __init__(
        self,
        *,
        ledger_size: Callable[[], int],
        rate_limit_failures: Callable[[], int] = lambda: 0,
        rate_limit_shared: Callable[[], bool] = lambda: False,
        operations: Callable[[], OperationsGauges] | None = None,
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
        if operations is not None:
            self.registry.register(_Operations(operations))

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
