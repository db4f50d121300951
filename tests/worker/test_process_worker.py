"""The process worker against real processes: on the in-process bus, and on real Kafka with the
state service and the workers as OS processes."""

from __future__ import annotations

import psutil

from schemas.states import StateType
from services.launcher.process import CANCELLED_EXIT
from tests.worker.conftest import WorkerPlane, alive, eventually

IGNORES_SIGTERM = ["sh", "-c", 'trap "" TERM; sleep 600']
# root sh -> child sh -> grandchild sleep, plus a sleep of the root's own
TREE = ["sh", "-c", 'sh -c "sleep 600 & wait" & sleep 600 & wait']


async def test_a_process_that_exits_on_sigterm_is_cancelled(worker_plane: WorkerPlane) -> None:
    async with worker_plane("w1") as stack:
        scope = stack.scopes["w1"]
        launched = await stack.launch(["sleep", "600"], scope)

        await stack.cancel(launched.run_id, grace_seconds=30)
        await stack.wait_state(launched.run_id, StateType.CANCELLED)

        result = await launched.task
        assert result.returncode == -15  # SIGTERM, no SIGKILL needed
        assert result.exit_code == CANCELLED_EXIT
        [attempt] = await stack.history(launched.run_id)
        assert attempt["outcome"] == "cancelled"
        assert attempt["worker"] == "w1"


async def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(
    worker_plane: WorkerPlane,
) -> None:
    async with worker_plane("w1") as stack:
        scope = stack.scopes["w1"]
        launched = await stack.launch(IGNORES_SIGTERM, scope)

        await stack.cancel(launched.run_id, grace_seconds=1)
        await stack.wait_state(launched.run_id, StateType.CANCELLED)

        assert (await launched.task).returncode == -9
        [attempt] = await stack.history(launched.run_id)
        assert attempt["outcome"] == "cancelled"
        assert attempt["duration_seconds"] >= 1.0


async def test_no_child_or_grandchild_survives(worker_plane: WorkerPlane) -> None:
    async with worker_plane("w1") as stack:
        scope = stack.scopes["w1"]
        launched = await stack.launch(TREE, scope)
        root = psutil.Process(launched.pid)

        async def whole_tree_started() -> bool:
            return len(root.children(recursive=True)) >= 3

        await eventually(whole_tree_started, "child and grandchildren started")
        tree = [root.pid, *(p.pid for p in root.children(recursive=True))]

        await stack.cancel(launched.run_id, grace_seconds=5)
        await stack.wait_state(launched.run_id, StateType.CANCELLED)

        await launched.task
        survivors = [pid for pid in tree if alive(pid)]
        assert survivors == []


async def test_a_process_that_is_not_the_runs_survives(worker_plane: WorkerPlane) -> None:
    async with worker_plane("w1") as stack:
        scope = stack.scopes["w1"]
        # no marker in its environment
        unmarked = stack.spawn(["sleep", "600"])
        run_unmarked = await stack.running_run(stack.target(scope, unmarked))
        # the run's marker, but another start time than the one recorded (a reused PID)
        run_reused = await stack.running_run()
        reused = stack.spawn(["sleep", "600"], marker=run_reused)
        recorded = f"{reused.create_time() - 3600:.2f}"
        await stack.set_target(run_reused, stack.target(scope, reused, recorded))

        for run_id in (run_unmarked, run_reused):
            await stack.cancel(run_id, grace_seconds=1)
        for run_id in (run_unmarked, run_reused):
            await stack.wait_state(run_id, StateType.CANCELLED)
            [attempt] = await stack.history(run_id)
            assert attempt["outcome"] == "not_found"
            assert "left untouched" in attempt["detail"]

        # a worker reports only when it is done with the target: a wrong kill, even one after
        # the grace, would have landed before the outcome above was recorded
        assert alive(unmarked.pid)
        assert alive(reused.pid)


async def test_each_worker_cancels_only_its_own_scope(worker_plane: WorkerPlane) -> None:
    async with worker_plane("worker-a", "worker-b") as stack:
        scope_a, scope_b = stack.scopes["worker-a"], stack.scopes["worker-b"]
        scope_c = stack.new_scope()  # no worker serves it
        in_a = await stack.launch(["sleep", "600"], scope_a)
        in_b = await stack.launch(["sleep", "600"], scope_b)
        in_c = await stack.launch(["sleep", "600"], scope_c)  # no worker serves it

        for launched in (in_a, in_b, in_c):
            await stack.cancel(launched.run_id, grace_seconds=5)
        await stack.wait_state(in_a.run_id, StateType.CANCELLED)
        await stack.wait_state(in_b.run_id, StateType.CANCELLED)

        assert [a["worker"] for a in await stack.history(in_a.run_id)] == ["worker-a"]
        assert [a["worker"] for a in await stack.history(in_b.run_id)] == ["worker-b"]
        orphan = await stack.run(in_c.run_id)
        assert orphan["state_type"] == "CANCELLING"
        assert orphan["cancellation_worker_alive"] is False
        assert alive(in_c.pid)
        live = {(w["scope"], w["alive"]) for w in await stack.workers_seen()}
        assert live == {(scope_a, True), (scope_b, True)}
        metrics = (await stack.api.get("../metrics")).text
        assert "cancelbus_cancelling_runs_without_worker 1.0" in metrics
