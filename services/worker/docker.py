"""The docker kind: scope = the Docker engine's ID, id = the full container ID.

Scope: the engine ID (services.infrastructure.docker_engine). A deployment whose runs
carry the plain form `api_url:container_id` (e.g. written by Prefect) starts its worker
with `--scope <that api_url>` instead.

Identity: the container's label `io.cancelbus.flow-run-id` (or Prefect's
`io.prefect.flow-run-id`, schemas.markers) names the run; otherwise it is not the run's and
is left alone. The fingerprint is the full container ID: the id a run records may be a name
or an ID prefix, and the runtime pins the container it verified, so a name taken over by
another container in between is never stopped. Container IDs are random and never reused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from docker.errors import DockerException, NotFound

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import RUN_LABELS, named_run_id
from services.infrastructure.docker_engine import DockerEngine
from services.infrastructure.errors import InfrastructureError
from services.infrastructure.settings import DockerConnection
from services.worker.infrastructure import Observation, Presence

log = structlog.get_logger(__name__)

# states in which the container's processes still run or are about to run again
_LIVE_STATUSES = frozenset({"running", "restarting", "paused", "removing"})


class DockerInfrastructure:
    """`Infrastructure` for the containers of one Docker engine."""

    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine

    @classmethod
    async def connect(
        cls, connection: DockerConnection, *, scope: str | None = None
    ) -> DockerInfrastructure:
        """A client of `connection.host`; the scope is the engine ID unless given."""
        return cls(await DockerEngine.connect(connection, scope=scope))

    @property
    def kind(self) -> InfrastructureKind:
        return InfrastructureKind.DOCKER

    @property
    def scope(self) -> str:
        return self._engine.scope

    async def observe(self, target: InfrastructureId) -> Observation:
        attrs = await self._inspect(_container(target))
        if attrs is None:
            return Observation(Presence.GONE, detail="no such container")
        status = str(attrs.get("State", {}).get("Status", ""))
        if status not in _LIVE_STATUSES:
            return Observation(Presence.GONE, detail=f"container is {status}")
        labels = attrs.get("Config", {}).get("Labels")
        run_id, detail = named_run_id(labels, RUN_LABELS, what="label ")
        full_id = str(attrs.get("Id", "")) or None
        return Observation(Presence.RUNNING, flow_run_id=run_id, fingerprint=full_id, detail=detail)

    async def terminate(self, target: InfrastructureId, grace_seconds: float) -> None:
        """`docker stop -t <grace>`: the stop signal, then SIGKILL after the grace (whole s)."""
        await self._engine.stop(_container(target), grace_seconds)

    async def is_gone(self, target: InfrastructureId) -> bool:
        attrs = await self._inspect(_container(target))
        return attrs is None or attrs.get("State", {}).get("Status") not in _LIVE_STATUSES

    def close(self) -> None:
        self._engine.close()

    async def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = await self._engine.call(
                self._engine.client.api.inspect_container, container_id
            )
        except NotFound:
            return None
        except DockerException as exc:
            raise InfrastructureError(f"docker inspect {container_id[:12]} failed: {exc}") from exc
        return attrs


def _container(target: InfrastructureId) -> str:
    """The container to act on: the full ID once known (the fingerprint), else the id."""
    return target.fingerprint or target.id


async def reachable_engine(
    connection: DockerConnection, *, within: float = 5.0
) -> DockerInfrastructure | None:
    """The engine `connection` names if it answers, else None (logged)."""
    try:
        return await asyncio.wait_for(DockerInfrastructure.connect(connection), within)
    except (DockerException, OSError, TimeoutError) as exc:
        log.info("docker_unreachable", url=connection.host, error=str(exc)[:200])
        return None
