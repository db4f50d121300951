"""Benchmark of cancelling Kubernetes Jobs, as deployed: real Kafka, a real kube-apiserver
(+ etcd), the state service (SQLite) and `cancelbus worker kubernetes` as OS processes.

1. latency: one run at a time, `set_state` CANCELLING over REST -> the run's CANCELLED
   state (its server timestamp), Background propagation; target p99 <= 150 ms.
2. bulk: N running Jobs cancelled by one `POST /api/flow_runs/cancel` -> every run
   CANCELLED and every Job gone; per-run latency from the request, makespan, runs/s.

    .venv/bin/python -m bench.kubernetes_bench [--samples 200] [--jobs 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kubernetes_asyncio import client

from bench.flow_runs import bulk_cancel, wait_all_cancelled
from bench.stats import PeakRss, fmt, percentiles
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_LABEL
from services.infrastructure.kubernetes_cluster import load_configuration
from services.infrastructure.settings import KubernetesConnection
from services.localinfra import KafkaBroker
from services.localinfra.kube_credentials import ADMIN
from services.localinfra.kubernetes import KubeApiServer
from services.localinfra.service_process import ServiceProcess, StateProcess

CLUSTER = "bench"
NAMESPACE = "bench"


def _job(run_id: str) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=f"run-{run_id}", labels={FLOW_RUN_LABEL: run_id}),
        spec=client.V1JobSpec(
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="main", image="busybox:1.37")],
                )
            )
        ),
    )


async def _running_job_runs(
    api: httpx.AsyncClient, batch: client.BatchV1Api, count: int, tag: str
) -> list[str]:
    """Create `count` RUNNING runs, each with a labelled Job recorded as its infrastructure."""
    gate = asyncio.Semaphore(16)

    async def one() -> str:
        async with gate:
            run = (await api.post("/flow_runs/", json={"name": "bench", "tags": [tag]})).json()
            job = await batch.create_namespaced_job(NAMESPACE, _job(run["id"]))
            infrastructure = InfrastructureId(
                kind=InfrastructureKind.KUBERNETES,
                scope=CLUSTER,
                id=f"{NAMESPACE}/{job.metadata.name}",
                fingerprint=job.metadata.uid,
            )
            await api.patch(
                f"/flow_runs/{run['id']}", json={"infrastructure_pid": str(infrastructure)}
            )
            await api.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
            return str(run["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _cancelled_at(api: httpx.AsyncClient, run_id: str) -> float | None:
    states: list[dict[str, Any]] = (await api.get(f"/flow_runs/{run_id}/states")).json()
    for state in states:
        if state["type"] == "CANCELLED":
            return datetime.fromisoformat(state["timestamp"]).timestamp()
    return None


async def latency(api: httpx.AsyncClient, batch: client.BatchV1Api, samples: int) -> str:
    runs = await _running_job_runs(api, batch, samples, f"lat-{uuid.uuid4().hex[:6]}")
    took: list[float] = []
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
        took.append((done - started) * 1000)
    return fmt(percentiles(took))


async def bulk(api: httpx.AsyncClient, batch: client.BatchV1Api, jobs: int) -> str:
    tag = f"bulk-{uuid.uuid4().hex[:6]}"
    runs = await _running_job_runs(api, batch, jobs, tag)
    started = time.time()
    await bulk_cancel(api, tag)
    await wait_all_cancelled(api, tag, jobs)
    makespan = time.time() - started
    left = await batch.list_namespaced_job(NAMESPACE, label_selector=FLOW_RUN_LABEL)
    gate = asyncio.Semaphore(32)

    async def cancelled_at(run_id: str) -> float | None:
        async with gate:
            return await _cancelled_at(api, run_id)

    finished = await asyncio.gather(*(cancelled_at(r) for r in runs))
    took = [(t - started) * 1000 for t in finished if t is not None]
    return (
        f"{jobs} Jobs: all CANCELLED in {makespan:.2f} s ({jobs / makespan:.0f} runs/s), "
        f"Jobs left: {len(left.items)}; per run from the request: {fmt(percentiles(took))}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cancelbus-kube-bench-"))
    with KafkaBroker() as broker, KubeApiServer() as kube:
        admin = client.ApiClient(
            await load_configuration(KubernetesConnection(kubeconfig=kube.kubeconfig(ADMIN)))
        )
        try:
            core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)
            meta = client.V1ObjectMeta(name=NAMESPACE)
            await core.create_namespace(client.V1Namespace(metadata=meta))
            cluster_uid = (await core.read_namespace("kube-system")).metadata.uid
            base = {"CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
            state = StateProcess(
                {**base, "CANCELBUS_DATABASE_URL": f"sqlite:///{work / 'state.db'}"},
                work / "state.log",
            ).start()
            worker = ServiceProcess(
                ["worker", "kubernetes"],
                {
                    **base,
                    "CANCELBUS_WORKER_SCOPE": CLUSTER,
                    "CANCELBUS_KUBERNETES_KUBECONFIG": str(kube.kubeconfig(ADMIN)),
                    "CANCELBUS_KUBERNETES_CLUSTER_UID": cluster_uid,
                },
                work / "worker.log",
            ).start()
            try:
                await asyncio.to_thread(state.wait_healthy)
                assert worker.proc is not None
                rss = PeakRss(worker.proc.pid).start()
                async with httpx.AsyncClient(base_url=state.api_url, timeout=60) as api:
                    await latency(api, batch, 5)  # warm-up: connections, consumer groups
                    print(
                        f"latency set_state -> CANCELLED: {await latency(api, batch, args.samples)}"
                    )
                    print(f"bulk: {await bulk(api, batch, args.jobs)}")
                print(f"worker peak RSS: {await rss.stop() / 2**20:.0f} MiB")
            finally:
                worker.terminate()
                state.terminate()
                print(f"logs in {work}")
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
