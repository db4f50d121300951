"""Cascade end to end on real Kafka, each service its own OS process: three levels of
`cancelbus run process`, each started inside the one above; cancelling the root stops them all.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from schemas.infrastructure import InfrastructureId
from services.launcher.process import CANCELLED_EXIT
from services.localinfra.service_process import CANCELBUS
from tests.worker.conftest import ProcessStack, alive, eventually

RUN = [CANCELBUS, "run", "process"]


async def all_runs(stack: ProcessStack) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (await stack.api.post("flow_runs/filter", json={})).json()
    return runs


def chain_from(root: dict[str, Any], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The root, its child, that one's child, ...: each level's run, by `parent_flow_run_id`."""
    chain = [root]
    while children := [r for r in runs if r["parent_flow_run_id"] == chain[-1]["id"]]:
        assert len(children) == 1, children
        chain.append(children[0])
    return chain


def start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.timeout(240)
async def test_cancelling_the_root_of_three_nested_launches_stops_every_level(
    process_stack: ProcessStack,
) -> None:
    stack = process_stack
    scope = stack.new_scope()
    await stack.start_worker(scope, "w1")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CANCELBUS_FLOW_RUN_ID", "PREFECT__FLOW_RUN_ID")
    }
    env |= {**stack.env, "CANCELBUS_API_URL": stack.api_url, "CANCELBUS_WORKER_SCOPE": scope}
    # level 1 runs level 2, which runs level 3, which runs sleep: nothing names a parent
    command = [*RUN, "--tag", "cascade-root", "--", *RUN, "--", *RUN, "--", "sleep", "600"]
    root_launcher = start(command, env, stack.tmp / "launchers.log")
    try:
        chain: list[dict[str, Any]] = []

        async def three_levels_running() -> bool:
            nonlocal chain
            runs = await all_runs(stack)
            roots = [r for r in runs if "cascade-root" in r["tags"]]
            chain = chain_from(roots[0], runs) if roots else []
            return len(chain) == 3 and all(r["state_type"] == "RUNNING" for r in chain)

        await eventually(three_levels_running, "three nested runs RUNNING", within=120)
        pids = [int(InfrastructureId.parse(r["infrastructure_pid"]).id) for r in chain]
        stack.launched_pids.extend(pids)  # each leads its own process group: killed if left
        assert all(alive(pid) for pid in pids)

        root, middle, leaf = (UUID(r["id"]) for r in chain)
        await stack.cancel(root, grace_seconds=10)

        async def all_cancelled() -> bool:
            states = [(await stack.run(UUID(r["id"])))["state_type"] for r in chain]
            return states == ["CANCELLED"] * 3

        await eventually(all_cancelled, "every level CANCELLED")
        assert await asyncio.to_thread(root_launcher.wait, 60) == CANCELLED_EXIT

        async def all_gone() -> bool:
            return not any(alive(pid) for pid in pids)

        await eventually(all_gone, "every level's process gone")

        # each level was asked by the one above, in the root's own transaction
        for run_id, asked_by in [(middle, root), (leaf, middle)]:
            [attempt] = await stack.history(run_id)
            assert attempt["requested_by"] == f"cascade:{asked_by}"
            assert attempt["reason"] == f"Parent flow run {asked_by} was cancelled"
        [first] = await stack.history(root)
        assert first["requested_by"].startswith("api")
        cancelling_at = set()
        for run_id in (root, middle, leaf):
            states = (await stack.api.get(f"flow_runs/{run_id}/states")).json()
            assert [s["type"] for s in states] == ["PENDING", "RUNNING", "CANCELLING", "CANCELLED"]
            cancelling_at.add(states[2]["timestamp"])
        assert len(cancelling_at) == 1
    finally:
        if root_launcher.poll() is None:
            root_launcher.kill()
        await asyncio.to_thread(root_launcher.wait)
