"""On a shared cluster every service keeps to its topic prefix, the timeout service too.

The state service, the timeout service and a process worker run as real OS processes on the
real broker, each configured only by the environment a deployment sets. A run that no worker
serves stays CANCELLING until the timeout service forces it, and nothing reaches the bare
`cancelbus.*` topics.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.states import StateType
from services.localinfra.service_process import ServiceProcess, StateProcess
from services.timeout.settings import TIMEOUT_ENV
from tests.worker.conftest import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

TIMEOUT_SECONDS = 4.0


async def bare_topic_offsets(bootstrap: str) -> dict[str, int]:
    """How many messages each unprefixed `cancelbus.*` topic on the broker holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith("cancelbus."))
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {topic: sum(ends[tp] for tp in partitions if tp.topic == topic) for topic in topics}
    finally:
        await consumer.stop()


class Deployment:
    def __init__(self, tmp: Path, bootstrap: str) -> None:
        self.tmp = tmp
        self.env = {
            "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp / 'state.db'}",
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CANCELBUS_TOPIC_PREFIX": f"team-{uuid.uuid4().hex[:8]}.",
            "CANCELBUS_TOPIC_PARTITIONS": "3",
            "CANCELBUS_OUTBOX_POLL_SECONDS": "0.1",
            "CANCELBUS_WORKER_HEARTBEAT_SECONDS": "0.5",
        }
        self.state = StateProcess(self.env, tmp / "state.log")
        self.others: list[ServiceProcess] = []
        self.api = httpx.AsyncClient(base_url=self.state.api_url + "/", timeout=30)

    def start(self, name: str, args: list[str], **env: str) -> ServiceProcess:
        process = ServiceProcess(args, {**self.env, **env}, self.tmp / f"{name}.log").start()
        self.others.append(process)
        return process

    async def stop(self) -> None:
        await self.api.aclose()
        for process in [*self.others, self.state]:
            if process.proc is not None:
                await asyncio.to_thread(process.terminate)

    async def running_run(self, infrastructure_pid: str) -> UUID:
        body = {"state": {"type": "RUNNING"}, "infrastructure_pid": infrastructure_pid}
        response = await self.api.post("flow_runs/", json=body)
        response.raise_for_status()
        return UUID(response.json()["id"])

    async def cancel(self, run_id: UUID) -> None:
        body = {"state": {"type": "CANCELLING"}}
        answer = (await self.api.post(f"flow_runs/{run_id}/set_state", json=body)).json()
        assert (answer["status"], answer["state"]["type"]) == ("ACCEPT", "CANCELLING"), answer

    async def states(self, run_id: UUID) -> list[dict[str, Any]]:
        states: list[dict[str, Any]] = (await self.api.get(f"flow_runs/{run_id}/states")).json()
        return states

    async def cancelled(self, run_id: UUID) -> bool:
        last = (await self.states(run_id))[-1]
        return bool(last["type"] == StateType.CANCELLED.value)


@pytest.fixture
async def deployment(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[Deployment]:
    deployment = Deployment(tmp_path, kafka_bootstrap)
    try:
        deployment.state.start()
        await asyncio.to_thread(deployment.state.wait_healthy)
        yield deployment
    finally:
        await deployment.stop()


async def test_every_service_keeps_to_its_prefix_and_a_stuck_run_is_forced_at_its_deadline(
    deployment: Deployment, kafka_bootstrap: str
) -> None:
    bare_before = await bare_topic_offsets(kafka_bootstrap)
    worker = deployment.start(
        "worker",
        ["worker", "process", "--scope", f"host-{uuid.uuid4().hex[:8]}"],
        CANCELBUS_WORKER_NAME="prefixed-worker",
    )

    async def worker_alive() -> bool:
        seen: list[dict[str, Any]] = (await deployment.api.get("workers")).json()
        return any(w["worker"] == "prefixed-worker" and w["alive"] for w in seen)

    await eventually(worker_alive, f"the worker's heartbeat reached the state ({worker.log_path})")

    unserved = f"nobody-{uuid.uuid4().hex[:8]}"  # no worker serves this scope: the run is stuck
    before_start = await deployment.running_run(f"{unserved}:4242")
    await deployment.cancel(before_start)  # found by the timeout service's start-up rebuild
    timeout = deployment.start(
        "timeout",
        ["timeout"],
        CANCELBUS_API_URL=deployment.state.api_url,
        CANCELBUS_METRICS_PORT="0",
        **{TIMEOUT_ENV: str(TIMEOUT_SECONDS)},
    )

    async def timeout_assigned() -> bool:
        assert timeout.proc is not None
        assert timeout.proc.poll() is None, timeout.log()
        return "partitions_owned" in timeout.log()

    await eventually(timeout_assigned, f"the timeout service joined its group ({timeout.log_path})")
    after_start = await deployment.running_run(f"{unserved}:4343")
    await deployment.cancel(after_start)  # heard on the prefixed state-changes topic

    for run_id in (before_start, after_start):
        forced = functools.partial(deployment.cancelled, run_id)
        await eventually(forced, f"run {run_id} forced to CANCELLED ({timeout.log_path})")
        *_, cancelling, cancelled = await deployment.states(run_id)
        assert cancelling["type"] == StateType.CANCELLING.value
        assert cancelled["message"].startswith("Forced to CANCELLED"), cancelled
        waited = datetime.fromisoformat(cancelled["timestamp"]) - datetime.fromisoformat(
            cancelling["timestamp"]
        )
        assert waited.total_seconds() >= TIMEOUT_SECONDS, "forced before its deadline"

    bare_after = await bare_topic_offsets(kafka_bootstrap)
    grown = {
        topic: count - bare_before.get(topic, 0)
        for topic, count in bare_after.items()
        if count != bare_before.get(topic, 0)
    }
    assert grown == {}, "messages on unprefixed topics"
