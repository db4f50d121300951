"""A real crash: an automations replica SIGKILLed halfway through a proactive window; another
replica takes its partitions over, replays the records the window was opened by, and fires it
once, on time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from schemas.messages import CancelFlowRun
from schemas.topics import Topics
from services.localinfra.processes import free_port
from services.localinfra.service_process import ServiceProcess, StateProcess
from tests.automations.test_max_runtime import max_runtime_rule
from tests.support.buses import KafkaKit

WITHIN = 20.0
ON_TIME_WITHIN = 2.0  # generous for a loaded machine; the target is 1 s


class AutomationsProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.metrics_port = free_port()
        super().__init__(
            ["automations"], {**env, "CANCELBUS_METRICS_PORT": str(self.metrics_port)}, log_path
        )

    def metric(self, name: str) -> float | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    async def wait_metric(self, name: str, at_least: float, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"automations service exited:\n{self.log()}")
            value = await asyncio.to_thread(self.metric, name)
            if value is not None and value >= at_least:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} never reached {at_least}:\n{self.log()}")


async def test_a_window_survives_a_crash_of_its_replica(
    kafka_kit: KafkaKit, tmp_path: Path
) -> None:
    env = {
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": kafka_kit.bootstrap,
        "CANCELBUS_TOPIC_PREFIX": kafka_kit.prefix,
        # a dead replica's partitions move after 6 s of silence (the broker's least; Kafka's
        # default is 10 s)
        "CANCELBUS_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
    }
    state = first = second = None
    try:
        state = StateProcess(env, tmp_path / "state.log").start()
        await asyncio.to_thread(state.wait_healthy)
        env["CANCELBUS_API_URL"] = state.api_url
        async with httpx.AsyncClient(base_url=state.api_url, timeout=10) as api:
            created = await api.post("/automations/", json=max_runtime_rule(WITHIN))
            assert created.status_code == 201, created.text
            first = AutomationsProcess(env, tmp_path / "first.log").start()
            await first.wait_metric("cancelbus_automations_rules", 1)

            body = {"name": "etl", "tags": ["etl"], "state": {"type": "RUNNING"}}
            run = (await api.post("/flow_runs/", json=body)).json()
            started = datetime.fromisoformat(run["state"]["timestamp"]).timestamp()
            deadline = started + WITHIN
            await first.wait_metric("cancelbus_automations_open_windows", 1)

            await asyncio.sleep(max(0.0, started + WITHIN / 4 - time.time()))
            first.kill()
            second = AutomationsProcess(env, tmp_path / "second.log").start()

            while (found := (await api.get(f"/flow_runs/{run['id']}")).json())[
                "state_type"
            ] != "CANCELLED":
                assert time.time() < deadline + 30, f"never fired:\n{second.log()}"
                await asyncio.sleep(0.05)
            cancelled_at = datetime.fromisoformat(found["state"]["timestamp"]).timestamp()
            lateness = cancelled_at - deadline
            print(f"cancelled {lateness:+.3f} s after the window's end (killed at a quarter)")
            assert 0 <= lateness <= ON_TIME_WITHIN, lateness

        await second.wait_metric('cancelbus_automations_firings_total{posture="proactive"}', 1)
        records = await kafka_kit.published(Topics.COMMANDS)
        commands = [
            CancelFlowRun.model_validate_json(r.value)
            for r in records
            if r.key == run["id"].encode()
        ]
        assert len(commands) == 1, commands  # fired once: by the second replica only
        assert second.terminate() == 0, second.log()
        assert state.terminate() == 0, state.log()
    finally:
        for process in (second, first, state):
            if process is not None:
                process.kill()


pytestmark = pytest.mark.kafka
