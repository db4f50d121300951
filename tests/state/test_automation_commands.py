"""Automations' commands applied by the state service: each firing acts once, and its outcome
is kept and listed (acted, nothing to do, failed), on a real bus and database."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID, uuid4

from schemas.automations import FiringOutcome
from schemas.messages import CancelFlowRun
from schemas.states import StateType
from schemas.topics import Topics
from services.transport import Record
from tests.state.automation_kit import (
    action_failed,
    cancel_command,
    change_command,
    firing,
    firings_of,
    store_automation,
)
from tests.state.conftest import StateHarness
from tests.state.test_bad_input import reason
from tests.state.test_cancellation import cancel_via_rest, requests_for


def only_the_barrier(letters: list[Record], key: UUID) -> bool:
    """No dead letter about `key` but the barrier's marker."""
    about_it = [r.value for r in letters if r.key == str(key).encode()]
    return len(about_it) == 1 and about_it[0].startswith(b"barrier-")


async def test_a_firing_delivered_twice_cancels_once_and_the_history_names_it(
    state: StateHarness,
) -> None:
    automation_id = await store_automation(state)
    run = await state.running_run()
    command = cancel_command(run.id, firing(automation_id))

    await state.publish(command)
    await state.publish(command)  # redelivered, or the firing replayed
    await state.barrier(Topics.COMMANDS, run.id)

    states = await state.runtime.service.states(run.id)
    assert [s.type for s in states] == [StateType.RUNNING, StateType.CANCELLING]
    assert states[-1].message == f"Cancelled by Automation {automation_id}"
    [kept] = await firings_of(state, automation_id)
    assert command.firing is not None
    assert kept.firing_id == command.firing.firing_id
    assert (kept.outcome, kept.flow_run_id, kept.action_type) == (
        FiringOutcome.ACTED,
        run.id,
        "cancel-flow-run",
    )
    [attempt] = await state.runtime.service.cancellation_history(run.id)
    assert attempt.requested_by == f"automation:{automation_id}"
    assert attempt.reason == f"Cancelled by Automation {automation_id}"
    published = await state.kit.published(Topics.CANCEL_REQUESTED)
    assert len(requests_for(published, run.id)) == 1
    assert only_the_barrier(await state.kit.published(Topics.DEAD_LETTERS), run.id)


async def test_an_action_on_a_cancelling_or_terminal_run_is_nothing_to_do(
    state: StateHarness,
) -> None:
    automation_id = await store_automation(state)
    cancelling = await state.running_run()
    await cancel_via_rest(state, cancelling.id)
    finished = await state.running_run()
    await state.api.post(
        f"/api/flow_runs/{finished.id}/set_state", json={"state": {"type": "COMPLETED"}}
    )

    await state.publish(cancel_command(cancelling.id, firing(automation_id)))
    await state.publish(change_command(cancelling.id, firing(automation_id), StateType.FAILED))
    await state.publish(cancel_command(finished.id, firing(automation_id)))
    await state.barrier(Topics.COMMANDS, cancelling.id)
    await state.barrier(Topics.COMMANDS, finished.id)

    kept = {(f.flow_run_id, f.action_type): f for f in await firings_of(state, automation_id)}
    assert {f.outcome for f in kept.values()} == {FiringOutcome.NOTHING_TO_DO}
    assert len(kept) == 3
    assert "COMPLETED" in (kept[finished.id, "cancel-flow-run"].detail or "")
    assert "CANCELLING" in (kept[cancelling.id, "cancel-flow-run"].detail or "")
    assert (await state.runtime.service.read_flow_run(cancelling.id)).state_type is (
        StateType.CANCELLING
    )
    assert (await state.runtime.service.read_flow_run(finished.id)).state_type is (
        StateType.COMPLETED
    )


async def test_an_automations_command_for_an_unknown_run_is_a_failed_firing(
    state: StateHarness,
) -> None:
    automation_id = await store_automation(state)
    missing = uuid4()

    await state.publish(cancel_command(missing, firing(automation_id)))
    await state.barrier(Topics.COMMANDS, missing)

    [kept] = await firings_of(state, automation_id)
    assert (kept.outcome, kept.flow_run_id) == (FiringOutcome.FAILED, missing)
    assert f"Flow run {missing} not found" in (kept.detail or "")
    assert only_the_barrier(await state.kit.published(Topics.DEAD_LETTERS), missing)


async def test_a_producers_command_for_an_unknown_run_is_still_dead_lettered(
    state: StateHarness,
) -> None:
    missing = uuid4()
    await state.publish(CancelFlowRun(flow_run_id=missing))

    def mine(records: list[Record]) -> list[Record]:
        return [r for r in records if r.key == str(missing).encode()]

    [letter] = mine(await state.records(Topics.DEAD_LETTERS, until=lambda rs: bool(mine(rs))))
    assert str(missing) in reason(letter)


async def test_change_flow_run_state_proposes_the_state_with_its_message(
    state: StateHarness,
) -> None:
    automation_id = await store_automation(state)
    failing = await state.running_run()
    cancelling = await state.running_run()

    await state.publish(
        change_command(failing.id, firing(automation_id), StateType.FAILED, name="Overdue")
    )
    await state.publish(
        change_command(
            cancelling.id, firing(automation_id), StateType.CANCELLING, message="too long"
        )
    )

    failed = await state.wait_state(failing.id, StateType.FAILED)
    assert failed.state is not None
    assert failed.state.message == f"State changed by Automation {automation_id}"
    assert failed.state.name == "Overdue"
    await state.wait_state(cancelling.id, StateType.CANCELLING)
    records = await state.records(
        Topics.CANCEL_REQUESTED, until=lambda rs: bool(requests_for(rs, cancelling.id))
    )
    [request] = requests_for(records, cancelling.id)
    assert (request.requested_by, request.reason) == (f"automation:{automation_id}", "too long")
    await state.barrier(Topics.COMMANDS, cancelling.id)
    outcomes = {f.flow_run_id: f.outcome for f in await firings_of(state, automation_id)}
    assert outcomes == {failing.id: FiringOutcome.ACTED, cancelling.id: FiringOutcome.ACTED}


async def test_an_action_the_automation_could_not_send_is_kept_once_as_failed(
    state: StateHarness,
) -> None:
    automation_id = await store_automation(state)
    ref = firing(automation_id, action_index=1)
    failure = action_failed(ref, "No flow run could be inferred")

    await state.publish(failure)
    await state.publish(failure)
    await state.barrier(Topics.COMMANDS, automation_id)

    [kept] = await firings_of(state, automation_id)
    assert (kept.firing_id, kept.action_index, kept.outcome, kept.flow_run_id) == (
        ref.firing_id,
        1,
        FiringOutcome.FAILED,
        None,
    )
    assert kept.detail == "No flow run could be inferred"


async def test_an_unknown_command_is_dead_lettered_with_the_reason(state: StateHarness) -> None:
    run = await state.running_run()
    key = f"unknown-{run.id}"
    document = {"schema_name": "cancelbus.PauseFlowRun", "schema_version": 1, "flow_run_id": "x"}
    await state.bus.publish(Topics.COMMANDS, key, json.dumps(document).encode())

    def mine(records: list[Record]) -> list[Record]:
        return [r for r in records if r.key == key.encode()]

    [letter] = mine(await state.records(Topics.DEAD_LETTERS, until=lambda rs: bool(mine(rs))))
    assert "unknown command 'cancelbus.PauseFlowRun'" in reason(letter)
    assert "cancelbus.ChangeFlowRunState" in reason(letter)


async def test_the_same_firing_applied_at_once_by_two_consumers_acts_once(
    state: StateHarness,
) -> None:
    """As when a partition moves between replicas mid-command: the second waits for the
    run's lock, then finds the first one's row."""
    automation_id = await store_automation(state)
    run = await state.running_run()
    command = change_command(run.id, firing(automation_id), StateType.PAUSED)
    service = state.runtime.service

    outcomes = await asyncio.gather(
        service.apply_automation_command(command), service.apply_automation_command(command)
    )

    assert sorted(outcomes, key=str) == [None, FiringOutcome.ACTED]
    states = await service.states(run.id)
    assert [s.type for s in states] == [StateType.RUNNING, StateType.PAUSED]
    assert len(await firings_of(state, automation_id)) == 1
