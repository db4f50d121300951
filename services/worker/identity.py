"""The identity decision before any kill: is the observed target still this run's?

Pure: no I/O. A target that is gone, carries no marker/label, carries another run's id, or
whose fingerprint (process start time, Job UID) differs from the one recorded is left
alone and reported not_found, so a reused PID or a foreign container is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from schemas.infrastructure import InfrastructureId
from services.worker.infrastructure import Observation, Presence


class Verdict(StrEnum):
    KILL = "kill"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class IdentityDecision:
    verdict: Verdict
    reason: str


def decide_identity(
    flow_run_id: UUID, target: InfrastructureId, observation: Observation
) -> IdentityDecision:
    def not_found(reason: str) -> IdentityDecision:
        if observation.detail:
            reason = f"{reason} ({observation.detail})"
        return IdentityDecision(Verdict.NOT_FOUND, reason)

    if observation.presence is Presence.GONE:
        return not_found(f"{target} is already gone")
    if observation.flow_run_id is None:
        return not_found(f"{target} carries no marker of flow run {flow_run_id}; left untouched")
    if observation.flow_run_id != flow_run_id:
        return not_found(
            f"{target} belongs to flow run {observation.flow_run_id}, "
            f"not {flow_run_id}; left untouched"
        )
    if target.fingerprint is not None and observation.fingerprint != target.fingerprint:
        return not_found(
            f"{target} is another instance now (fingerprint {observation.fingerprint!r}, "
            f"recorded {target.fingerprint!r}); left untouched"
        )
    return IdentityDecision(Verdict.KILL, f"{target} is flow run {flow_run_id}'s")


def effective_grace(
    requested: float, *, override: float | None = None, cap: float | None = None
) -> float:
    """The grace period a worker applies: its override if set, else the request's, capped."""
    grace = override if override is not None else requested
    return min(grace, cap) if cap is not None else grace
