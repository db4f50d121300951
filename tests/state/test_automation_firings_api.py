"""`GET /api/automations/{id}/firings`: each action of each firing, newest first, paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from schemas.automations import FiringOutcome
from schemas.messages import FiringRef
from schemas.topics import Topics
from tests.state.automation_kit import cancel_command, firings_of, store_automation
from tests.state.conftest import StateHarness
from tests.support.buses import BusKit, MemoryKit


@pytest.fixture
def bus_kit() -> BusKit:
    """Listing reads the database; the commands' suite runs on both buses."""
    return MemoryKit()


async def test_firings_are_listed_newest_first_a_page_at_a_time(state: StateHarness) -> None:
    automation_id = await store_automation(state)
    other = await store_automation(state)
    runs = [await state.running_run() for _ in range(3)]
    start = datetime.now(UTC) - timedelta(minutes=5)
    for minute, run in enumerate(runs):
        ref = FiringRef(
            automation_id=automation_id,
            firing_id=uuid4(),
            action_index=0,
            fired_at=start + timedelta(minutes=minute),
        )
        await state.publish(cancel_command(run.id, ref))
    for run in runs:
        await state.barrier(Topics.COMMANDS, run.id)

    listed = await firings_of(state, automation_id)
    assert [f.flow_run_id for f in listed] == [run.id for run in reversed(runs)]
    assert {f.outcome for f in listed} == {FiringOutcome.ACTED}
    assert [f.flow_run_id for f in await firings_of(state, automation_id, limit=1, offset=1)] == [
        runs[1].id
    ]
    assert await firings_of(state, other) == []


async def test_firings_of_an_unknown_automation_are_404_and_bad_pages_422(
    state: StateHarness,
) -> None:
    missing = uuid4()
    unknown = await state.api.get(f"/api/automations/{missing}/firings")
    automation_id = await store_automation(state)
    too_many = await state.api.get(f"/api/automations/{automation_id}/firings?limit=201")
    negative = await state.api.get(f"/api/automations/{automation_id}/firings?offset=-1")
    not_an_id = await state.api.get("/api/automations/nope/firings")

    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": f"Automation {missing} not found"},
    )
    assert too_many.status_code == 422
    assert "limit" in too_many.text
    assert negative.status_code == 422
    assert "offset" in negative.text
    assert not_an_id.status_code == 422
