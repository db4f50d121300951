"""Prometheus metrics of the timeout service, on a registry of its own unless given one."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.timeout.deadlines import DeadlineSchedule, epoch_seconds


class TimeoutMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.cancelling = Gauge(
            "cancelbus_timeout_cancelling_runs",
            "Runs CANCELLING whose deadline this replica keeps",
            registry=self.registry,
        )
        self.oldest_age = Gauge(
            "cancelbus_timeout_oldest_cancelling_age_seconds",
            "How long the longest-CANCELLING run has been CANCELLING (0 if none)",
            registry=self.registry,
        )
        self.forced = Counter(
            "cancelbus_timeout_forced_total",
            "Forced transitions requested: CancellationTimedOut events published",
            registry=self.registry,
        )
        self.lateness = Histogram(
            "cancelbus_timeout_lateness_seconds",
            "From a run's deadline until its CancellationTimedOut was published",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.rebuilds = Counter(
            "cancelbus_timeout_rebuilds_total",
            "Deadlines rebuilt from the state service (start and partition reassignment)",
            registry=self.registry,
        )

    def watch(self, schedule: DeadlineSchedule, clock: Callable[[], float] = time.time) -> None:
        """Read the gauges from the schedule at scrape time."""
        self.cancelling.set_function(lambda: len(schedule))

        def oldest_age() -> float:
            since = schedule.oldest_since()
            return max(0.0, clock() - epoch_seconds(since)) if since is not None else 0.0

        self.oldest_age.set_function(oldest_age)
