"""The one small interface every infrastructure kind implements (process, docker, kubernetes).

The worker runtime drives it: find and verify the target, terminate it with a grace
period, confirm it is gone. Each method raises `InfrastructureError` (or any exception)
for an unexpected fault, which the runtime retries with backoff and finally reports as
`failed`. Implementations never decide outcomes; `decide_identity` in identity.py does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.infrastructure.errors import InfrastructureError


class Presence(StrEnum):
    RUNNING = "running"  # exists and is still running
    GONE = "gone"  # does not exist any more, or has already exited


@dataclass(frozen=True, slots=True)
class Observation:
    """What the infrastructure says about the target before anything is touched."""

    presence: Presence
    # the run's marker/label as found on the target (None: absent or unreadable)
    flow_run_id: UUID | None = None
    # process start time / Job UID as found now (None where the kind has none)
    fingerprint: str | None = None
    detail: str | None = None


class Forbidden(InfrastructureError):
    """The worker's identity lacks a permission: reported failed at once (a retry can't help)."""


class TargetReplaced(InfrastructureError):
    """The id now names a newer target than the one verified: not_found, nothing touched."""


class Infrastructure(Protocol):
    """One kind of infrastructure in one scope."""

    @property
    def kind(self) -> InfrastructureKind: ...

    @property
    def scope(self) -> str: ...

    async def observe(self, target: InfrastructureId) -> Observation:
        """Find the target and read its identity; touch nothing."""
        ...

    async def terminate(self, target: InfrastructureId, grace_seconds: float) -> None:
        """Ask it to stop, wait up to `grace_seconds`, then force it (SIGKILL, kill, delete)."""
        ...

    async def is_gone(self, target: InfrastructureId) -> bool:
        """True once nothing of the target is left running."""
        ...
