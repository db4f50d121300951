"""Prometheus metrics of a worker, on a registry of its own (no import-time state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "cancelbus_worker_requests_total",
            "Cancellation requests seen: claimed (our kind and scope) or left to others",
            ["decision"],
            registry=self.registry,
        )
        self.results = Counter(
            "cancelbus_worker_results_total",
            "Cancellation results published, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cancelbus_worker_in_flight",
            "Cancellations being worked on now",
            registry=self.registry,
        )
        self.duration = Histogram(
            "cancelbus_worker_cancellation_seconds",
            "From claiming a request to publishing its result",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
