"""Orchestration rules: which proposed state a run may take. Pure: standard library only.

The answers are the ones a Prefect 3 client expects (ACCEPT / REJECT / ABORT).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.orchestration import Status
from schemas.states import StateType

CANNOT_BE_ENFORCED = "cancellation cannot be enforced: the run has no infrastructure id"
NOT_STARTED = "Cancelled before the run's infrastructure started"

_NOT_STARTED_STATES = frozenset({StateType.SCHEDULED, StateType.PENDING})


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    # the state type to record; None means "no new state" (rejected, aborted or a repeat)
    new_type: StateType | None = None
    reason: str | None = None
    # message to record on the new state when the rule replaced the proposal
    message: str | None = None
    # the accepted state needs a CancellationRequested to reach its infrastructure
    request_cancellation: bool = False


def decide(
    current: StateType | None,
    proposed: StateType,
    *,
    has_infrastructure: bool,
    force: bool = False,
) -> Verdict:
    """Decide a proposed transition from `current` (None for a run with no state yet)."""
    if current is None:
        return _accept_fresh(proposed, has_infrastructure=has_infrastructure)

    if current.is_terminal:
        if force and proposed is not StateType.CANCELLING:
            return Verdict(Status.ACCEPT, new_type=proposed)
        return Verdict(Status.ABORT, reason=f"Run is already in terminal state {current.value}.")

    if current is StateType.CANCELLING:
        if proposed is StateType.CANCELLED:
            return Verdict(Status.ACCEPT, new_type=StateType.CANCELLED)
        if proposed is StateType.CANCELLING:
            # a repeated cancel request: same answer, nothing new
            return Verdict(Status.ACCEPT, new_type=None)
        if force:
            return Verdict(Status.ACCEPT, new_type=proposed)
        return Verdict(
            Status.REJECT,
            reason="Cannot transition flows that are cancelling to a state other than Cancelled.",
        )

    if proposed is StateType.CANCELLING:
        return _cancel(current, has_infrastructure=has_infrastructure)

    return Verdict(Status.ACCEPT, new_type=proposed)


def _accept_fresh(proposed: StateType, *, has_infrastructure: bool) -> Verdict:
    if proposed is StateType.CANCELLING and not has_infrastructure:
        return Verdict(Status.ACCEPT, new_type=StateType.CANCELLED, message=NOT_STARTED)
    return Verdict(
        Status.ACCEPT,
        new_type=proposed,
        request_cancellation=proposed is StateType.CANCELLING,
    )


def _cancel(current: StateType, *, has_infrastructure: bool) -> Verdict:
    if has_infrastructure:
        return Verdict(Status.ACCEPT, new_type=StateType.CANCELLING, request_cancellation=True)
    message = NOT_STARTED if current in _NOT_STARTED_STATES else CANNOT_BE_ENFORCED
    return Verdict(Status.ACCEPT, new_type=StateType.CANCELLED, message=message)
