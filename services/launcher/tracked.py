"""The steps every launcher shares once its infrastructure has started.

record the infrastructure id -> propose RUNNING (refused: stop what was started) -> wait for
it to end -> report COMPLETED or FAILED (unless the run was cancelled meanwhile). A launcher
creates the PENDING run, starts its thing with the run's marker or label, wraps it as a
`Started`, and hands it to `follow`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID

import structlog

from schemas.infrastructure import InfrastructureId
from schemas.states import StateType
from services.launcher.api import RunsApi
from services.launcher.process import CANCELLED_EXIT, LaunchResult, describe_exit

log = structlog.get_logger(__name__)

_CANCELLED_TYPES = (StateType.CANCELLING, StateType.CANCELLED)


class Started(Protocol):
    """Something a launcher started: a process, a container, a Job."""

    @property
    def infrastructure(self) -> InfrastructureId: ...

    async def wait(self) -> int:
        """Until it ends; its exit code (negative: killed by that signal)."""
        ...

    async def stop(self, grace_seconds: float) -> None:
        """Stop it: the stop signal, then a kill after `grace_seconds`."""
        ...


async def follow(
    api: RunsApi,
    run_id: UUID,
    started: Started,
    *,
    stop_grace_seconds: float,
    on_started: Callable[[UUID, InfrastructureId], None] | None = None,
) -> LaunchResult:
    infrastructure = started.infrastructure
    await api.set_infrastructure(run_id, infrastructure)
    status, _ = await api.propose(run_id, StateType.RUNNING)
    if status != "ACCEPT":
        log.warning("running_refused_stopping", flow_run_id=str(run_id), status=status)
        await started.stop(stop_grace_seconds)
        returncode = await started.wait()
        return LaunchResult(run_id, StateType.CANCELLED, returncode, CANCELLED_EXIT)
    log.info("launched", flow_run_id=str(run_id), infrastructure=str(infrastructure))
    if on_started is not None:
        on_started(run_id, infrastructure)
    returncode = await started.wait()
    if (await api.read_run(run_id)).state_type in _CANCELLED_TYPES:
        return LaunchResult(run_id, StateType.CANCELLED, returncode, CANCELLED_EXIT)
    final = StateType.COMPLETED if returncode == 0 else StateType.FAILED
    status, state = await api.propose(run_id, final, describe_exit(returncode))
    if status != "ACCEPT":  # cancelled just before it ended
        return LaunchResult(run_id, state, returncode, CANCELLED_EXIT)
    exit_code = 0 if returncode == 0 else (returncode if returncode > 0 else 128 - returncode)
    return LaunchResult(run_id, final, returncode, exit_code)
