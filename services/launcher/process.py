"""Launch a command as a tracked process run: `cancelbus run process -- CMD ARGS...`.

Creates a PENDING flow run, starts the command as given (no shell) in a session and
process group of its own with `CANCELBUS_FLOW_RUN_ID` in its environment, records its
infrastructure id with the start-time fingerprint, proposes RUNNING, waits, and reports
COMPLETED or FAILED. If RUNNING is refused (the run was cancelled meanwhile) it stops what
it started. If the run is cancelled while it runs, the process worker of this host stops
the process; the launcher just waits for it to die and exits with `CANCELLED_EXIT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import psutil
import structlog

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_ID_ENV
from schemas.states import StateType
from services.infrastructure.process_tree import PinnedProcess, terminate_tree
from services.infrastructure.processes import default_scope, fingerprint_of
from services.launcher.api import Parent, RunsApi
from services.runtime.signals import on_stop_signals

log = structlog.get_logger(__name__)

CANCELLED_EXIT = 130
CANNOT_START_EXIT = 127
_CANCELLED_TYPES = (StateType.CANCELLING, StateType.CANCELLED)


@dataclass(frozen=True, slots=True)
class LaunchResult:
    flow_run_id: UUID
    state: StateType | None  # the run's state as the launcher left it
    returncode: int | None  # the command's (negative: killed by that signal)
    exit_code: int  # what `cancelbus run` exits with


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


async def launch_process(
    command: Sequence[str],
    *,
    api_url: str,
    name: str | None = None,
    tags: Sequence[str] = (),
    scope: str | None = None,
    env: Mapping[str, str] | None = None,
    api_token: str | None = None,
    stop_grace_seconds: float = 10.0,
    on_started: Callable[[UUID, InfrastructureId], None] | None = None,
    parent: Parent | None = None,
) -> LaunchResult:
    """Run `command` as a tracked flow run (a child of `parent`) and report how it ended."""
    if not command:
        raise ValueError("no command to run")
    async with RunsApi(api_url, token=api_token) as api:
        run = await api.create_run(name or os.path.basename(command[0]), list(tags), parent)
        if run.state_type in _CANCELLED_TYPES:  # its parent is cancelled: nothing to start
            log.info("cancelled_before_start", flow_run_id=str(run.id))
            return LaunchResult(run.id, run.state_type, None, CANCELLED_EXIT)
        child_env = {**os.environ, **(env or {}), FLOW_RUN_ID_ENV: str(run.id)}
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, env=child_env, start_new_session=True
            )
        except OSError as exc:
            await api.propose(run.id, StateType.FAILED, f"cannot start {command[0]!r}: {exc}")
            return LaunchResult(run.id, StateType.FAILED, None, CANNOT_START_EXIT)
        infrastructure = _infrastructure_of(proc.pid, scope)
        await api.set_infrastructure(run.id, infrastructure)
        status, _ = await api.propose(run.id, StateType.RUNNING)
        if status != "ACCEPT":
            log.warning("running_refused_stopping", flow_run_id=str(run.id), status=status)
            await _stop(proc.pid, stop_grace_seconds)
            returncode = await proc.wait()
            return LaunchResult(run.id, StateType.CANCELLED, returncode, CANCELLED_EXIT)
        log.info("launched", flow_run_id=str(run.id), infrastructure=str(infrastructure))
        if on_started is not None:
            on_started(run.id, infrastructure)
        with _forwarding_signals(proc.pid):
            returncode = await proc.wait()
        if (await api.read_run(run.id)).state_type in _CANCELLED_TYPES:
            return LaunchResult(run.id, StateType.CANCELLED, returncode, CANCELLED_EXIT)
        final = StateType.COMPLETED if returncode == 0 else StateType.FAILED
        status, state = await api.propose(run.id, final, describe_exit(returncode))
        if status != "ACCEPT":  # cancelled just before the process ended
            return LaunchResult(run.id, state, returncode, CANCELLED_EXIT)
        exit_code = 0 if returncode == 0 else (returncode if returncode > 0 else 128 - returncode)
        return LaunchResult(run.id, final, returncode, exit_code)


def _infrastructure_of(pid: int, scope: str | None) -> InfrastructureId:
    fingerprint: str | None = None
    with contextlib.suppress(psutil.Error):
        fingerprint = fingerprint_of(psutil.Process(pid))
    return InfrastructureId(
        kind=InfrastructureKind.PROCESS,
        scope=scope or default_scope(),
        id=str(pid),
        fingerprint=fingerprint,
    )


async def _stop(pid: int, grace_seconds: float) -> None:
    with contextlib.suppress(psutil.Error):
        root = PinnedProcess.pin(psutil.Process(pid))
        if root is not None:
            try:
                await terminate_tree(root, grace_seconds, reap=False)
            finally:
                root.close()


@contextlib.contextmanager
def _forwarding_signals(pid: int) -> Iterator[None]:
    """SIGTERM/SIGINT to the launcher go to the command's process group instead."""

    def forward(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    with on_stop_signals(forward):
        yield
