"""End to end, every service its own OS process on real Kafka: 50 launched runs, one bulk cancel."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas.infrastructure import InfrastructureId
from services.launcher.process import CANCELLED_EXIT
from services.localinfra.service_process import CANCELBUS
from tests.worker.conftest import ProcessStack, alive, eventually

RUNS = 50


def start_launchers(env: dict[str, str], log_path: Path) -> list[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        return [
            subprocess.Popen(
                [CANCELBUS, "run", "process", "--tag", "e2e", "--", "sleep", "600"],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(RUNS)
        ]


@pytest.mark.timeout(300)  # 50 launcher processes start on a small shared machine
async def test_fifty_launched_processes_cancelled_through_the_api(
    process_stack: ProcessStack,
) -> None:
    stack = process_stack
    scope = stack.new_scope()
    await stack.start_worker(scope, "w1")
    env = {**stack.env, "CANCELBUS_API_URL": stack.api_url, "CANCELBUS_WORKER_SCOPE": scope}
    launchers = start_launchers(env, stack.tmp / "launchers.log")
    try:
        running_filter = {
            "flow_runs": {"tags": {"all_": ["e2e"]}, "state": {"type": {"any_": ["RUNNING"]}}}
        }

        async def all_running() -> bool:
            count = await stack.api.post("flow_runs/count", json=running_filter)
            return bool(count.json() == RUNS)

        await eventually(all_running, f"{RUNS} runs RUNNING", within=100)
        runs: list[dict[str, Any]] = (
            await stack.api.post(
                "flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["e2e"]}}}
            )
        ).json()
        pids = [int(InfrastructureId.parse(r["infrastructure_pid"]).id) for r in runs]
        assert all(alive(pid) for pid in pids)

        answer = await stack.api.post(
            "flow_runs/cancel", json={"flow_runs": {"tags": {"all_": ["e2e"]}}, "reason": "e2e"}
        )
        assert answer.json()["cancelling"] == RUNS

        cancelled_filter = {
            "flow_runs": {"tags": {"all_": ["e2e"]}, "state": {"type": {"any_": ["CANCELLED"]}}}
        }

        async def all_cancelled() -> bool:
            count = await stack.api.post("flow_runs/count", json=cancelled_filter)
            return bool(count.json() == RUNS)

        await eventually(all_cancelled, f"{RUNS} runs CANCELLED")
        codes = [await asyncio.to_thread(p.wait, 60) for p in launchers]
        assert codes == [CANCELLED_EXIT] * RUNS
        assert [pid for pid in pids if alive(pid)] == []
        for run in runs:
            states = (await stack.api.get(f"flow_runs/{run['id']}/states")).json()
            assert [s["type"] for s in states] == ["PENDING", "RUNNING", "CANCELLING", "CANCELLED"]
            [attempt] = await stack.history(run["id"])
            assert (attempt["outcome"], attempt["reason"]) == ("cancelled", "e2e")
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                launcher.kill()
            await asyncio.to_thread(launcher.wait)
