"""Test session set-up.

The real servers (Kafka, PostgreSQL, a Docker engine, a Kubernetes API server) come from
tests.fixtures; each is a session fixture started only when a test that needs it runs. A test
is marked with the server its fixtures need (`kafka`, `postgres`, `docker`, `kubernetes`), so
`pytest -m "not kafka and not postgres and not docker and not kubernetes"` starts none (a
server fixture refuses to start for a test without its marker).

`bus_kit` is the one bus of the behaviour tests: each of them runs on the in-process bus and
on the real broker (that run is marked `kafka`), with topics of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.buses import BusKit, KafkaKit, MemoryKit
from tests.support.servers import note_running

pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.kubernetes", "tests.fixtures.docker"]

# session fixture that starts a server -> the marker of the tests that use it
SERVER_MARKERS = {
    "kafka_broker": "kafka",
    "postgres_server": "postgres",
    "docker_engine": "docker",
    "kube_apiserver": "kubernetes",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needed = set(getattr(item, "fixturenames", ()))
        for fixture, marker in SERVER_MARKERS.items():
            if fixture in needed:
                item.add_marker(marker)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    note_running(item)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_kit(request: pytest.FixtureRequest) -> BusKit:
    """The in-process bus shared by every service, or a bus per service on the real broker."""
    if request.param == "memory":
        return MemoryKit()
    return KafkaKit(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def kafka_kit(kafka_bootstrap: str) -> KafkaKit:
    """For the tests that are about the broker itself (consumer groups, replicas)."""
    return KafkaKit(kafka_bootstrap)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of the test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"
