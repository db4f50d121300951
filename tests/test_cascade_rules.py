"""Cascading cancellation's rules: which cancellations cascade, which children a cancelled
parent stops, and which parents a run may not have (property tests)."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from schemas.flow_runs import NO_CASCADE_TAG
from schemas.states import StateType
from services.state.cascade_rules import (
    CANCEL_TYPES,
    CascadePolicy,
    enters_cancellation,
    is_open,
    state_message,
    stops_child,
    would_cycle,
)

ids = st.integers(min_value=0, max_value=12).map(lambda i: UUID(int=i))
tags = st.lists(st.sampled_from(["a", "b", "nightly", NO_CASCADE_TAG]), max_size=4)
policies = st.builds(
    CascadePolicy,
    enabled=st.booleans(),
    no_cascade_deployments=st.frozensets(ids, max_size=3),
    no_cascade_tags=st.frozensets(st.sampled_from(["a", "b", "nightly"]), max_size=2),
)
state_types = st.none() | st.sampled_from(StateType)


@given(policies, tags, st.none() | ids)
def test_a_cancellation_cascades_unless_something_says_not(
    policy: CascadePolicy, run_tags: list[str], deployment: UUID | None
) -> None:
    opted_out = (
        not policy.enabled
        or deployment in policy.no_cascade_deployments
        or NO_CASCADE_TAG in run_tags
        or bool(policy.no_cascade_tags & set(run_tags))
    )
    assert policy.cascades(run_tags, deployment) is not opted_out


@given(policies, tags, st.none() | ids, st.sampled_from(["a", "b", NO_CASCADE_TAG]))
def test_a_tag_never_turns_a_cascade_on(
    policy: CascadePolicy, run_tags: list[str], deployment: UUID | None, extra: str
) -> None:
    if not policy.cascades(run_tags, deployment):
        assert not policy.cascades([*run_tags, extra], deployment)


@given(state_types, st.sampled_from(StateType))
def test_a_run_is_cancelled_once_whatever_the_path(
    previous: StateType | None, new: StateType
) -> None:
    # CANCELLING -> CANCELLED cascaded already when the run entered CANCELLING
    assert enters_cancellation(previous, new) is (
        new in CANCEL_TYPES and previous not in CANCEL_TYPES
    )


@given(policies, state_types, tags, st.none() | ids)
def test_only_a_cancelled_parent_stops_its_children(
    policy: CascadePolicy, parent: StateType | None, parent_tags: list[str], dep: UUID | None
) -> None:
    stops = stops_child(policy, parent, parent_tags, dep)
    # a COMPLETED or FAILED parent may leave children of its own running
    assert stops is (parent in CANCEL_TYPES and policy.cascades(parent_tags, dep))


def test_open_runs_are_those_a_cancellation_still_has_to_stop() -> None:
    assert is_open(None)
    assert {t for t in StateType if is_open(t)} == {
        StateType.SCHEDULED,
        StateType.PENDING,
        StateType.RUNNING,
        StateType.PAUSED,
    }


def test_a_cascaded_state_names_the_parent_first() -> None:
    parent = UUID(int=5)
    assert state_message(parent, None) == f"Parent flow run {parent} was cancelled"
    assert state_message(parent, "not started") == (
        f"Parent flow run {parent} was cancelled; not started"
    )


def _ancestors(run: UUID, parents: dict[UUID, UUID]) -> set[UUID]:
    found: set[UUID] = set()
    while run in parents and parents[run] not in found:
        run = parents[run]
        found.add(run)
    return found


@given(st.dictionaries(ids, ids, max_size=12), ids, ids)
def test_a_run_cannot_become_its_own_ancestor(
    parents: dict[UUID, UUID], run: UUID, parent: UUID
) -> None:
    # `parents` may loop already (it cannot in the database): the walk still ends
    expected = run == parent or run in _ancestors(parent, parents)
    assert would_cycle(run, parent, parents.get) is expected
