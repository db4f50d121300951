"""`cancelbus flow-run` as a user types it, against the live state service and process worker."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path

from schemas.states import StateType
from services.client import Completed, Running, SyncCancelbusClient, flow_run_filter
from services.localinfra.processes import free_port
from services.localinfra.service_process import CANCELBUS
from tests.clients.launched import launched
from tests.clients.stack import LiveStack


def cli(
    *args: str, api_url: str | None = None, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    if api_url is not None:
        full_env["CANCELBUS_API_URL"] = api_url
    return subprocess.run(
        [CANCELBUS, "flow-run", *args],
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_cancel_says_what_happened(stack: LiveStack) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        running = client.create_flow_run("etl", state=Running(), infrastructure_pid="elsewhere:7")
        done = client.create_flow_run("report", state=Completed())

    scheduled = cli("cancel", str(running.id), "--reason", "bad input", api_url=stack.api_url)
    assert scheduled.returncode == 0, scheduled.stderr
    assert f"Flow run {running.id} scheduled for cancellation" in scheduled.stdout

    terminal = cli("cancel", str(done.id), api_url=stack.api_url)
    assert terminal.returncode == 1
    assert "already in terminal state COMPLETED" in terminal.stderr

    unknown = uuid.uuid4()
    missing = cli("cancel", str(unknown), api_url=stack.api_url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: flow run {unknown} not found"

    as_json = json.loads(cli("cancel", str(done.id), "--json", api_url=stack.api_url).stdout)
    assert as_json["status"] == "ABORT"
    assert "terminal state COMPLETED" in as_json["reason"]


def test_ls_and_inspect_show_runs_states_and_attempts(stack: LiveStack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    with SyncCancelbusClient(stack.api_url) as client:
        client.create_flow_run("old-report", tags=[tag], state=Completed())
    with launched(stack, tag, tmp_path, name="nightly-etl") as launch:
        listed = cli("ls", "--tag", tag, api_url=stack.api_url)
        assert listed.returncode == 0, listed.stderr
        assert "nightly-etl" in listed.stdout
        assert "old-report" in listed.stdout
        running = json.loads(
            cli("ls", "--tag", tag, "--state", "running", "--json", api_url=stack.api_url).stdout
        )
        assert [r["id"] for r in running] == [str(launch.run.id)]

        cancelled = cli("cancel", str(launch.run.id), "--grace", "5", api_url=stack.api_url)
        assert cancelled.returncode == 0, cancelled.stderr
        with SyncCancelbusClient(stack.api_url) as client:
            client.wait_for_state(launch.run.id, {StateType.CANCELLED}, timeout=60)

        shown = cli("inspect", str(launch.run.id), api_url=stack.api_url)
        assert shown.returncode == 0, shown.stderr
        for text in ("nightly-etl", "CANCELLING", "CANCELLED", "process-worker-1", "cancelled"):
            assert text in shown.stdout
        data = json.loads(
            cli("inspect", str(launch.run.id), "--json", api_url=stack.api_url).stdout
        )
        assert [s["type"] for s in data["states"]][-2:] == ["CANCELLING", "CANCELLED"]
        assert [(a["outcome"], a["requested_by"]) for a in data["cancellation"]] == [
            ("cancelled", "cli")
        ]
        assert launch.process_gone()


def test_bulk_cancel_asks_then_follows_runs_to_cancelled(stack: LiveStack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    with ExitStack() as runs:
        launches = [
            runs.enter_context(launched(stack, tag, tmp_path, name=f"sleeper-{i}"))
            for i in range(2)
        ]
        declined = cli(
            "cancel", "--state", "RUNNING", "--tag", tag, stdin="n\n", api_url=stack.api_url
        )
        assert declined.returncode == 1
        assert "Cancel 2 flow run(s)?" in declined.stderr
        with SyncCancelbusClient(stack.api_url) as client:
            still = client.read_flow_runs(flow_run_filter(tags=[tag], states=["RUNNING"]))
        assert len(still) == 2

        done = cli(
            "cancel", "--state", "RUNNING", "--tag", tag, "--grace", "5", "--yes",
            api_url=stack.api_url,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Cancelled 2, forced 0, failed 0, still cancelling 0" in done.stdout
        assert all(launch.process_gone() for launch in launches)


def test_watch_follows_a_run_until_it_is_terminal(stack: LiveStack, tmp_path: Path) -> None:
    with launched(stack, uuid.uuid4().hex, tmp_path) as launch:
        env = {**os.environ, "CANCELBUS_API_URL": stack.api_url, "COLUMNS": "200"}
        watcher = subprocess.Popen(
            [CANCELBUS, "flow-run", "watch", str(launch.run.id)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watcher.stdout is not None
            assert "RUNNING" in watcher.stdout.readline()
            with SyncCancelbusClient(stack.api_url) as client:
                client.cancel(launch.run.id, reason="watch me", grace_seconds=5)
            out, errors = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.communicate()
        assert watcher.returncode == 0, errors
        lines = out.splitlines()
        assert any("CANCELLING" in line and "watch me" in line for line in lines)
        assert "cancellation requested" in out
        assert "CANCELLED" in lines[-1]


def test_connection_faults_are_one_readable_line(tmp_path: Path) -> None:
    refused = cli("ls", api_url=f"http://127.0.0.1:{free_port()}/api")
    guarded = LiveStack(tmp_path, api_token="s3cret").start()
    try:
        unauthorized = cli("ls", "--api-token", "wrong", api_url=guarded.api_url)
        authorized = cli("ls", "--api-token", "s3cret", api_url=guarded.api_url)
    finally:
        guarded.stop()
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        timed_out = cli("ls", api_url=url, env={"CANCELBUS_API_TIMEOUT": "0.5"})

    assert authorized.returncode == 0, authorized.stderr
    for result, expected in (
        (refused, "error: cannot connect to http://127.0.0.1:"),
        (unauthorized, "error: unauthorized: Unauthorized: invalid bearer token"),
        (timed_out, "error: no answer from http://127.0.0.1:"),
    ):
        assert result.returncode == 1
        assert result.stderr.startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
