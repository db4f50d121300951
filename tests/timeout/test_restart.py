"""A real crash: the timeout service SIGKILLed halfway to a deadline still forces on time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from services.localinfra import KafkaBroker
from services.localinfra.processes import free_port
from services.localinfra.service_process import ServiceProcess, StateProcess
from services.timeout.settings import PREFECT_TIMEOUT_ENV, TIMEOUT_ENV

TIMEOUT = 8.0
ON_TIME_WITHIN = 3.0  # generous bound for a loaded CI machine; the target is 1 s


class TimeoutProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.metrics_port = free_port()
        super().__init__(
            ["timeout"], {**env, "CANCELBUS_METRICS_PORT": str(self.metrics_port)}, log_path
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
                raise AssertionError(f"timeout service exited:\n{self.log()}")
            value = await asyncio.to_thread(self.metric, name)
            if value is not None and value >= at_least:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} never reached {at_least}:\n{self.log()}")


@pytest.mark.kafka  # starts a broker of its own
async def test_a_deadline_survives_a_crash_of_the_timeout_service(tmp_path: Path) -> None:
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    state = timeout = None
    try:
        env = {
            "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            # ours wins over Prefect's name, set here too
            TIMEOUT_ENV: str(TIMEOUT),
            PREFECT_TIMEOUT_ENV: "600",
        }
        state = StateProcess(env, tmp_path / "state.log").start()
        await asyncio.to_thread(state.wait_healthy)
        env["CANCELBUS_API_URL"] = state.api_url
        timeout = TimeoutProcess(env, tmp_path / "timeout.log").start()
        await timeout.wait_metric("cancelbus_timeout_rebuilds_total", 1)

        async with httpx.AsyncClient(base_url=state.api_url, timeout=10) as api:
            run = (await api.post("/flow_runs/", json={"infrastructure_pid": "nohost:42"})).json()
            await api.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
            answer = await api.post(
                f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}}
            )
            since = datetime.fromisoformat(answer.json()["state"]["timestamp"])
            deadline = since.timestamp() + TIMEOUT
            await timeout.wait_metric("cancelbus_timeout_cancelling_runs", 1)

            await asyncio.sleep(max(0.0, deadline - TIMEOUT / 2 - time.time()))
            timeout.kill()
            timeout = TimeoutProcess(env, tmp_path / "timeout.log").start()

            while (body := (await api.get(f"/flow_runs/{run['id']}")).json())[
                "state_type"
            ] != "CANCELLED":
                assert time.time() < deadline + 30, f"never forced:\n{timeout.log()}"
                await asyncio.sleep(0.05)
            forced_at = datetime.fromisoformat(body["state"]["timestamp"]).timestamp()
            lateness = forced_at - deadline
            print(f"forced {lateness:+.3f} s after the deadline (restarted at half time)")
            assert 0 <= lateness <= ON_TIME_WITHIN, lateness
            assert "Forced to CANCELLED" in body["state"]["message"]
            history = (await api.get(f"/flow_runs/{run['id']}/cancellation")).json()
            assert [a["outcome"] for a in history if a["outcome"] == "timed_out"] == ["timed_out"]

        assert timeout.terminate() == 0, timeout.log()
        assert state.terminate() == 0, state.log()
    finally:
        for process in (timeout, state):
            if process is not None:
                process.kill()
        await asyncio.to_thread(broker.close)
