"""Replicas of one worker group: a dying or stopping worker's claims go to the other."""

from __future__ import annotations

import asyncio

from schemas.states import StateType
from services.localinfra.service_process import ServiceProcess
from tests.worker.conftest import ProcessStack, alive, eventually

IGNORES_SIGTERM = ["sh", "-c", 'trap "" TERM; sleep 600']


async def claimed(worker: ServiceProcess) -> bool:
    return "cancellation_claimed" in worker.log_path.read_text(errors="replace")


async def test_a_replica_killed_mid_grace_leaves_the_cancellation_to_the_other(
    process_stack: ProcessStack,
) -> None:
    scope = process_stack.new_scope()
    replicas = {
        "r1": await process_stack.start_worker(scope, "r1"),
        "r2": await process_stack.start_worker(scope, "r2"),
    }
    launched = await process_stack.launch(IGNORES_SIGTERM, scope)
    bystander_run = await process_stack.running_run()
    bystander = process_stack.spawn(["sleep", "600"], marker=bystander_run)

    await process_stack.cancel(launched.run_id, grace_seconds=8)

    async def one_claimed() -> bool:
        return any([await claimed(w) for w in replicas.values()])

    await eventually(one_claimed, "a replica claimed the request")
    [victim] = [name for name, w in replicas.items() if await claimed(w)]
    [survivor] = set(replicas) - {victim}
    await asyncio.sleep(0.5)  # well inside its grace period
    replicas[victim].kill()

    await process_stack.wait_state(launched.run_id, StateType.CANCELLED, within=90)
    [attempt] = await process_stack.history(launched.run_id)
    assert attempt["outcome"] == "cancelled"
    assert attempt["worker"] == survivor
    assert (await launched.task).returncode == -9
    assert "cancellation_reported" not in replicas[victim].log()
    assert alive(bystander.pid)


async def test_a_stopping_worker_leaves_unfinished_claims_uncommitted(
    process_stack: ProcessStack,
) -> None:
    scope = process_stack.new_scope()
    first = await process_stack.start_worker(scope, "first", CANCELBUS_WORKER_SHUTDOWN_SECONDS="1")
    launched = await process_stack.launch(IGNORES_SIGTERM, scope)
    await process_stack.cancel(launched.run_id, grace_seconds=600)

    await eventually(lambda: claimed(first), "the worker claimed the request")
    assert await asyncio.to_thread(first.terminate) == 0
    assert "left_for_another_replica=1" in first.log()
    assert (await process_stack.run(launched.run_id))["state_type"] == "CANCELLING"
    assert alive(launched.pid)

    # the next replica gets the request again; its cap shortens the 600 s grace
    await process_stack.start_worker(scope, "second", CANCELBUS_WORKER_MAX_GRACE_SECONDS="1")
    await process_stack.wait_state(launched.run_id, StateType.CANCELLED)
    [attempt] = await process_stack.history(launched.run_id)
    assert attempt["worker"] == "second"
