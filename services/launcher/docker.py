"""Launch a container as a tracked run: `cancelbus run docker IMAGE [-- CMD ARGS...]`.

Creates a PENDING flow run, starts the container detached with the run's label
(`io.cancelbus.flow-run-id`), `CANCELBUS_FLOW_RUN_ID` in its environment and no network
unless asked, records `docker://<engine id>/<container id>`, proposes RUNNING (refused: it
stops the container), waits for it to exit and reports COMPLETED or FAILED with the exit
code. SIGTERM/SIGINT to the launcher are passed on to the container, as `docker run` does.
The container is removed at the end unless `remove=False`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from uuid import UUID

import structlog
from docker.errors import DockerException
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_ID_ENV, FLOW_RUN_LABEL
from schemas.states import StateType
from services.infrastructure.docker_engine import DockerEngine
from services.infrastructure.settings import DockerConnection
from services.launcher.api import Parent, RunsApi
from services.launcher.process import CANNOT_START_EXIT, LaunchResult
from services.launcher.tracked import follow
from services.runtime.signals import on_stop_signals

log = structlog.get_logger(__name__)

_WAIT_POLL_SECONDS = 5


class StartedContainer:
    """A container this launcher started (the `Started` of services.launcher.tracked)."""

    def __init__(self, docker: DockerEngine, container_id: str) -> None:
        self._docker = docker
        self.container_id = container_id

    @property
    def infrastructure(self) -> InfrastructureId:
        return InfrastructureId(
            kind=InfrastructureKind.DOCKER, scope=self._docker.scope, id=self.container_id
        )

    async def wait(self) -> int:
        api = self._docker.client.api
        while True:  # short waits, so that cancelling the launcher never strands a thread
            try:
                answer = await self._docker.call(
                    api.wait, self.container_id, timeout=_WAIT_POLL_SECONDS
                )
                return int(answer["StatusCode"])
            except (ReadTimeout, RequestsConnectionError):
                continue

    async def stop(self, grace_seconds: float) -> None:
        await self._docker.stop(self.container_id, grace_seconds)

    async def remove(self) -> None:
        """Remove it (killing it first if it still runs, e.g. after a fault in the launcher)."""
        with contextlib.suppress(DockerException):
            await self._docker.call(
                self._docker.client.api.remove_container, self.container_id, force=True
            )

    @contextlib.contextmanager
    def forwarding_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT to the launcher go to the container instead."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()

        async def kill(sig: signal.Signals) -> None:
            with contextlib.suppress(DockerException):
                await self._docker.call(self._docker.client.api.kill, self.container_id, sig)

        def forward(sig: signal.Signals) -> None:
            task = loop.create_task(kill(sig))
            pending.add(task)
            task.add_done_callback(pending.discard)

        with on_stop_signals(forward):
            yield


async def launch_container(
    image: str,
    command: Sequence[str] = (),
    *,
    api_url: str,
    name: str | None = None,
    tags: Sequence[str] = (),
    docker: DockerConnection | None = None,
    scope: str | None = None,
    env: Mapping[str, str] | None = None,
    network: str = "none",
    api_token: str | None = None,
    stop_grace_seconds: float = 10.0,
    remove: bool = True,
    forward_signals: bool = True,
    on_started: Callable[[UUID, InfrastructureId], None] | None = None,
    parent: Parent | None = None,
) -> LaunchResult:
    """Run `image` (with `command`, else its own) as a tracked flow run; report how it ended."""
    engine = await DockerEngine.connect(docker or DockerConnection(), scope=scope)
    try:
        async with RunsApi(api_url, token=api_token) as api:
            run = await api.create_run(name or image, list(tags), parent)
            run_env = {**(env or {}), FLOW_RUN_ID_ENV: str(run.id)}
            try:
                container = await engine.call(
                    engine.client.containers.run,
                    image,
                    list(command) or None,
                    detach=True,
                    labels={FLOW_RUN_LABEL: str(run.id)},
                    environment=run_env,
                    network_mode=network,
                )
            except DockerException as exc:
                await api.propose(run.id, StateType.FAILED, f"cannot start {image!r}: {exc}")
                return LaunchResult(run.id, StateType.FAILED, None, CANNOT_START_EXIT)
            started = StartedContainer(engine, str(container.id))
            try:
                signals = started.forwarding_signals() if forward_signals else _nothing()
                with signals:
                    return await follow(
                        api,
                        run.id,
                        started,
                        stop_grace_seconds=stop_grace_seconds,
                        on_started=on_started,
                    )
            finally:
                if remove:
                    await asyncio.shield(started.remove())
    finally:
        engine.close()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
