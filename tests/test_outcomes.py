"""What a worker's outcome does to a CANCELLING run, and when the request is sent again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.messages import CancellationOutcome
from services.runtime.backoff import backoff
from services.state.outcomes import OutcomeEffect, effect_of

# the bounds OrchestrationSettings allows
attempts = st.integers(min_value=1, max_value=200)
max_attempts = st.integers(min_value=1, max_value=100)
seconds = st.floats(min_value=0.001, max_value=3600)
details = st.none() | st.text(max_size=80)


def _effect(
    outcome: CancellationOutcome,
    *,
    attempt: int = 1,
    max_attempts: int = 3,
    detail: str | None = None,
    base: float = 1.0,
    cap: float = 30.0,
) -> OutcomeEffect:
    return effect_of(
        outcome,
        detail=detail,
        attempt=attempt,
        max_attempts=max_attempts,
        backoff_base_seconds=base,
        backoff_max_seconds=cap,
    )


@given(
    outcome=st.sampled_from([CancellationOutcome.CANCELLED, CancellationOutcome.NOT_FOUND]),
    attempt=attempts,
    limit=max_attempts,
    detail=details,
)
def test_stopped_or_gone_infrastructure_cancels_the_run(
    outcome: CancellationOutcome, attempt: int, limit: int, detail: str | None
) -> None:
    effect = _effect(outcome, attempt=attempt, max_attempts=limit, detail=detail)

    assert effect.cancel
    assert effect.retry_after_seconds is None
    assert effect.message
    if detail:
        assert effect.message.endswith(f": {detail}")


def test_the_history_tells_a_kill_from_a_target_that_was_already_gone() -> None:
    killed = _effect(CancellationOutcome.CANCELLED, detail="SIGTERM")
    gone = _effect(CancellationOutcome.NOT_FOUND, detail="pid 4242 start time differs")

    assert killed.message == "Infrastructure stopped: SIGTERM"
    assert gone.message == (
        "Infrastructure not found or no longer the run's: pid 4242 start time differs"
    )


@given(attempt=attempts, limit=max_attempts, base=seconds, cap=seconds, detail=details)
def test_a_failure_is_retried_with_backoff_until_attempts_run_out(
    attempt: int, limit: int, base: float, cap: float, detail: str | None
) -> None:
    effect = _effect(
        CancellationOutcome.FAILED,
        attempt=attempt,
        max_attempts=limit,
        detail=detail,
        base=base,
        cap=cap,
    )

    assert not effect.cancel  # the run stays CANCELLING; the timeout is the backstop
    if attempt < limit:
        assert effect.retry_after_seconds == backoff(attempt, base=base, ceiling=cap)
    else:
        assert effect.retry_after_seconds is None


@given(attempt=attempts, limit=max_attempts, detail=details)
def test_unsupported_infrastructure_is_neither_cancelled_nor_retried(
    attempt: int, limit: int, detail: str | None
) -> None:
    effect = _effect(
        CancellationOutcome.UNSUPPORTED, attempt=attempt, max_attempts=limit, detail=detail
    )

    assert effect == OutcomeEffect(cancel=False)


@pytest.mark.parametrize("outcome", list(CancellationOutcome))
def test_every_outcome_has_a_defined_effect(outcome: CancellationOutcome) -> None:
    effect = _effect(outcome)

    assert effect.cancel is (
        outcome in {CancellationOutcome.CANCELLED, CancellationOutcome.NOT_FOUND}
    )
    assert (effect.retry_after_seconds is not None) is (outcome is CancellationOutcome.FAILED)
