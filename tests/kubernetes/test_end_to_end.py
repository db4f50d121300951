"""End to end as deployed: real Kafka, the state service and the Kubernetes worker as OS
processes, Jobs launched with the Kubernetes launcher, cancelled through the REST API."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from schemas.states import StateType
from services.launcher.kubernetes import launch_job
from services.localinfra.service_process import CANCELBUS, ServiceProcess, StateProcess
from tests.fixtures.kubernetes import KubeKit

JOBS = 20
CLI_LAUNCHES = 2
WORKER = "cancelbus-worker"


async def launch(env: dict[str, str], namespace: str, cluster: str, tag: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        CANCELBUS,
        "run",
        "kubernetes",
        "--image",
        "busybox:1.37",
        "--namespace",
        namespace,
        "--cluster",
        cluster,
        "--tag",
        tag,
        "--",
        "sleep",
        "3600",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_twenty_launched_jobs_are_all_deleted_and_cancelled(
    kube: KubeKit, kafka_bootstrap: str, tmp_path: Path
) -> None:
    namespace = await kube.namespace()
    await kube.grant(WORKER, namespace)
    cluster = f"e2e-{uuid.uuid4().hex[:8]}"
    tag = f"e2e-{uuid.uuid4().hex[:8]}"
    base = {"CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    state = StateProcess(
        {**base, "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}"},
        tmp_path / "state.log",
    ).start()
    worker = ServiceProcess(
        ["worker", "kubernetes"],
        {
            **base,
            "CANCELBUS_WORKER_SCOPE": cluster,
            "CANCELBUS_KUBERNETES_KUBECONFIG": str(kube.server.kubeconfig(WORKER)),
            "CANCELBUS_KUBERNETES_CLUSTER_UID": kube.cluster_uid,
        },
        tmp_path / "worker.log",
    ).start()
    try:
        await asyncio.to_thread(state.wait_healthy)
        launcher_env = {
            **state.env,
            "CANCELBUS_API_URL": state.api_url,
            "CANCELBUS_KUBERNETES_KUBECONFIG": str(kube.server.kubeconfig()),
        }
        # two through the command, the rest through the same launcher in-process (sharing one
        # connection pool): a `cancelbus run` process costs ~2 s of imports on 2 busy cores
        outputs = await asyncio.gather(
            *(launch(launcher_env, namespace, cluster, tag) for _ in range(CLI_LAUNCHES))
        )
        assert all("RUNNING" in out for out in outputs), outputs
        launches = await asyncio.gather(
            *(
                launch_job(
                    "busybox:1.37",
                    ["sleep", "3600"],
                    api_url=state.api_url,
                    cluster=cluster,
                    namespace=namespace,
                    tags=[tag],
                    kube_api=kube.api,
                )
                for _ in range(JOBS - CLI_LAUNCHES)
            )
        )
        assert all(launched.state is StateType.RUNNING for launched in launches)
        listed = await kube.batch.list_namespaced_job(namespace)
        assert len(listed.items) == JOBS

        async with httpx.AsyncClient(base_url=state.api_url, timeout=30) as api:
            found = await api.post(
                "/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [tag]}}}
            )
            runs = found.json()
            assert len(runs) == JOBS
            assert all(r["state_type"] == "RUNNING" for r in runs)
            assert all(r["infrastructure_pid"].startswith("kubernetes://") for r in runs)

            answers = await asyncio.gather(
                *(
                    api.post(
                        f"/flow_runs/{r['id']}/set_state", json={"state": {"type": "CANCELLING"}}
                    )
                    for r in runs
                )
            )
            assert all(a.json()["status"] == "ACCEPT" for a in answers)

            deadline = asyncio.get_running_loop().time() + 60
            while True:
                found = await api.post(
                    "/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [tag]}}}
                )
                states = [r["state_type"] for r in found.json()]
                if states.count("CANCELLED") == JOBS:
                    break
                assert asyncio.get_running_loop().time() < deadline, (states, worker.log())
                await asyncio.sleep(0.2)
            history = await api.get(f"/flow_runs/{runs[0]['id']}/cancellation")
            assert history.json()[-1]["outcome"] == "cancelled"
        listed = await kube.batch.list_namespaced_job(namespace)
        assert listed.items == []
    finally:
        worker_exit = worker.terminate()
        state.terminate()
    assert worker_exit == 0, worker.log()
