"""A worker's and a launcher's settings: one class each, the docker and kubernetes sections read
from the environment names users already set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from services.infrastructure.settings import DEFAULT_DOCKER_URL
from services.launcher.settings import LauncherSettings
from services.localinfra.service_process import CANCELBUS
from services.worker.settings import Propagation, WorkerSettings

KUBERNETES = {
    "CANCELBUS_KUBERNETES_KUBECONFIG": "/etc/cancelbus/kubeconfig",
    "CANCELBUS_KUBERNETES_CONTEXT": "prod",
    "CANCELBUS_KUBERNETES_REQUEST_TIMEOUT_SECONDS": "7",
    "CANCELBUS_KUBERNETES_MAX_CONNECTIONS": "9",
}
KUBERNETES_WORKER = {
    "CANCELBUS_KUBERNETES_CLUSTER_UID": "0f1e2d3c-uid",
    "CANCELBUS_KUBERNETES_PROPAGATION": "Foreground",
    "CANCELBUS_KUBERNETES_DELETION_MARGIN_SECONDS": "12",
    "CANCELBUS_KUBERNETES_ATTEMPTS": "5",
    "CANCELBUS_KUBERNETES_BACKOFF_SECONDS": "0.25",
}
DOCKER = {"CANCELBUS_DOCKER_TIMEOUT_SECONDS": "15", "CANCELBUS_DOCKER_THREADS": "32"}


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DOCKER_HOST", "CANCELBUS_DOCKER_HOST", *KUBERNETES, *KUBERNETES_WORKER, *DOCKER):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_worker_reads_its_sections_from_the_documented_names(
    environ: pytest.MonkeyPatch,
) -> None:
    for name, value in {**KUBERNETES, **KUBERNETES_WORKER, **DOCKER}.items():
        environ.setenv(name, value)
    environ.setenv("CANCELBUS_WORKER_SCOPE", "cluster-a")
    environ.setenv("DOCKER_HOST", "tcp://engine:2376")

    settings = WorkerSettings()

    assert settings.worker_scope == "cluster-a"
    kubernetes = settings.kubernetes
    assert kubernetes.kubeconfig == Path("/etc/cancelbus/kubeconfig")
    assert kubernetes.context == "prod"
    assert kubernetes.request_timeout_seconds == 7.0
    assert kubernetes.max_connections == 9
    assert kubernetes.cluster_uid == "0f1e2d3c-uid"
    assert kubernetes.propagation is Propagation.FOREGROUND
    assert kubernetes.deletion_margin_seconds == 12.0
    assert kubernetes.attempts == 5
    assert kubernetes.backoff_seconds == 0.25
    assert settings.docker.host == "tcp://engine:2376"
    assert settings.docker.timeout_seconds == 15.0
    assert settings.docker.threads == 32


def test_cancelbus_docker_host_wins_over_docker_host(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("DOCKER_HOST", "tcp://engine:2376")
    environ.setenv("CANCELBUS_DOCKER_HOST", "unix:///run/other.sock")

    assert WorkerSettings().docker.host == "unix:///run/other.sock"
    assert LauncherSettings().docker.host == "unix:///run/other.sock"


def test_unset_names_give_the_defaults(environ: pytest.MonkeyPatch) -> None:
    settings = WorkerSettings()

    assert settings.docker.host == DEFAULT_DOCKER_URL
    assert settings.kubernetes.kubeconfig is None
    assert settings.kubernetes.cluster_uid is None
    assert settings.kubernetes.propagation is Propagation.BACKGROUND


def test_a_section_given_in_code_keeps_the_environment_for_the_rest(
    environ: pytest.MonkeyPatch,
) -> None:
    environ.setenv("CANCELBUS_KUBERNETES_CONTEXT", "prod")

    settings = WorkerSettings(kubernetes={"cluster_uid": "given"})

    assert (settings.kubernetes.cluster_uid, settings.kubernetes.context) == ("given", "prod")


def test_the_launcher_reads_the_same_connection_names(environ: pytest.MonkeyPatch) -> None:
    for name, value in {**KUBERNETES, **KUBERNETES_WORKER, **DOCKER}.items():
        environ.setenv(name, value)
    environ.setenv("DOCKER_HOST", "tcp://engine:2376")

    settings = LauncherSettings()

    assert settings.kubernetes.kubeconfig == Path("/etc/cancelbus/kubeconfig")
    assert settings.kubernetes.context == "prod"
    assert settings.kubernetes.request_timeout_seconds == 7.0
    assert settings.kubernetes.max_connections == 9
    assert settings.docker.host == "tcp://engine:2376"
    assert (settings.docker.timeout_seconds, settings.docker.threads) == (15.0, 32)


def test_a_bad_value_names_its_section(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("CANCELBUS_KUBERNETES_PROPAGATION", "Sideways")

    with pytest.raises(ValueError, match=r"kubernetes\.propagation"):
        WorkerSettings()


def test_the_cli_names_a_bad_section_value_by_its_environment_name() -> None:
    env = {**os.environ, "CANCELBUS_KUBERNETES_PROPAGATION": "Sideways", "COLUMNS": "200"}

    answer = subprocess.run(
        [CANCELBUS, "worker", "kubernetes", "--scope", "c"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert answer.returncode == 2
    assert "CANCELBUS_KUBERNETES_PROPAGATION: Input should be" in answer.stderr
