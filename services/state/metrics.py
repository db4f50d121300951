"""Prometheus metrics of the state service, on a registry of its own (no import-time state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class StateMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.orchestrations = Counter(
            "cancelbus_orchestrations_total",
            "Proposed states by type and answer",
            ["proposed", "status"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "cancelbus_state_transitions_total",
            "State changes recorded, by new state type",
            ["state_type"],
            registry=self.registry,
        )
        self.results = Counter(
            "cancelbus_cancellation_results_total",
            "Worker results applied, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.forced = Counter(
            "cancelbus_forced_cancellations_total",
            "Runs forced to CANCELLED by the cancelling timeout",
            registry=self.registry,
        )
        self.outbox_published = Counter(
            "cancelbus_outbox_published_total",
            "Outbox messages published to the bus",
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "cancelbus_outbox_pending",
            "Outbox messages due and not yet published (last relay pass)",
            registry=self.registry,
        )
        self.cancelling_without_worker = Gauge(
            "cancelbus_cancelling_runs_without_worker",
            "CANCELLING runs whose kind and scope no live worker serves (last scrape)",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "cancelbus_dead_letters_total",
            "Consumed messages sent to the dead-letter topic, by topic",
            ["topic"],
            registry=self.registry,
        )
