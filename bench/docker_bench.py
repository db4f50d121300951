"""Benchmark of cancelling Docker containers, as deployed: real Kafka, a private Docker engine
(dockerd 20.10, vfs), the state service (SQLite) and `cancelbus worker docker` as OS processes.

1. latency: one run at a time, `set_state` CANCELLING over REST -> the run's CANCELLED state
   (its server timestamp), and -> the container stopped (the engine's `FinishedAt`), for
   containers that exit on SIGTERM; the engine's own stop dominates.
2. bulk: N running containers cancelled by one `POST /api/flow_runs/cancel` -> every run
   CANCELLED and every container stopped; makespan and runs/s.

    .venv/bin/python -m bench.docker_bench [--samples 200] [--containers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import httpx

from bench.flow_runs import bulk_cancel, wait_all_cancelled
from bench.stats import PeakRss, fmt, percentiles
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_LABEL
from services.localinfra import KafkaBroker
from services.localinfra.docker import DockerEngine
from services.localinfra.docker_image import EXITS_ON_SIGTERM, build_test_image
from services.localinfra.service_process import ServiceProcess, StateProcess


class Containers:
    def __init__(self, client: Any, image: str, engine_id: str) -> None:
        self.client, self.image, self.engine_id = client, image, engine_id
        self.by_run: dict[str, str] = {}

    async def running_runs(self, api: httpx.AsyncClient, count: int, tag: str) -> list[str]:
        """`count` RUNNING runs, each with a labelled container recorded as its infrastructure."""
        gate = asyncio.Semaphore(8)

        async def one() -> str:
            async with gate:
                run = (await api.post("/flow_runs/", json={"name": "bench", "tags": [tag]})).json()
                container = await asyncio.to_thread(
                    self.client.containers.run,
                    self.image,
                    EXITS_ON_SIGTERM,
                    detach=True,
                    network_mode="none",
                    labels={FLOW_RUN_LABEL: run["id"]},
                )
                target = InfrastructureId(
                    kind=InfrastructureKind.DOCKER, scope=self.engine_id, id=container.id
                )
                await api.patch(f"/flow_runs/{run['id']}", json={"infrastructure_pid": str(target)})
                await api.post(
                    f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
                )
                self.by_run[run["id"]] = container.id
                return str(run["id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def stopped_at(self, run_id: str) -> float | None:
        state = (await asyncio.to_thread(self.client.api.inspect_container, self.by_run[run_id]))[
            "State"
        ]
        if state["Running"]:
            return None
        return _timestamp(state["FinishedAt"])


def _timestamp(text: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, to seconds since the epoch."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or '0'}")


async def _cancelled_at(api: httpx.AsyncClient, run_id: str) -> float | None:
    states: list[dict[str, Any]] = (await api.get(f"/flow_runs/{run_id}/states")).json()
    for state in states:
        if state["type"] == "CANCELLED":
            return datetime.fromisoformat(state["timestamp"]).timestamp()
    return None


async def latency(api: httpx.AsyncClient, containers: Containers, samples: int) -> str:
    runs = await containers.running_runs(api, samples, f"lat-{uuid.uuid4().hex[:6]}")
    to_cancelled: list[float] = []
    to_stopped: list[float] = []
    for run_id in runs:
        started = time.time()
        await api.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}})
        done = None
        for _ in range(3000):
            done = await _cancelled_at(api, run_id)
            if done is not None:
                break
            await asyncio.sleep(0.01)
        if done is None:
            raise RuntimeError(f"run {run_id} not CANCELLED within 30 s")
        stopped = await containers.stopped_at(run_id)
        if stopped is None:
            raise RuntimeError(f"run {run_id} CANCELLED but its container still runs")
        to_cancelled.append((done - started) * 1000)
        to_stopped.append((stopped - started) * 1000)
    return (
        f"-> CANCELLED: {fmt(percentiles(to_cancelled))}\n"
        f"  -> container stopped: {fmt(percentiles(to_stopped))}"
    )


async def bulk(api: httpx.AsyncClient, containers: Containers, count: int) -> str:
    tag = f"bulk-{uuid.uuid4().hex[:6]}"
    await containers.running_runs(api, count, tag)
    started = time.time()
    await bulk_cancel(api, tag)
    await wait_all_cancelled(api, tag, count)
    makespan = time.time() - started
    running = await asyncio.to_thread(
        containers.client.containers.list, filters={"label": FLOW_RUN_LABEL, "status": "running"}
    )
    return (
        f"{count} containers: all CANCELLED in {makespan:.2f} s ({count / makespan:.0f} runs/s), "
        f"still running: {len(running)}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--containers", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelbus-docker-bench-"))
    with KafkaBroker() as broker, DockerEngine() as engine:
        image = build_test_image(engine.url)
        client = docker.DockerClient(base_url=engine.url, max_pool_size=16)
        base = {"CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
        state = StateProcess(
            {**base, "CANCELBUS_DATABASE_URL": f"sqlite:///{work / 'state.db'}"},
            work / "state.log",
        ).start()
        worker = ServiceProcess(
            ["worker", "docker"], {**base, "DOCKER_HOST": engine.url}, work / "worker.log"
        ).start()
        try:
            await asyncio.to_thread(state.wait_healthy)
            assert worker.proc is not None
            rss = PeakRss(worker.proc.pid).start()
            containers = Containers(client, image, client.info()["ID"])
            async with httpx.AsyncClient(base_url=state.api_url, timeout=60) as api:
                await latency(api, containers, 5)  # warm-up: connections, consumer groups
                print(f"latency set_state {await latency(api, containers, args.samples)}")
                await _prune(client)
                print(f"bulk: {await bulk(api, containers, args.containers)}")
            print(f"worker peak RSS: {await rss.stop() / 2**20:.0f} MiB")
        finally:
            worker.terminate()
            state.terminate()
            with contextlib.suppress(Exception):
                await _prune(client)
            client.close()
            print(f"logs in {work}")


async def _prune(client: Any) -> None:
    await asyncio.to_thread(client.containers.prune)


if __name__ == "__main__":
    asyncio.run(main())
