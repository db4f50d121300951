"""Automations as a Prefect user writes them, for the API and CLI tests."""

from __future__ import annotations

from typing import Any

FIXED_TRIGGER_ID = "00000000-0000-4000-8000-000000000001"


def rule(name: str = "cancel-long-etl", **overrides: Any) -> dict[str, Any]:
    """A reactive rule cancelling a run that enters Running under the `etl` tag."""
    body: dict[str, Any] = {
        "name": name,
        "description": "runs tagged etl are cancelled",
        "tags": ["etl"],
        "trigger": {
            "type": "event",
            "id": FIXED_TRIGGER_ID,
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.id": "prefect.tag.etl"},
            "expect": ["prefect.flow-run.Running"],
            "posture": "Reactive",
            "threshold": 1,
            "within": 0,
        },
        "actions": [{"type": "cancel-flow-run"}],
    }
    body.update(overrides)
    return body


def compound_rule(name: str = "failed-then-crashed") -> dict[str, Any]:
    child = {"type": "event", "posture": "Reactive", "id": FIXED_TRIGGER_ID, "threshold": 1}
    return rule(
        name,
        trigger={
            "type": "compound",
            "id": FIXED_TRIGGER_ID,
            "require": "all",
            "within": "PT1M",
            "triggers": [
                {**child, "expect": ["prefect.flow-run.Failed"]},
                {**child, "expect": ["prefect.flow-run.Crashed"]},
            ],
        },
        actions=[{"type": "change-flow-run-state", "state": "CANCELLED", "message": "stop"}],
    )
