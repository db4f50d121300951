"""The unmodified `prefect` 3 package against a `cancelbus state` process.

Prefect runs from a virtual environment of its own (tests/clients/prefect_venv.py), its CLI
and its `PrefectClient` as subprocesses with PREFECT_API_URL pointing at cancelbus.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from schemas.states import StateType
from services.client import Completed, Running, SyncCancelbusClient
from services.localinfra.service_process import StateProcess
from tests.clients.prefect_cli import prefect

# building the prefect environment on a cold machine takes minutes; once cached, seconds
pytestmark = pytest.mark.timeout(900)

SCRIPT = Path(__file__).with_name("prefect_client_script.py")


def test_prefect_cli_lists_inspects_and_cancels(
    prefect_bin: Path, state_process: StateProcess, tmp_path: Path
) -> None:
    api = state_process.api_url
    with SyncCancelbusClient(api) as client:
        running = client.create_flow_run("etl", state=Running(), infrastructure_pid="elsewhere:42")
        done = client.create_flow_run("report", state=Completed())

    listed = prefect(prefect_bin, api, tmp_path, "prefect", "flow-run", "ls")
    assert listed.returncode == 0, listed.stderr
    assert str(running.id) in listed.stdout
    as_json = prefect(prefect_bin, api, tmp_path, "prefect", "flow-run", "ls", "-o", "json")
    states = {r["id"]: r["state"]["type"] for r in json.loads(as_json.stdout)}
    assert states == {str(running.id): "RUNNING", str(done.id): "COMPLETED"}

    shown = prefect(prefect_bin, api, tmp_path, "prefect", "flow-run", "inspect", str(running.id))
    assert shown.returncode == 0, shown.stderr
    assert "name='etl'" in shown.stdout
    assert "infrastructure_pid='elsewhere:42'" in shown.stdout

    cancelled = prefect(
        prefect_bin, api, tmp_path, "prefect", "flow-run", "cancel", str(running.id)
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert "successfully scheduled for" in cancelled.stdout
    refused = prefect(prefect_bin, api, tmp_path, "prefect", "flow-run", "cancel", str(done.id))
    assert refused.returncode == 1
    assert "already in terminal state COMPLETED" in " ".join(refused.stdout.split())
    missing = uuid.uuid4()
    unknown = prefect(prefect_bin, api, tmp_path, "prefect", "flow-run", "cancel", str(missing))
    assert unknown.returncode == 1
    assert "not found" in unknown.stdout

    with SyncCancelbusClient(api) as client:
        assert client.read_flow_run(running.id).state_type is StateType.CANCELLING
        assert client.cancellation_history(running.id)[0].requested_by is not None


def test_prefect_client_reads_filters_and_proposes_cancelling(
    prefect_bin: Path, state_process: StateProcess, tmp_path: Path
) -> None:
    api = state_process.api_url
    tag = uuid.uuid4().hex
    with SyncCancelbusClient(api) as client:
        running = client.create_flow_run(
            "etl", tags=[tag], state=Running(), infrastructure_pid="elsewhere:42"
        )
        client.create_flow_run("other", tags=[tag], state=Completed())
        done = client.create_flow_run("report", state=Completed())

    result = prefect(
        prefect_bin, api, tmp_path, "python", str(SCRIPT), str(running.id), str(done.id), tag
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "read": {"name": "etl", "state": "RUNNING"},
        "listed": [str(running.id)],
        "accepted": {"status": "ACCEPT", "state": "CANCELLING"},
        "aborted": {"status": "ABORT", "reason": "Run is already in terminal state COMPLETED."},
        "after": "CANCELLING",
    }
    with SyncCancelbusClient(api) as client:
        history = client.cancellation_history(running.id)
    assert [a.reason for a in history] == ["from prefect"]
