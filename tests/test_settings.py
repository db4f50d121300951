"""Every service reads the same CANCELBUS_ names into its one settings class."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.localinfra.kafka_dist import cache_root
from services.localinfra.kubernetes import kube_bin_dir
from services.localinfra.settings import LocalInfraSettings
from services.runtime.logs import LogSettings
from services.state.settings import StateSettings
from services.timeout.settings import TimeoutSettings, settings_error
from services.transport.settings import BusSettings
from services.worker.settings import WorkerSettings

ServiceSettings = type[StateSettings | TimeoutSettings | WorkerSettings]
SERVICES: list[ServiceSettings] = [
    StateSettings,
    TimeoutSettings,
    WorkerSettings,
]
BUS_ENV = {
    "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
    "CANCELBUS_TOPIC_PREFIX": "team-a.",
    "CANCELBUS_TOPIC_PARTITIONS": "12",
    "CANCELBUS_TOPIC_REPLICATION_FACTOR": "3",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        *BUS_ENV,
        "CANCELBUS_MAX_CANCEL_ATTEMPTS",
        "CANCELBUS_LOG_FORMAT",
        "CANCELBUS_CACHE_DIR",
        "CANCELBUS_KUBE_BIN_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("service", SERVICES, ids=lambda cls: cls.__name__)
def test_every_service_reads_the_bus_from_the_same_names(
    monkeypatch: pytest.MonkeyPatch, service: ServiceSettings
) -> None:
    for name, value in BUS_ENV.items():
        monkeypatch.setenv(name, value)

    settings = service()

    assert settings.bus == BusSettings(
        kafka_bootstrap_servers="kafka-1:9092,kafka-2:9092",
        topic_prefix="team-a.",
        topic_partitions=12,
        topic_replication_factor=3,
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda cls: cls.__name__)
def test_the_bus_defaults_to_the_in_process_bus(service: ServiceSettings) -> None:
    bus = service().bus
    assert (bus.kafka_bootstrap_servers, bus.topic_prefix) == (None, "")
    assert (bus.topic_partitions, bus.topic_replication_factor) == (6, 1)
    assert bus.describe() == "in-process"


@pytest.mark.parametrize("service", SERVICES, ids=lambda cls: cls.__name__)
def test_a_bad_bus_value_is_reported_under_its_variable(
    monkeypatch: pytest.MonkeyPatch, service: ServiceSettings
) -> None:
    monkeypatch.setenv("CANCELBUS_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValidationError) as caught:
        service()
    [error] = caught.value.errors()
    assert error["loc"] == ("topic_partitions",)
    assert settings_error(caught.value).startswith("CANCELBUS_TOPIC_PARTITIONS: ")


def test_the_state_service_reads_its_orchestration_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANCELBUS_MAX_CANCEL_ATTEMPTS", "7")
    assert StateSettings().orchestration.max_cancel_attempts == 7


@pytest.mark.parametrize(
    ("deployments", "tags"),
    [
        (f"{UUID(int=1)}, {UUID(int=2)}", "nightly, adhoc"),
        (f'["{UUID(int=1)}", "{UUID(int=2)}"]', '["nightly", "adhoc"]'),
    ],
)
def test_cascade_switches_are_read_as_lists_or_json(
    monkeypatch: pytest.MonkeyPatch, deployments: str, tags: str
) -> None:
    monkeypatch.setenv("CANCELBUS_CASCADE_CANCEL", "false")
    monkeypatch.setenv("CANCELBUS_NO_CASCADE_DEPLOYMENTS", deployments)
    monkeypatch.setenv("CANCELBUS_NO_CASCADE_TAGS", tags)
    orchestration = StateSettings().orchestration
    assert orchestration.cascade_cancel is False
    assert orchestration.no_cascade_deployments == [UUID(int=1), UUID(int=2)]
    assert orchestration.no_cascade_tags == ["nightly", "adhoc"]

    monkeypatch.setenv("CANCELBUS_NO_CASCADE_DEPLOYMENTS", "not-an-id")
    with pytest.raises(ValidationError) as caught:
        StateSettings()
    assert settings_error(caught.value).startswith("CANCELBUS_NO_CASCADE_DEPLOYMENTS")


@pytest.mark.parametrize(("value", "as_json"), [("json", True), ("JSON", True), ("text", False)])
def test_the_log_format(monkeypatch: pytest.MonkeyPatch, value: str, as_json: bool) -> None:
    assert not LogSettings().as_json
    monkeypatch.setenv("CANCELBUS_LOG_FORMAT", value)
    assert LogSettings().as_json is as_json


def test_where_local_servers_are_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = Path.home() / ".cache" / "cancelbus"
    assert cache_root() == home
    assert kube_bin_dir(LocalInfraSettings(), "v1.0.0") == home / "kube" / "v1.0.0" / "bin"

    monkeypatch.setenv("CANCELBUS_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    assert cache_root(tmp_path / "given") == tmp_path / "given"
    assert kube_bin_dir(LocalInfraSettings(), "v1.0.0") == tmp_path / "kube" / "v1.0.0" / "bin"

    monkeypatch.setenv("CANCELBUS_KUBE_BIN_DIR", str(tmp_path / "bin"))
    assert kube_bin_dir(LocalInfraSettings()) == tmp_path / "bin"

    monkeypatch.setenv("CANCELBUS_CACHE_DIR", "")  # empty: as if unset
    assert cache_root() == home
