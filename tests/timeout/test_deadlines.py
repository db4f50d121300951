"""Properties of the pure deadline logic: arithmetic, the schedule, merging a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.timeout.deadlines import (
    Cancelling,
    DeadlineSchedule,
    deadline_of,
    epoch_seconds,
    merge_snapshot,
)

RUN_IDS = [UUID(int=i) for i in range(1, 9)]
STATE_IDS = [UUID(int=100 + i) for i in range(4)]
BASE = datetime(2026, 1, 1, tzinfo=UTC)

timeouts = st.floats(min_value=0.001, max_value=366 * 86400.0, allow_nan=False)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
cancellings = st.builds(
    Cancelling,
    st.sampled_from(RUN_IDS),
    st.sampled_from(STATE_IDS),
    st.integers(0, 600).map(lambda s: BASE + timedelta(seconds=s)),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), cancellings),
        st.tuples(st.just("drop"), st.sampled_from(RUN_IDS)),
        st.tuples(st.just("pop"), st.integers(0, 700)),
    ),
    max_size=60,
)


@given(moments, timeouts)
def test_a_deadline_is_the_moment_plus_the_timeout(since: datetime, timeout: float) -> None:
    deadline = deadline_of(since, timeout)
    assert deadline == pytest.approx(since.timestamp() + timeout, abs=1e-6)
    assert deadline > since.timestamp()


@given(moments)
def test_a_naive_moment_is_taken_as_utc(since: datetime) -> None:
    assert epoch_seconds(since.replace(tzinfo=None)) == epoch_seconds(since)


@given(operations, st.floats(min_value=1.0, max_value=100.0))
def test_the_schedule_behaves_like_a_dict_of_deadlines(
    ops: list[tuple[str, object]], timeout: float
) -> None:
    schedule = DeadlineSchedule(timeout)
    model: dict[UUID, Cancelling] = {}
    for op, arg in ops:
        if op == "set":
            assert isinstance(arg, Cancelling)
            schedule.set(arg)
            model[arg.run_id] = arg
        elif op == "drop":
            assert isinstance(arg, UUID)
            assert schedule.drop(arg) == model.pop(arg, None)
        else:
            assert isinstance(arg, int)
            now = BASE.timestamp() + arg
            due = schedule.pop_due(now)
            expected = {r for r, c in model.items() if deadline_of(c.since, timeout) <= now}
            assert {c.run_id for c in due} == expected
            assert [deadline_of(c.since, timeout) for c in due] == sorted(
                deadline_of(c.since, timeout) for c in due
            ), "soonest first"
            assert all(model.pop(c.run_id) == c for c in due), "due entries are the latest ones"
        assert len(schedule) == len(model)
        assert sorted(schedule, key=lambda c: c.run_id) == sorted(
            model.values(), key=lambda c: c.run_id
        )
        soonest = min((c.since for c in model.values()), default=None)
        assert schedule.oldest_since() == soonest
        next_deadline = schedule.next_deadline()
        assert next_deadline == (deadline_of(soonest, timeout) if soonest else None)
        assert schedule.heap_size <= 2 * len(model) + 64 + 1


@given(st.lists(cancellings, max_size=30), st.integers(1, 5))
def test_pop_due_honours_its_limit_and_loses_nothing(runs: list[Cancelling], limit: int) -> None:
    schedule = DeadlineSchedule(10.0)
    for run in runs:
        schedule.set(run)
    live = {run.run_id for run in schedule}
    popped: list[Cancelling] = []
    while batch := schedule.pop_due(BASE.timestamp() + 10_000, limit):
        assert len(batch) <= limit
        popped.extend(batch)
    assert {c.run_id for c in popped} == live
    assert len(schedule) == 0


@given(
    st.lists(cancellings, max_size=20),
    st.lists(cancellings, max_size=20),
    st.sets(st.sampled_from(RUN_IDS)),
    st.sets(st.sampled_from(RUN_IDS)),
)
def test_a_snapshot_wins_for_covered_runs_except_those_events_touched(
    before: list[Cancelling],
    snapshot: list[Cancelling],
    covered: set[UUID],
    touched: set[UUID],
) -> None:
    schedule = DeadlineSchedule(30.0)
    for run in before:
        schedule.set(run)
    old = {run.run_id: run for run in schedule}
    listed = {run.run_id: run for run in snapshot}

    merge_snapshot(schedule, snapshot, covers=lambda r: r in covered, touched=touched)

    now = {run.run_id: run for run in schedule}
    for run_id in RUN_IDS:
        if run_id not in covered or run_id in touched:
            assert now.get(run_id) == old.get(run_id), "left alone"
        else:
            assert now.get(run_id) == listed.get(run_id), "as the state service says"


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        DeadlineSchedule(0)
