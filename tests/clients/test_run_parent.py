"""`cancelbus run process` started inside a run becomes its child, as a user (or Prefect) would
start one: by the run's id in its environment, or named with `--parent`."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from schemas.flow_runs import FlowRun
from schemas.markers import FLOW_RUN_ID_ENV, PREFECT_FLOW_RUN_ID_ENV
from schemas.states import StateType
from services.client import Running, SyncCancelbusClient, flow_run_filter
from services.launcher.process import CANCELLED_EXIT
from services.localinfra.service_process import CANCELBUS
from tests.clients.stack import LiveStack


def run_process(
    stack: LiveStack, name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in (FLOW_RUN_ID_ENV, PREFECT_FLOW_RUN_ID_ENV)
    }
    return subprocess.run(
        [CANCELBUS, "run", "process", "--name", name, "--scope", stack.scope, *args],
        env={**clean, "CANCELBUS_API_URL": stack.api_url, **(env or {})},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def the_run(client: SyncCancelbusClient, name: str) -> FlowRun:
    [run] = [r for r in client.read_flow_runs(flow_run_filter()) if r.name == name]
    return run


def test_a_run_started_inside_a_run_is_its_child(stack: LiveStack) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        prefect_run = client.create_flow_run("prefect-flow", state=Running())
        ours = client.create_flow_run("outer", state=Running(), infrastructure_pid="elsewhere:9")

        by_prefect = run_process(
            stack, "in-prefect", "--", "true", env={PREFECT_FLOW_RUN_ID_ENV: str(prefect_run.id)}
        )
        both = {PREFECT_FLOW_RUN_ID_ENV: str(prefect_run.id), FLOW_RUN_ID_ENV: str(ours.id)}
        by_ours = run_process(stack, "in-ours", "--", "true", env=both)
        detached = run_process(stack, "detached", "--no-parent", "--", "true", env=both)
        named = run_process(stack, "named", "--parent", str(prefect_run.id), "--", "true", env=both)

        for done in (by_prefect, by_ours, detached, named):
            assert done.returncode == 0, done.stderr
        assert the_run(client, "in-prefect").parent_flow_run_id == prefect_run.id
        assert the_run(client, "in-ours").parent_flow_run_id == ours.id  # ours first
        assert the_run(client, "detached").parent_flow_run_id is None
        assert the_run(client, "named").parent_flow_run_id == prefect_run.id
        assert the_run(client, "named").state_type is StateType.COMPLETED

        child = the_run(client, "in-prefect")
        inspect = subprocess.run(
            [CANCELBUS, "flow-run", "inspect", str(child.id)],
            env={**os.environ, "CANCELBUS_API_URL": stack.api_url, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert inspect.returncode == 0, inspect.stderr
        assert re.search(rf"parent\s+{prefect_run.id}", inspect.stdout), inspect.stdout


def test_a_parent_the_api_does_not_know(stack: LiveStack) -> None:
    unknown = uuid.uuid4()
    with SyncCancelbusClient(stack.api_url) as client:
        # inherited (a Prefect run of another server): the run starts, unlinked, with a warning
        inherited = run_process(
            stack, "elsewhere", "--", "true", env={PREFECT_FLOW_RUN_ID_ENV: str(unknown)}
        )
        assert inherited.returncode == 0, inherited.stderr
        assert "parent_run_unknown_not_linked" in inherited.stderr
        assert the_run(client, "elsewhere").parent_flow_run_id is None

        garbled = run_process(stack, "garbled", "--", "true", env={FLOW_RUN_ID_ENV: "not-a-run"})
        assert garbled.returncode == 0, garbled.stderr
        assert "warning: CANCELBUS_FLOW_RUN_ID='not-a-run' is not a flow-run id" in garbled.stderr
        assert the_run(client, "garbled").parent_flow_run_id is None

        # named on the command line: refused, in one line, and nothing is run
        named = run_process(stack, "orphan", "--parent", str(unknown), "--", "true")
        assert named.returncode == 2
        assert named.stderr.strip().endswith(
            f"error: the API answered 422: parent flow run {unknown} not found"
        )
        assert [r for r in client.read_flow_runs(flow_run_filter()) if r.name == "orphan"] == []


def test_a_run_started_under_a_cancelled_parent_does_not_start(stack: LiveStack) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        parent = client.create_flow_run("cancelled-parent", state=Running())
        client.cancel(parent.id, reason="stop everything")  # no infrastructure: CANCELLED

        late = run_process(
            stack, "late", "--", "sleep", "300", env={FLOW_RUN_ID_ENV: str(parent.id)}
        )

        assert late.returncode == CANCELLED_EXIT, late.stderr
        run = the_run(client, "late")
        assert (run.state_type, run.parent_flow_run_id) == (StateType.CANCELLED, parent.id)
        assert run.infrastructure_pid is None  # never started
