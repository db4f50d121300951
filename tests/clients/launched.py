"""Real process runs for the tests: `cancelbus run process -- sleep 300`, as a user starts one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from schemas.flow_runs import FlowRun
from schemas.states import StateType
from services.client import SyncCancelbusClient, flow_run_filter
from services.localinfra.service_process import CANCELBUS
from tests.clients.stack import LiveStack

LAUNCH = [CANCELBUS, "run", "process"]
COMMAND = ["sleep", "300"]


@dataclass
class LaunchedRun:
    launcher: subprocess.Popen[bytes]
    run: FlowRun
    log_path: Path

    @property
    def pid(self) -> int:
        assert self.run.infrastructure is not None
        return int(self.run.infrastructure.id)

    def process_gone(self) -> bool:
        try:
            return psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@contextmanager
def launched(
    stack: LiveStack, tag: str, log_dir: Path, name: str = "sleeper"
) -> Iterator[LaunchedRun]:
    """A RUNNING process run tagged `tag` in the stack's scope; killed afterwards if still up."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"launcher-{name}-{tag}.log"
    env = {**os.environ, "CANCELBUS_API_URL": stack.api_url}
    if stack.api_token:
        env["CANCELBUS_API_TOKEN"] = stack.api_token
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [*LAUNCH, "--name", name, "--tag", tag, "--scope", stack.scope, "--", *COMMAND],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with SyncCancelbusClient(stack.api_url, api_token=stack.api_token) as client:
            run = _wait_running(client, tag, name, launcher, log_path)
        yield LaunchedRun(launcher, run, log_path)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(10)


def _wait_running(
    client: SyncCancelbusClient,
    tag: str,
    name: str,
    launcher: subprocess.Popen[bytes],
    log_path: Path,
) -> FlowRun:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(flow_run_filter(tags=[tag], states=[StateType.RUNNING]))
        for run in runs:
            if run.name == name:
                return run
        if launcher.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no RUNNING run tagged {tag}:\n{log_path.read_text(errors='replace')}")
