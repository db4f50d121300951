"""Launch a Kubernetes Job as a tracked run: `cancelbus run kubernetes --image IMAGE -- CMD...`.

Creates a PENDING flow run, then a Job named `run-<flow run id>` labelled
`io.cancelbus.flow-run-id=<id>` (its pod template too), records the infrastructure id
`kubernetes://<cluster>/<namespace>%2F<job>#<uid>`, and proposes RUNNING. If RUNNING is
refused (the run was cancelled meanwhile) it deletes the Job it made. It does not wait for
the Job: the cluster runs it, and the Kubernetes worker deletes it on a cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_ID_ENV, FLOW_RUN_LABEL
from schemas.states import StateType
from services.infrastructure.kubernetes_cluster import load_configuration
from services.infrastructure.settings import KubernetesConnection
from services.launcher.api import Parent, RunsApi

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JobLaunch:
    flow_run_id: UUID
    state: StateType  # RUNNING, or CANCELLED/FAILED when the Job was not left running
    infrastructure: InfrastructureId | None
    detail: str = ""


def job_manifest(run_id: UUID, image: str, command: Sequence[str], namespace: str) -> client.V1Job:
    labels = {FLOW_RUN_LABEL: str(run_id)}
    container = client.V1Container(
        name="flow-run",
        image=image,
        command=list(command) or None,
        env=[client.V1EnvVar(name=FLOW_RUN_ID_ENV, value=str(run_id))],
    )
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=f"run-{run_id}", namespace=namespace, labels=labels),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(restart_policy="Never", containers=[container]),
            ),
        ),
    )


async def launch_job(
    image: str,
    command: Sequence[str] = (),
    *,
    api_url: str,
    cluster: str,
    namespace: str = "default",
    name: str | None = None,
    tags: Sequence[str] = (),
    api_token: str | None = None,
    kubernetes: KubernetesConnection | None = None,
    kube_api: client.ApiClient | None = None,
    parent: Parent | None = None,
) -> JobLaunch:
    """Create the run and its Job and move the run to RUNNING.

    `kube_api` lets a caller that launches many Jobs share one connection pool.
    """
    own_api = kube_api is None
    api = kube_api or client.ApiClient(
        await load_configuration(kubernetes or KubernetesConnection())
    )
    batch = client.BatchV1Api(api)
    try:
        async with RunsApi(api_url, token=api_token) as runs:
            job_name = name or f"job-{image.rsplit('/', 1)[-1]}"
            run = await runs.create_run(job_name, list(tags), parent)
            try:
                job = await batch.create_namespaced_job(
                    namespace, job_manifest(run.id, image, command, namespace)
                )
            except ApiException as exc:
                detail = f"cannot create the Job in {namespace}: {exc.status} {exc.reason}"
                await runs.propose(run.id, StateType.FAILED, detail)
                return JobLaunch(run.id, StateType.FAILED, None, detail)
            infrastructure = InfrastructureId(
                kind=InfrastructureKind.KUBERNETES,
                scope=cluster,
                id=f"{namespace}/{job.metadata.name}",
                fingerprint=str(job.metadata.uid),
            )
            await runs.set_infrastructure(run.id, infrastructure)
            status, _ = await runs.propose(run.id, StateType.RUNNING)
            if status != "ACCEPT":
                log.warning("running_refused_deleting_job", flow_run_id=str(run.id))
                await _delete(batch, namespace, str(job.metadata.name), str(job.metadata.uid))
                return JobLaunch(run.id, StateType.CANCELLED, infrastructure, status)
            log.info("launched", flow_run_id=str(run.id), infrastructure=str(infrastructure))
            return JobLaunch(run.id, StateType.RUNNING, infrastructure)
    finally:
        if own_api:
            await api.close()


async def _delete(batch: client.BatchV1Api, namespace: str, name: str, uid: str) -> None:
    body = client.V1DeleteOptions(
        propagation_policy="Background", preconditions=client.V1Preconditions(uid=uid)
    )
    try:
        await batch.delete_namespaced_job(name, namespace, body=body)
    except ApiException as exc:
        if exc.status not in (404, 409):
            raise
