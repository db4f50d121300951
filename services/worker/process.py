"""The process kind: scope = host name, id = PID, fingerprint = the process's start time.

The fingerprint (services.infrastructure.processes) tolerates the boot time's drift; the
run's marker in the environment is checked as well, so a reused PID is never mistaken for
the run.

Identity marker: `CANCELBUS_FLOW_RUN_ID=<id>` in the process's environment, or Prefect's
`PREFECT__FLOW_RUN_ID=<id>` (schemas.markers). Reading another user's environment needs
that user or root.

Identity marker: `CANCELBUS_FLOW_RUN_ID=<id>` in the process's environment, or Prefect's
`PREFECT__FLOW_RUN_ID=<id>`. Reading another user's environment needs that user or root.
"""

from __future__ import annotations

import contextlib

import psutil

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import RUN_MARKERS, named_run_id
from services.infrastructure.process_tree import PinnedProcess, terminate_tree
from services.infrastructure.processes import default_scope, fingerprint_of, same_start
from services.worker.infrastructure import Observation, Presence


class ProcessInfrastructure:
    """`Infrastructure` for local processes of this host."""

    def __init__(self, scope: str | None = None) -> None:
        self._scope = scope or default_scope()

    @property
    def kind(self) -> InfrastructureKind:
        return InfrastructureKind.PROCESS

    @property
    def scope(self) -> str:
        return self._scope

    async def observe(self, target: InfrastructureId) -> Observation:
        try:
            proc = psutil.Process(int(target.id))
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return Observation(Presence.GONE, detail="exited (zombie)")
                fingerprint = fingerprint_of(proc)
            if target.fingerprint is not None and same_start(target.fingerprint, fingerprint):
                fingerprint = target.fingerprint
            try:
                run_id, detail = named_run_id(proc.environ(), RUN_MARKERS)
            except psutil.AccessDenied:
                run_id, detail = None, "its environment is not readable by this worker"
        except psutil.NoSuchProcess:
            return Observation(Presence.GONE)
        return Observation(Presence.RUNNING, run_id, fingerprint, detail)

    async def terminate(self, target: InfrastructureId, grace_seconds: float) -> None:
        root = self._pin(target)
        if root is None:
            return  # gone already
        try:
            await terminate_tree(root, grace_seconds)
        finally:
            root.close()

    async def is_gone(self, target: InfrastructureId) -> bool:
        root = self._pin(target)
        if root is None:
            return True
        root.close()
        return False

    def _pin(self, target: InfrastructureId) -> PinnedProcess | None:
        """The running process `target` names, if it is still the recorded instance."""
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(int(target.id))
            if target.fingerprint is None or same_start(target.fingerprint, fingerprint_of(proc)):
                return PinnedProcess.pin(proc)
        return None
