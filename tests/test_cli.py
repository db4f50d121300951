"""The `cancelbus` command as a user runs it: the embedded default and the local broker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from services.localinfra.processes import free_port, port_accepts
from services.localinfra.service_process import CANCELBUS


def _wait_for_line(proc: subprocess.Popen[str], text: str, within: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not printed in {within} s:\n{''.join(lines)}")


def _stop(proc: subprocess.Popen[str], within: float) -> int:
    """SIGTERM the command's process group (if it still runs) and return its exit code."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    code = proc.wait(within)
    assert proc.stdout is not None
    proc.stdout.close()
    return code


def test_dev_serves_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "HOME": str(tmp_path),
    }
    env.pop("CANCELBUS_KAFKA_BOOTSTRAP_SERVERS", None)
    proc = subprocess.Popen(
        [CANCELBUS, "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = _wait_for_line(proc, "cancelbus is ready", within=30)
        assert f"http://127.0.0.1:{port}" in "".join(lines)
        api = f"http://127.0.0.1:{port}/api"
        run = httpx.post(f"{api}/flow_runs/", json={"name": "try-me"}).json()
        answer = httpx.post(
            f"{api}/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}}
        ).json()
        assert (answer["status"], answer["state"]["type"]) == ("ACCEPT", "CANCELLED")
    finally:
        code = _stop(proc, 30)
    assert code == 0


@pytest.mark.kafka  # starts a broker of its own
def test_kafka_start_serves_a_broker_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [CANCELBUS, "kafka", "start", "--port", str(port), "--data-dir", str(tmp_path / "k")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = _wait_for_line(proc, f"CANCELBUS_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}", 120)
        assert any("Kafka is ready" in line for line in lines)
        assert port_accepts("127.0.0.1", port)
    finally:
        code = _stop(proc, 60)
    assert code == 0
    assert not port_accepts("127.0.0.1", port)
