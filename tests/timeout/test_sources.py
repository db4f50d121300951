"""On start the timeout service reads the CANCELLING runs from the state service's API."""

from __future__ import annotations

import httpx
import pytest

from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.states import StateType
from services.state.bootstrap import build_state
from services.timeout.sources import HttpCancellingRuns
from services.transport.memory import InMemoryBus
from tests.state.conftest import fast_settings


async def test_the_cancelling_runs_come_from_the_api_with_its_bearer_token(
    sqlite_url: str,
) -> None:
    runtime = build_state(fast_settings(sqlite_url, api_token="s3cret"), InMemoryBus())
    await runtime.migrate()
    try:
        service = runtime.service
        cancelling = await service.create_flow_run(
            FlowRunCreate(infrastructure_pid="nohost:1", state=StateCreate(type=StateType.RUNNING))
        )
        result = await service.set_state(cancelling.id, StateCreate(type=StateType.CANCELLING))
        await service.create_flow_run(FlowRunCreate(state=StateCreate(type=StateType.RUNNING)))
        transport = httpx.ASGITransport(app=runtime.app())

        source = HttpCancellingRuns(
            "http://cancelbus/api/", token="s3cret", timeout=5, transport=transport
        )
        [run] = await source.cancelling_runs()
        await source.aclose()
        assert result.state is not None
        assert (run.run_id, run.state_id, run.since) == (
            cancelling.id,
            result.state.id,
            result.state.timestamp,
        )

        wrong = HttpCancellingRuns(
            "http://cancelbus/api", token="nope", timeout=5, transport=transport
        )
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            await wrong.cancelling_runs()
        await wrong.aclose()
    finally:
        await runtime.stop()
