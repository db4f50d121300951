"""The outbox survives a real crash: SIGKILL after commit, before publish; nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from schemas.messages import CancellationRequested
from schemas.topics import Topics
from services.localinfra import KafkaBroker
from services.localinfra.service_process import StateProcess
from tests.support.buses import KafkaKit


@pytest.mark.kafka  # starts a broker of its own
async def test_event_committed_while_the_broker_was_down_is_published_after_a_crash(
    tmp_path: Path,
) -> None:
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    try:
        env = {
            "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        }
        first = StateProcess(env, tmp_path / "state.log").start()
        try:
            await asyncio.to_thread(first.wait_healthy)
            async with httpx.AsyncClient(base_url=first.api_url, timeout=10) as api:
                run = (await api.post("/flow_runs/", json={"infrastructure_pid": "h:42"})).json()
                await api.post(
                    f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
                )

                await asyncio.to_thread(broker.stop)
                answer = await api.post(
                    f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}}
                )
                assert answer.json()["status"] == "ACCEPT"
                assert (await api.get(f"/flow_runs/{run['id']}")).json()[
                    "state_type"
                ] == "CANCELLING"
        finally:
            first.kill()

        await asyncio.to_thread(broker.start)
        second = StateProcess(env, tmp_path / "state.log", port=first.port).start()
        try:
            await asyncio.to_thread(second.wait_healthy)
            kit = KafkaKit(broker.bootstrap_servers)
            kit.prefix = ""
            records = await kit.read(
                Topics.CANCEL_REQUESTED,
                until=lambda rs: any(r.key == run["id"].encode() for r in rs),
                within=30,
            )
            requests = [
                CancellationRequested.model_validate_json(r.value)
                for r in records
                if r.key == run["id"].encode()
            ]
            assert len(requests) == 1
            assert str(requests[0].state_id) == answer.json()["state"]["id"]
        finally:
            assert second.terminate() == 0, second.log()
    finally:
        await asyncio.to_thread(broker.close)
