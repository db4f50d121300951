"""The state service and a real process worker, served over TCP from a thread of the test.

One in-process bus joins them, as in `cancelbus dev`. The thread has its own event loop,
so sync clients, CLI subprocesses and a browser can all talk to it while async tests run.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from services.state.bootstrap import StateRuntime, build_state
from services.transport.memory import InMemoryBus
from services.worker.bootstrap import build_worker
from services.worker.process import ProcessInfrastructure
from services.worker.settings import WorkerSettings
from tests.state.conftest import fast_settings
from tests.support.buses import FAST_RETRY

T = TypeVar("T")


class LiveStack:
    def __init__(self, tmp_path: Path, *, api_token: str | None = None) -> None:
        # bound now and handed to uvicorn: no other process can take the port meanwhile
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.scope = f"test-host-{uuid.uuid4().hex[:8]}"
        self.api_token = api_token
        self._db = f"sqlite:///{tmp_path / 'stack.db'}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.runtime: StateRuntime | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self) -> LiveStack:
        self._thread = threading.Thread(target=self._main, name="live-stack", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._failure is not None:
                self._socket.close()
                raise AssertionError("stack failed to start") from self._failure
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("stack not healthy within 30 s")

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), "stack did not stop"
        self._socket.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the stack's loop (e.g. a use case of the state service)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wrap_future(future)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
            raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        bus = InMemoryBus(retry=FAST_RETRY)
        settings = fast_settings(self._db, api_token=self.api_token)
        runtime = build_state(settings, bus)
        worker_settings = WorkerSettings(
            worker_scope=self.scope, worker_heartbeat_seconds=1.0, worker_name="process-worker-1"
        )
        worker = build_worker(worker_settings, bus, ProcessInfrastructure(self.scope))
        self.runtime = runtime

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            async with runtime.running():
                worker.start()
                try:
                    yield
                finally:
                    await worker.stop_heartbeat()

        config = uvicorn.Config(
            runtime.app(lifespan),
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        await self._server.serve(sockets=[self._socket])
