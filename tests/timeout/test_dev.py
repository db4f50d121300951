"""`cancelbus dev` runs the timeout service next to the state service, on one bus."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from services.localinfra.processes import free_port
from services.localinfra.service_process import CANCELBUS
from services.timeout.settings import PREFECT_TIMEOUT_ENV, TIMEOUT_ENV


def test_dev_forces_a_run_nobody_can_stop_and_reports_it_in_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CANCELBUS_KAFKA_BOOTSTRAP_SERVERS", TIMEOUT_ENV)
    }
    env |= {
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "HOME": str(tmp_path),
        PREFECT_TIMEOUT_ENV: "1",  # the name Prefect users already set
    }
    proc = subprocess.Popen(
        [CANCELBUS, "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "cancelbus dev exited"
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "cancelbus dev never became healthy"
                time.sleep(0.1)
        run = httpx.post(
            f"{base}/api/flow_runs/",
            json={"infrastructure_pid": "nohost:4242", "state": {"type": "RUNNING"}},
        ).json()
        httpx.post(
            f"{base}/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}}
        )
        deadline = time.monotonic() + 15
        while (body := httpx.get(f"{base}/api/flow_runs/{run['id']}").json())[
            "state_type"
        ] != "CANCELLED":
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert "Forced to CANCELLED" in body["state"]["message"]
        metrics = httpx.get(f"{base}/metrics").text
        assert "cancelbus_timeout_forced_total 1.0" in metrics
        assert "cancelbus_timeout_cancelling_runs 0.0" in metrics
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
