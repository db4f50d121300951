"""Prometheus metrics of the automations service, on a registry of its own unless given one."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AutomationsMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rules = Gauge(
            "cancelbus_automations_rules",
            "Automations this replica evaluates (enabled ones)",
            registry=self.registry,
        )
        self.open_windows = Gauge(
            "cancelbus_automations_open_windows",
            "Buckets with an open window this replica keeps",
            registry=self.registry,
        )
        self.events = Counter(
            "cancelbus_automations_events_total",
            "Events evaluated, by input topic",
            ["topic"],
            registry=self.registry,
        )
        self.rekeyed = Counter(
            "cancelbus_automations_rekeyed_total",
            "Events sent on to the replica owning their bucket (cancelbus.automation-buckets)",
            registry=self.registry,
        )
        self.firings = Counter(
            "cancelbus_automations_firings_total",
            "Firings, by posture of the window that fired (reactive on an event, proactive due)",
            ["posture"],
            registry=self.registry,
        )
        self.commands = Counter(
            "cancelbus_automations_commands_published_total",
            "Commands published on cancelbus.commands, by message type",
            ["type"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "cancelbus_automations_publish_failures_total",
            "Failed publishes (each retried with backoff until it succeeds)",
            registry=self.registry,
        )
        self.lateness = Histogram(
            "cancelbus_automations_lateness_seconds",
            "From a proactive window's end until its commands were published",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.rule_changes = Counter(
            "cancelbus_automations_rule_changes_total",
            "Rule changes applied (loaded on start, or heard on cancelbus.automations)",
            registry=self.registry,
        )

    def watch(self, rules: Callable[[], int], windows: Callable[[], int]) -> None:
        """Read the gauges at scrape time."""
        self.rules.set_function(lambda: float(rules()))
        self.open_windows.set_function(lambda: float(windows()))
