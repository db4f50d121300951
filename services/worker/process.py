"""The process kind: scope = host name, id = PID, fingerprint = the process's start time.

Fingerprint format: psutil's `create_time()` (seconds since the epoch, 10 ms resolution
on Linux) as `f"{create_time:.2f}"`, e.g. "1764086400.37". Linux derives it from the boot
time, whose estimate can move by a second when the clock is adjusted, so two readings
within `FINGERPRINT_TOLERANCE` seconds are the same start; the run's marker in the
environment is checked as well, so a reused PID is never mistaken for the run.

Identity marker: `CANCELBUS_FLOW_RUN_ID=<id>` in the process's environment, or Prefect's
`PREFECT__FLOW_RUN_ID=<id>`. Reading another user's environment needs that user or root.
"""

from __future__ import annotations

import contextlib
import socket
from uuid import UUID

import psutil

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.worker.infrastructure import Observation, Presence
from services.worker.process_tree import PinnedProcess, terminate_tree

MARKERS = ("CANCELBUS_FLOW_RUN_ID", "PREFECT__FLOW_RUN_ID")
FINGERPRINT_TOLERANCE = 1.0


def fingerprint_of(proc: psutil.Process) -> str:
    return f"{proc.create_time():.2f}"


def same_start(recorded: str, observed: str) -> bool:
    try:
        return abs(float(recorded) - float(observed)) <= FINGERPRINT_TOLERANCE
    except ValueError:
        return recorded == observed


def default_scope() -> str:
    return socket.gethostname()


def marker_of(environ: dict[str, str]) -> tuple[UUID | None, str | None]:
    """The run id the environment names, or (None, why not)."""
    for name in MARKERS:
        value = environ.get(name)
        if value:
            try:
                return UUID(value), None
            except ValueError:
                return None, f"{name}={value[:64]!r} is not a flow-run id"
    return None, None


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
                run_id, detail = marker_of(proc.environ())
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
