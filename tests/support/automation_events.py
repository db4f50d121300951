"""Events and automations for the trigger engine's tests, as a run's state changes make them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from schemas.automations import Automation, CancelFlowRunAction, Trigger
from schemas.events import Event, Labels
from services.automations.engine import Evaluator, Firing

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run_event(
    state: str,
    run: UUID,
    seconds: float,
    *,
    tags: Iterable[str] = (),
    deployment: str | None = None,
) -> Event:
    """`prefect.flow-run.<state>` of the run at T0 + seconds, labelled as Prefect labels it."""
    related: list[Labels] = []
    if deployment is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{deployment}",
                "prefect.resource.role": "deployment",
            }
        )
    related += [
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in tags
    ]
    return Event(
        occurred_at=at(seconds),
        event=f"prefect.flow-run.{state}",
        resource={"prefect.resource.id": f"prefect.flow-run.{run}", "prefect.state-name": state},
        related=related,
    )


def custom_event(
    name: str, seconds: float, resource: str = "custom.thing", related: list[Labels] | None = None
) -> Event:
    """A producer's own event about `resource` at T0 + seconds."""
    return Event(
        occurred_at=at(seconds),
        event=name,
        resource={"prefect.resource.id": resource},
        related=related or [],
    )


def automation(
    trigger: Trigger | Mapping[str, object], actions: list[object] | None = None, **fields: object
) -> Automation:
    return Automation.model_validate(
        {
            "id": uuid4(),
            "created": T0,
            "updated": T0,
            "name": "rule",
            "trigger": trigger,
            "actions": actions or [CancelFlowRunAction()],
            **fields,
        }
    )


def feed(
    evaluator: Evaluator, events: Iterable[Event], *, partition: int = 0, first_offset: int = 0
) -> list[Firing]:
    """Every event evaluated in each of its routes, as one partition's records in order."""
    fired: list[Firing] = []
    for offset, event in enumerate(events, start=first_offset):
        for route in evaluator.routes(event):
            fired += evaluator.apply(route, event, position=(partition, offset))
    return fired
