"""A live stack per test: the state service and a process worker over real TCP; or a
`cancelbus state` process, and the real prefect package to run against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.localinfra.service_process import StateProcess
from tests.clients.prefect_venv import prefect_venv
from tests.clients.stack import LiveStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    live = LiveStack(tmp_path).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def prefect_bin() -> Path:
    return prefect_venv() / "bin"


@pytest.fixture
def state_process(tmp_path: Path) -> Iterator[StateProcess]:
    env = {"CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    env_drop = {"CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": "", "CANCELBUS_API_TOKEN": ""}
    process = StateProcess({**env_drop, **env}, tmp_path / "state.log")
    process.start()
    try:
        process.wait_healthy()
        yield process
    finally:
        process.terminate()
