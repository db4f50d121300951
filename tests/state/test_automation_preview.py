"""`POST /api/automations/preview`: the runs a rule would act on now, before it is enabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.automations import AutomationPreview
from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.states import StateType
from services.state.db.tables import flow_runs
from tests.state.conftest import StateHarness
from tests.support.buses import BusKit, MemoryKit


@pytest.fixture
def bus_kit() -> BusKit:
    """A preview reads the database only: the in-process bus will do."""
    return MemoryKit()


def rule(trigger: dict[str, Any]) -> dict[str, Any]:
    return {"name": "dry run", "trigger": trigger, "actions": [{"type": "cancel-flow-run"}]}


def reactive(**fields: Any) -> dict[str, Any]:
    return {"type": "event", "posture": "Reactive", **fields}


NIGHTLY = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.nightly"}


async def run_in(
    state: StateHarness, state_type: StateType | None, tags: list[str], **fields: Any
) -> UUID:
    run = await state.runtime.service.create_flow_run(
        FlowRunCreate(tags=tags, infrastructure_pid="myhost:4242", **fields)
    )
    if state_type is not None:
        await state.runtime.service.set_state(run.id, StateCreate(type=state_type))
    return run.id


async def preview(state: StateHarness, body: dict[str, Any]) -> AutomationPreview:
    response = await state.api.post("/api/automations/preview", json=body)
    assert response.status_code == 200, response.text
    return AutomationPreview.model_validate(response.json())


async def test_a_reactive_rule_lists_the_open_runs_whose_state_event_it_covers(
    state: StateHarness,
) -> None:
    deployment = uuid4()
    running = await run_in(state, StateType.RUNNING, ["nightly"], deployment_id=deployment)
    await run_in(state, StateType.RUNNING, ["hourly"], deployment_id=deployment)
    await run_in(state, StateType.COMPLETED, ["nightly"])
    scheduled = await run_in(state, StateType.SCHEDULED, ["nightly"], work_pool_name="gpu")
    await run_in(state, None, ["nightly"])  # no state yet: no event to judge

    by_tag = await preview(
        state, rule(reactive(expect=["prefect.flow-run.Running"], match_related=NIGHTLY))
    )
    any_state = await preview(state, rule(reactive(match_related=NIGHTLY)))
    by_deployment = await preview(
        state,
        rule(
            reactive(
                expect=["prefect.flow-run.*"],
                match_related={"prefect.resource.id": f"prefect.deployment.{deployment}"},
            )
        ),
    )
    by_pool = await preview(
        state,
        rule(
            reactive(
                match_related={"prefect.resource.role": "work-pool", "prefect.resource.name": "gpu"}
            )
        ),
    )

    assert by_tag == AutomationPreview(flow_run_ids=[running], matched=1)
    assert sorted(any_state.flow_run_ids) == sorted([running, scheduled])
    assert by_deployment.matched == 2
    assert running in by_deployment.flow_run_ids
    assert by_pool.flow_run_ids == [scheduled]


async def test_a_proactive_rule_lists_the_runs_whose_window_has_ended(
    state: StateHarness,
) -> None:
    overdue = await run_in(state, StateType.RUNNING, ["etl"])
    fresh = await run_in(state, StateType.RUNNING, ["etl"])
    long_ago = datetime.now(UTC) - timedelta(hours=2)

    def backdate(conn: Connection) -> None:
        conn.execute(
            sa.update(flow_runs).where(flow_runs.c.id == overdue).values(state_timestamp=long_ago)
        )

    await state.runtime.database.write(backdate)
    max_runtime = {
        "type": "event",
        "posture": "Proactive",
        "after": ["prefect.flow-run.Running"],
        "expect": ["prefect.flow-run.Completed", "prefect.flow-run.Failed"],
        "for_each": ["prefect.resource.id"],
        "within": 3600,
    }

    found = await preview(state, rule(max_runtime))
    either = await preview(
        state,
        rule(
            {
                "type": "compound",
                "require": "any",
                "triggers": [max_runtime, reactive(expect=["prefect.flow-run.Pending"])],
            }
        ),
    )

    assert found.flow_run_ids == [overdue]
    assert fresh not in either.flow_run_ids
    assert either.flow_run_ids == [overdue]


async def test_a_too_broad_rule_shows_200_runs_and_counts_them_all(state: StateHarness) -> None:
    runs = {await run_in(state, StateType.RUNNING, []) for _ in range(205)}

    everything = await preview(state, rule(reactive()))

    assert (everything.matched, everything.truncated) == (205, True)
    assert len(everything.flow_run_ids) == 200
    assert set(everything.flow_run_ids) <= runs


async def test_an_invalid_rule_is_422_naming_the_field(state: StateHarness) -> None:
    no_posture = await state.api.post(
        "/api/automations/preview", json=rule({"type": "event", "match": {}})
    )
    unknown_key = await state.api.post(
        "/api/automations/preview", json={**rule(reactive()), "colour": "red"}
    )
    short_window = await state.api.post(
        "/api/automations/preview",
        json=rule({"type": "event", "posture": "Proactive", "within": 5}),
    )

    assert no_posture.status_code == 422
    assert "posture" in no_posture.text
    assert unknown_key.status_code == 422
    assert "colour" in unknown_key.text
    assert short_window.status_code == 422
    assert "within" in short_window.text
