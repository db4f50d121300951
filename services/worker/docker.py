"""The docker kind: scope = the Docker engine's ID, id = the full container ID.

Scope: the engine ID that `docker info` shows (`ID`; "ABCD:EFGH:..." on engine 20.10, a
UUID on 23+). Everyone who talks to one daemon reads the same ID — whichever URL they use
(`unix:///var/run/docker.sock`, `tcp://host:2376`, a socket mounted into a container whose
host name is its container ID) — and no two daemons share one, so a launcher and a worker
on the same engine agree on the scope without configuration, and two hosts never do. A
deployment whose runs carry the plain form `api_url:container_id` (e.g. written by Prefect)
starts its worker with `--scope <that api_url>` instead.

Identity: the container's label `io.cancelbus.flow-run-id` (or Prefect's
`io.prefect.flow-run-id`) names the run; otherwise it is not the run's and is left alone.
The fingerprint is the full container ID: the id a run records may be a name or an ID
prefix, and the runtime pins the container it verified, so a name taken over by another
container in between is never stopped. Container IDs are random and never reused.

The docker SDK is synchronous: every call runs in this adapter's own thread pool, sized
for many concurrent stops (each one holds a thread for up to its grace period).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import docker
import structlog
from docker.errors import DockerException, NotFound
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.worker.infrastructure import InfrastructureError, Observation, Presence

log = structlog.get_logger(__name__)

LABEL = "io.cancelbus.flow-run-id"
LABELS = (LABEL, "io.prefect.flow-run-id")
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
# states in which the container's processes still run or are about to run again
_LIVE_STATUSES = frozenset({"running", "restarting", "paused", "removing"})

T = TypeVar("T")


class DockerSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    docker_host: str = Field(
        default=DEFAULT_DOCKER_URL,
        validation_alias=AliasChoices("CANCELBUS_DOCKER_HOST", "DOCKER_HOST"),
        description="the Docker API URL (CANCELBUS_DOCKER_HOST, else DOCKER_HOST)",
    )
    docker_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="CANCELBUS_DOCKER_TIMEOUT_SECONDS",
        description="HTTP timeout of one Docker API call (a stop adds its grace)",
    )
    docker_threads: int = Field(
        default=128,
        ge=1,
        le=4096,
        validation_alias="CANCELBUS_DOCKER_THREADS",
        description="Docker API calls in flight at once",
    )


def label_run_id(labels: dict[str, str] | None) -> tuple[UUID | None, str | None]:
    """The run id the labels name, or (None, why not)."""
    for name in LABELS:
        value = (labels or {}).get(name)
        if value:
            try:
                return UUID(value), None
            except ValueError:
                return None, f"label {name}={value[:64]!r} is not a flow-run id"
    return None, None


class DockerInfrastructure:
    """`Infrastructure` for the containers of one Docker engine."""

    def __init__(self, client: Any, scope: str, *, threads: int = 128) -> None:
        self._client = client
        self._scope = scope
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="docker-api")

    @classmethod
    async def connect(
        cls, settings: DockerSettings | None = None, *, scope: str | None = None
    ) -> DockerInfrastructure:
        """A client of `settings.docker_host`; the scope is the engine ID unless given."""
        settings = settings or DockerSettings()
        # the client asks the engine for its API version as it is made: not on the loop
        client = await asyncio.to_thread(
            docker.DockerClient,
            base_url=settings.docker_host,
            timeout=settings.docker_timeout_seconds,
            max_pool_size=settings.docker_threads,
        )
        try:
            if scope is None:
                info: dict[str, Any] = await asyncio.to_thread(client.info)
                scope = str(info["ID"])
        except BaseException:
            client.close()
            raise
        log.info("docker_connected", url=settings.docker_host, scope=scope)
        return cls(client, scope, threads=settings.docker_threads)

    @property
    def kind(self) -> InfrastructureKind:
        return InfrastructureKind.DOCKER

    @property
    def scope(self) -> str:
        return self._scope

    @property
    def client(self) -> Any:
        """The docker SDK client (`docker.DockerClient`), for the launcher."""
        return self._client

    async def observe(self, target: InfrastructureId) -> Observation:
        attrs = await self._inspect(_container(target))
        if attrs is None:
            return Observation(Presence.GONE, detail="no such container")
        status = str(attrs.get("State", {}).get("Status", ""))
        if status not in _LIVE_STATUSES:
            return Observation(Presence.GONE, detail=f"container is {status}")
        run_id, detail = label_run_id(attrs.get("Config", {}).get("Labels"))
        full_id = str(attrs.get("Id", "")) or None
        return Observation(Presence.RUNNING, flow_run_id=run_id, fingerprint=full_id, detail=detail)

    async def terminate(self, target: InfrastructureId, grace_seconds: float) -> None:
        """`docker stop -t <grace>`: the stop signal, then SIGKILL after the grace (whole s)."""
        seconds = max(0, math.ceil(grace_seconds))
        try:
            await self.call(self._client.api.stop, _container(target), timeout=seconds)
        except NotFound:
            return  # removed meanwhile: nothing left to stop
        except DockerException as exc:
            raise InfrastructureError(f"docker stop {target.id[:12]} failed: {exc}") from exc

    async def is_gone(self, target: InfrastructureId) -> bool:
        attrs = await self._inspect(_container(target))
        return attrs is None or attrs.get("State", {}).get("Status") not in _LIVE_STATUSES

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    async def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = await self.call(
                self._client.api.inspect_container, container_id
            )
        except NotFound:
            return None
        except DockerException as exc:
            raise InfrastructureError(f"docker inspect {container_id[:12]} failed: {exc}") from exc
        return attrs

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking docker SDK call in this adapter's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))


def _container(target: InfrastructureId) -> str:
    """The container to act on: the full ID once known (the fingerprint), else the id."""
    return target.fingerprint or target.id


async def reachable_engine(
    settings: DockerSettings | None = None, *, within: float = 5.0
) -> DockerInfrastructure | None:
    """The engine at DOCKER_HOST (or the default socket) if it answers, else None (logged)."""
    settings = settings or DockerSettings()
    try:
        return await asyncio.wait_for(DockerInfrastructure.connect(settings), within)
    except (DockerException, OSError, TimeoutError) as exc:
        log.info("docker_unreachable", url=settings.docker_host, error=str(exc)[:200])
        return None
