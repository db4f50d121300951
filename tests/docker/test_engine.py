"""The private Docker engine: it serves its own socket and leaves nothing behind when closed."""

from __future__ import annotations

import contextlib

import docker
import psutil
import pytest

from services.localinfra.docker import DockerEngine
from services.localinfra.docker_image import SLEEP, build_test_image


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _processes_using(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and _alive(proc.pid):
            found.append(f"{proc.pid}: {cmdline}")
    return found


@pytest.mark.docker  # starts a Docker engine of its own
def test_closing_the_engine_stops_its_containers_and_daemons() -> None:
    engine = DockerEngine()
    engine.start()
    try:
        run_dir = engine.run_dir
        tag = build_test_image(engine.url, "cancelbus-test/engine-check:1")
        with contextlib.closing(docker.DockerClient(base_url=engine.url)) as client:
            container = client.containers.run(tag, SLEEP, detach=True, network_mode="none")
            container_pid = int(client.api.inspect_container(container.id)["State"]["Pid"])
        assert _alive(container_pid)
        assert _processes_using(str(run_dir)), "dockerd and containerd run from the run dir"
    finally:
        engine.close()

    assert not _alive(container_pid)
    assert _processes_using(str(run_dir)) == []
    assert not run_dir.exists()
