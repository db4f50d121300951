"""The typed rows the state service reads and writes, against its tables and each other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.history import CancellationAttempt
from schemas.messages import CancellationOutcome, CancellationTimedOut
from schemas.states import StateType
from services.state.attempt_rows import AttemptResultRow, AttemptRow, LockedAttempt
from services.state.db.engine import Database, migrate
from services.state.db.tables import cancellation_attempts, flow_run_states, flow_runs, outbox
from services.state.metrics import StateMetrics
from services.state.outbox_store import OutboxMessage, OutboxRow
from services.state.rows import LockedRun, RunEdit, RunRow, RunTransition, StateRow, names
from services.state.service import StateService
from tests.state.conftest import fast_settings
from tests.state.test_cancellation import result_for


def _columns(table: sa.Table) -> set[str]:
    return {column.name for column in table.columns}


def test_a_whole_row_holds_every_column_of_its_table() -> None:
    """A column added to a table and not to its row would be neither read nor written."""
    assert set(names(RunRow)) == _columns(flow_runs)
    assert set(names(StateRow)) == _columns(flow_run_states)
    assert set(names(AttemptRow)) == _columns(cancellation_attempts)
    # the outbox's sequence and publication time are the database's and the relay's
    assert set(names(OutboxRow)) == _columns(outbox) - {outbox.c.seq.name, "published_at"}


@pytest.mark.parametrize(
    ("row_type", "table"),
    [
        (LockedRun, flow_runs),
        (RunTransition, flow_runs),
        (LockedAttempt, cancellation_attempts),
        (AttemptResultRow, cancellation_attempts),
        (OutboxMessage, outbox),
    ],
)
def test_a_partial_row_holds_columns_of_its_table(row_type: type[object], table: sa.Table) -> None:
    assert set(names(row_type)) <= _columns(table)


def test_a_run_edit_names_columns_of_runs() -> None:
    assert set(RunEdit.__optional_keys__) <= _columns(flow_runs)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[StateService]:
    database = Database(database_url)
    await migrate(database)
    try:
        yield StateService(database, fast_settings(database_url).orchestration, StateMetrics())
    finally:
        await database.close()


async def test_a_timeout_is_kept_as_an_attempt_of_the_state_it_forced(
    service: StateService,
) -> None:
    run = await service.create_flow_run(
        FlowRunCreate(
            name="nightly-etl",
            infrastructure_pid="myhost:4242",  # a plain form: the history shows it as parsed
            state=StateCreate(type=StateType.RUNNING),
        )
    )
    cancelling = (await service.set_state(run.id, StateCreate(type=StateType.CANCELLING))).state
    assert cancelling is not None

    forced = await service.apply_timeout(
        CancellationTimedOut(
            flow_run_id=run.id,
            state_id=cancelling.id,
            cancelling_since=cancelling.timestamp,
            timeout_seconds=300,
        )
    )

    assert forced
    history = await service.cancellation_history(run.id)
    [requested] = [a for a in history if a.state_id == cancelling.id and a.outcome is None]
    [timed_out] = [a for a in history if a.outcome == "timed_out"]
    [teardown] = [a for a in history if a.final_teardown]
    shared = ("flow_run_id", "state_id", "infrastructure", "final_teardown")
    assert {f: getattr(timed_out, f) for f in shared} == {f: getattr(requested, f) for f in shared}
    assert requested.infrastructure == "process://myhost/4242"
    assert timed_out.attempt == requested.attempt + 1
    assert (timed_out.requested_by, timed_out.worker, timed_out.grace_seconds) == (
        "timeout",
        "timeout",
        0.0,
    )
    assert timed_out.finished_at == timed_out.result_at == timed_out.requested_at
    assert timed_out.duration_seconds == 0.0
    # the teardown asks for the same infrastructure, for the CANCELLED state
    assert teardown.infrastructure == requested.infrastructure
    assert teardown.state_id != cancelling.id
    assert (teardown.attempt, teardown.outcome, teardown.requested_by) == (1, None, "timeout")


async def _cancelling(service: StateService, pid: str) -> CancellationAttempt:
    run = await service.create_flow_run(
        FlowRunCreate(infrastructure_pid=pid, state=StateCreate(type=StateType.RUNNING))
    )
    await service.set_state(run.id, StateCreate(type=StateType.CANCELLING))
    [attempt] = await service.cancellation_history(run.id)
    return attempt


async def test_results_in_one_batch_see_what_the_batch_recorded(service: StateService) -> None:
    """Two workers answered the same request: the first answer counts, the second is a
    duplicate even in the same batch; another run's failure in it is retried."""
    first = await _cancelling(service, "myhost:1")
    other = await _cancelling(service, "myhost:2")

    await service.apply_results(
        [
            result_for(first, CancellationOutcome.CANCELLED, "worker-1"),
            result_for(first, CancellationOutcome.FAILED, "worker-2"),
            result_for(other, CancellationOutcome.FAILED, "worker-1"),
        ]
    )

    assert (await service.read_flow_run(first.flow_run_id)).state_type is StateType.CANCELLED
    history = await service.cancellation_history(first.flow_run_id)
    assert [(a.attempt, a.outcome, a.worker) for a in history] == [(1, "cancelled", "worker-1")]
    assert (await service.read_flow_run(other.flow_run_id)).state_type is StateType.CANCELLING
    retried = await service.cancellation_history(other.flow_run_id)
    assert [(a.attempt, a.outcome) for a in retried] == [(1, "failed"), (2, None)]
    assert retried[1].infrastructure == retried[0].infrastructure
