"""Orchestration rules: the answers a Prefect 3 client gets when it proposes a state."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

import pytest

from schemas.orchestration import Status
from schemas.states import TERMINAL_STATES, StateType
from services.state.rules import CANNOT_BE_ENFORCED, NOT_STARTED, Verdict, decide

TERMINAL = sorted(TERMINAL_STATES)
NOT_STARTED_STATES = [StateType.SCHEDULED, StateType.PENDING]
NOT_AFTER_CANCELLING = [
    t for t in StateType if t not in {StateType.CANCELLED, StateType.CANCELLING}
]
ACTIVE = [t for t in StateType if not t.is_terminal and t is not StateType.CANCELLING]


@pytest.mark.parametrize("current", TERMINAL)
@pytest.mark.parametrize("has_infrastructure", [False, True])
@pytest.mark.parametrize("force", [False, True])
def test_cancelling_a_finished_run_aborts(
    current: StateType, has_infrastructure: bool, force: bool
) -> None:
    verdict = decide(
        current, StateType.CANCELLING, has_infrastructure=has_infrastructure, force=force
    )

    assert verdict.status is Status.ABORT
    assert verdict.new_type is None
    assert verdict.reason is not None
    assert f"Run is already in terminal state {current.value}" in verdict.reason
    assert not verdict.request_cancellation


@pytest.mark.parametrize("current", TERMINAL)
@pytest.mark.parametrize("proposed", [StateType.RUNNING, StateType.COMPLETED, StateType.PENDING])
def test_terminal_states_are_final_unless_forced(current: StateType, proposed: StateType) -> None:
    assert decide(current, proposed, has_infrastructure=True).status is Status.ABORT

    forced = decide(current, proposed, has_infrastructure=True, force=True)
    assert forced == Verdict(Status.ACCEPT, new_type=proposed)


@pytest.mark.parametrize("proposed", NOT_AFTER_CANCELLING)
@pytest.mark.parametrize("has_infrastructure", [False, True])
def test_a_cancelling_run_may_only_become_cancelled(
    proposed: StateType, has_infrastructure: bool
) -> None:
    verdict = decide(StateType.CANCELLING, proposed, has_infrastructure=has_infrastructure)

    assert verdict.status is Status.REJECT
    assert verdict.new_type is None
    assert verdict.reason == (
        "Cannot transition flows that are cancelling to a state other than Cancelled."
    )
    forced = decide(
        StateType.CANCELLING, proposed, has_infrastructure=has_infrastructure, force=True
    )
    assert forced == Verdict(Status.ACCEPT, new_type=proposed)


def test_a_cancelling_run_becomes_cancelled() -> None:
    verdict = decide(StateType.CANCELLING, StateType.CANCELLED, has_infrastructure=True)

    assert verdict == Verdict(Status.ACCEPT, new_type=StateType.CANCELLED)


@pytest.mark.parametrize("has_infrastructure", [False, True])
@pytest.mark.parametrize("force", [False, True])
def test_a_repeated_cancel_request_changes_nothing(has_infrastructure: bool, force: bool) -> None:
    first = decide(StateType.RUNNING, StateType.CANCELLING, has_infrastructure=True)
    repeat = decide(
        StateType.CANCELLING,
        StateType.CANCELLING,
        has_infrastructure=has_infrastructure,
        force=force,
    )

    assert repeat.status is first.status is Status.ACCEPT
    assert repeat.new_type is None  # no second state
    assert not repeat.request_cancellation  # no second event


@pytest.mark.parametrize("current", [None, *NOT_STARTED_STATES])
def test_cancelling_a_run_that_never_started_cancels_it_at_once(
    current: StateType | None,
) -> None:
    verdict = decide(current, StateType.CANCELLING, has_infrastructure=False)

    assert verdict == Verdict(Status.ACCEPT, new_type=StateType.CANCELLED, message=NOT_STARTED)


def test_cancelling_a_running_run_without_infrastructure_says_it_cannot_be_enforced() -> None:
    verdict = decide(StateType.RUNNING, StateType.CANCELLING, has_infrastructure=False)

    assert verdict == Verdict(
        Status.ACCEPT, new_type=StateType.CANCELLED, message=CANNOT_BE_ENFORCED
    )
    assert "cancellation cannot be enforced" in CANNOT_BE_ENFORCED


@pytest.mark.parametrize("current", [None, *ACTIVE])
def test_cancelling_a_run_with_infrastructure_asks_its_worker(
    current: StateType | None,
) -> None:
    verdict = decide(current, StateType.CANCELLING, has_infrastructure=True)

    assert verdict == Verdict(
        Status.ACCEPT, new_type=StateType.CANCELLING, request_cancellation=True
    )


def test_a_launcher_cannot_start_a_cancelling_or_cancelled_run() -> None:
    assert decide(StateType.CANCELLING, StateType.RUNNING, has_infrastructure=True).status is (
        Status.REJECT
    )
    assert decide(StateType.CANCELLED, StateType.RUNNING, has_infrastructure=True).status is (
        Status.ABORT
    )


@pytest.mark.parametrize(
    ("current", "proposed"),
    [
        (None, StateType.SCHEDULED),
        (StateType.SCHEDULED, StateType.PENDING),
        (StateType.PENDING, StateType.RUNNING),
        (StateType.RUNNING, StateType.COMPLETED),
        (StateType.RUNNING, StateType.CANCELLED),
    ],
)
def test_ordinary_transitions_are_accepted(current: StateType | None, proposed: StateType) -> None:
    verdict = decide(current, proposed, has_infrastructure=True)

    assert verdict == Verdict(Status.ACCEPT, new_type=proposed)


# --- properties over every (current, proposed, has_infrastructure, force) -------------------
# The domain is finite (10 * 9 * 2 * 2 = 360 cases), so each property is checked on all of it:
# exhaustive beats sampling here, and takes milliseconds.

Case = tuple[StateType | None, StateType, bool, bool]
ALL_CASES: list[Case] = list(product([None, *StateType], StateType, [False, True], [False, True]))


def _verdicts() -> Iterator[tuple[Case, Verdict]]:
    for case in ALL_CASES:
        current, proposed, has_infrastructure, force = case
        yield case, decide(current, proposed, has_infrastructure=has_infrastructure, force=force)


def test_refusals_carry_a_reason_and_change_nothing() -> None:
    for case, verdict in _verdicts():
        assert verdict.status is not Status.WAIT, case
        if verdict.status is not Status.ACCEPT:
            assert verdict.new_type is None, case
            assert verdict.reason, case
            assert verdict.message is None, case
            assert not verdict.request_cancellation, case


def test_an_acceptance_without_a_new_state_is_only_a_repeated_cancel() -> None:
    for case, verdict in _verdicts():
        current, proposed, _, _ = case
        if verdict.status is Status.ACCEPT and verdict.new_type is None:
            assert (current, proposed) == (StateType.CANCELLING, StateType.CANCELLING), case


def test_a_run_enters_cancelling_only_with_a_request_to_its_infrastructure() -> None:
    for case, verdict in _verdicts():
        _, _, has_infrastructure, _ = case
        if verdict.request_cancellation:
            assert verdict.new_type is StateType.CANCELLING, case
            assert has_infrastructure, case
        # and every entry into CANCELLING sends the request, so no run waits for the timeout
        # merely because nobody was told to stop it
        if verdict.new_type is StateType.CANCELLING:
            assert verdict.request_cancellation, case


def test_an_accepted_cancel_never_leaves_the_run_active() -> None:
    for case, verdict in _verdicts():
        _, proposed, _, _ = case
        if proposed is StateType.CANCELLING and verdict.status is Status.ACCEPT:
            assert verdict.new_type in {StateType.CANCELLING, StateType.CANCELLED, None}, case
            if verdict.new_type is StateType.CANCELLED:
                assert verdict.message in {NOT_STARTED, CANNOT_BE_ENFORCED}, case


def test_finished_and_cancelling_runs_only_move_on_when_forced() -> None:
    for case, verdict in _verdicts():
        current, proposed, _, force = case
        if current is not None and current.is_terminal:
            assert not verdict.request_cancellation, case
            if not force or proposed is StateType.CANCELLING:
                assert verdict.status is Status.ABORT, case
        if current is StateType.CANCELLING and not force:
            assert verdict.new_type in {StateType.CANCELLED, None}, case
