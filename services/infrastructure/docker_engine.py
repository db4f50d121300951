"""One Docker engine: how to reach it, its client, and a thread pool for its blocking calls.

Scope: the engine ID that `docker info` shows (`ID`; "ABCD:EFGH:..." on engine 20.10, a
UUID on 23+). Everyone who talks to one daemon reads the same ID — whichever URL they use
(`unix:///var/run/docker.sock`, `tcp://host:2376`, a socket mounted into a container whose
host name is its container ID) — and no two daemons share one, so a launcher and a worker
on the same engine agree on the scope without configuration, and two hosts never do.

The docker SDK is synchronous: every call runs in the engine's own thread pool, sized for
many concurrent stops (each one holds a thread for up to its grace period).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import structlog
from docker.errors import DockerException, NotFound

from services.infrastructure.errors import InfrastructureError
from services.infrastructure.settings import DockerConnection

log = structlog.get_logger(__name__)

T = TypeVar("T")


class DockerEngine:
    """A client of one engine; create it with `connect`, `close` it."""

    def __init__(self, client: Any, scope: str, *, threads: int = 128) -> None:
        self._client = client
        self._scope = scope
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="docker-api")

    @classmethod
    async def connect(
        cls, connection: DockerConnection, *, scope: str | None = None
    ) -> DockerEngine:
        """A client of `connection.host`; the scope is the engine ID unless given."""
        # the client asks the engine for its API version as it is made: not on the loop
        client = await asyncio.to_thread(
            docker.DockerClient,
            base_url=connection.host,
            timeout=connection.timeout_seconds,
            max_pool_size=connection.threads,
        )
        try:
            if scope is None:
                info: dict[str, Any] = await asyncio.to_thread(client.info)
                scope = str(info["ID"])
        except BaseException:
            client.close()
            raise
        log.info("docker_connected", url=connection.host, scope=scope)
        return cls(client, scope, threads=connection.threads)

    @property
    def scope(self) -> str:
        return self._scope

    @property
    def client(self) -> Any:
        """The docker SDK client (`docker.DockerClient`)."""
        return self._client

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking docker SDK call in this engine's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def stop(self, container: str, grace_seconds: float) -> None:
        """`docker stop -t <grace>`: the stop signal, then SIGKILL after the grace (whole s)."""
        seconds = max(0, math.ceil(grace_seconds))
        try:
            await self.call(self._client.api.stop, container, timeout=seconds)
        except NotFound:
            return  # removed meanwhile: nothing left to stop
        except DockerException as exc:
            raise InfrastructureError(f"docker stop {container[:12]} failed: {exc}") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
