"""What a worker's outcome does to a CANCELLING run, and when to try again. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.messages import CancellationOutcome
from services.runtime.backoff import backoff


@dataclass(frozen=True, slots=True)
class OutcomeEffect:
    cancel: bool  # the run becomes CANCELLED
    message: str | None = None
    retry_after_seconds: float | None = None  # re-request the cancellation after this delay


def effect_of(
    outcome: CancellationOutcome,
    *,
    detail: str | None,
    attempt: int,
    max_attempts: int,
    backoff_base_seconds: float,
    backoff_max_seconds: float,
) -> OutcomeEffect:
    suffix = f": {detail}" if detail else ""
    if outcome is CancellationOutcome.CANCELLED:
        return OutcomeEffect(cancel=True, message=f"Infrastructure stopped{suffix}")
    if outcome is CancellationOutcome.NOT_FOUND:
        return OutcomeEffect(
            cancel=True, message=f"Infrastructure not found or no longer the run's{suffix}"
        )
    if outcome is CancellationOutcome.FAILED and attempt < max_attempts:
        return OutcomeEffect(
            cancel=False,
            retry_after_seconds=backoff(
                attempt, base=backoff_base_seconds, ceiling=backoff_max_seconds
            ),
        )
    # failed for good, or unsupported: the cancelling timeout is the backstop
    return OutcomeEffect(cancel=False)
