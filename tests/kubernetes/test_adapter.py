"""The Kubernetes adapter on its own against the real API server: what the server answers."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.infrastructure.errors import InfrastructureError
from services.infrastructure.kubernetes_cluster import load_configuration
from services.localinfra.service_process import CANCELBUS
from services.worker.infrastructure import Presence
from services.worker.kubernetes import ClusterIdentityError, JobReplaced, KubernetesJobs
from services.worker.kubernetes_calls import PermissionDenied
from services.worker.settings import KubernetesSection, Propagation
from tests.fixtures.kubernetes import RBAC_MANIFEST, KubeKit


def target(namespace: str, job: str, uid: str | None = None) -> InfrastructureId:
    return InfrastructureId(
        kind=InfrastructureKind.KUBERNETES, scope="local", id=f"{namespace}/{job}", fingerprint=uid
    )


@contextlib.asynccontextmanager
async def connected(settings: KubernetesSection) -> AsyncIterator[KubernetesJobs]:
    jobs = await KubernetesJobs.connect("local", settings)
    try:
        yield jobs
    finally:
        await jobs.close()


async def test_a_worker_pointed_at_another_cluster_refuses_to_start(kube: KubeKit) -> None:
    with pytest.raises(ClusterIdentityError, match="refusing to start") as refused:
        await KubernetesJobs.connect("prod-eu", kube.settings(cluster_uid=str(uuid.uuid4())))
    assert kube.cluster_uid in str(refused.value)

    with pytest.raises(ClusterIdentityError, match="CANCELBUS_KUBERNETES_CLUSTER_UID is not set"):
        await KubernetesJobs.connect("prod-eu", kube.settings(cluster_uid=None))


def test_the_worker_command_exits_with_the_reason_on_a_cluster_mismatch(
    kube: KubeKit, tmp_path: Path
) -> None:
    done = subprocess.run(
        [CANCELBUS, "worker", "kubernetes", "--scope", "prod-eu"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "CANCELBUS_KUBERNETES_KUBECONFIG": str(kube.server.kubeconfig()),
            "CANCELBUS_KUBERNETES_CLUSTER_UID": "00000000-0000-0000-0000-000000000000",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing to start" in done.stderr
    assert kube.cluster_uid in done.stderr


async def test_foreground_deletion_marks_the_job_and_waits_for_the_garbage_collector(
    kube: KubeKit,
) -> None:
    namespace = await kube.namespace()
    run_id = uuid.uuid4()
    job = await kube.create_job(namespace, "fg", run_id)
    settings = kube.settings(propagation=Propagation.FOREGROUND, deletion_margin_seconds=0.5)
    async with connected(settings) as jobs:
        with pytest.raises(InfrastructureError, match="still marked for deletion"):
            await jobs.terminate(target(namespace, "fg", job.metadata.uid), grace_seconds=0.5)
    # this test cluster has no garbage collector: the Job waits for its pods' deletion
    marked = await kube.read_job(namespace, "fg")
    assert marked is not None
    assert marked.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in (marked.metadata.finalizers or [])


async def test_a_job_replaced_between_check_and_delete_is_not_deleted(kube: KubeKit) -> None:
    namespace = await kube.namespace()
    run_id = uuid.uuid4()
    await kube.create_job(namespace, "racy", run_id)
    async with connected(kube.settings()) as jobs:
        plain = target(namespace, "racy")  # no fingerprint: the UID seen by observe is pinned
        seen = await jobs.observe(plain)
        assert seen.presence is Presence.RUNNING
        assert seen.flow_run_id == run_id
        await kube.delete_job(namespace, "racy")
        newer = await kube.create_job(namespace, "racy", run_id)

        with pytest.raises(JobReplaced, match="nothing deleted"):
            await jobs.terminate(plain, grace_seconds=1)

    still = await kube.read_job(namespace, "racy")
    assert still is not None
    assert still.metadata.uid == newer.metadata.uid
    assert still.metadata.deletion_timestamp is None


async def test_a_worker_with_no_permissions_is_told_which_one_it_lacks(kube: KubeKit) -> None:
    namespace = await kube.namespace()
    await kube.create_job(namespace, "secret", uuid.uuid4())
    api = client.ApiClient(await load_configuration(kube.settings("nobody")))
    jobs = KubernetesJobs(api, cluster="local", settings=kube.settings("nobody"))
    try:
        with pytest.raises(PermissionDenied, match=r"may not get jobs\.batch") as denied:
            await jobs.observe(target(namespace, "secret"))
        assert '"nobody"' in str(denied.value)
        with pytest.raises(ClusterIdentityError, match="may not get namespaces kube-system"):
            await jobs.verify_cluster()
    finally:
        await jobs.close()


async def test_an_api_server_that_does_not_answer_fails_after_retries(kube: KubeKit) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = kube.settings(request_timeout_seconds=0.3, attempts=2)
    configuration = await load_configuration(settings)
    configuration.host = f"https://127.0.0.1:{port}"
    api = client.ApiClient(configuration)
    jobs = KubernetesJobs(api, cluster="local", settings=settings)
    try:
        with pytest.raises(InfrastructureError, match="after 2 attempts"):
            await jobs.observe(target("default", "anything"))
    finally:
        await jobs.close()
        silent.close()
        await silent.wait_closed()


async def test_the_shipped_worker_manifest_is_accepted_by_the_api_server(kube: KubeKit) -> None:
    docs = [d for d in yaml.safe_load_all(RBAC_MANIFEST.read_text()) if d]
    for name in {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]}:
        with contextlib.suppress(ApiException):  # 409: made by an earlier run of this test
            await kube.core.create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            )
    apps = client.AppsV1Api(kube.api)
    create: dict[str, Callable[..., Awaitable[object]]] = {
        "ServiceAccount": kube.core.create_namespaced_service_account,
        "Role": kube.rbac.create_namespaced_role,
        "RoleBinding": kube.rbac.create_namespaced_role_binding,
        "Deployment": apps.create_namespaced_deployment,
    }
    create_cluster_wide: dict[str, Callable[..., Awaitable[object]]] = {
        "ClusterRole": kube.rbac.create_cluster_role,
        "ClusterRoleBinding": kube.rbac.create_cluster_role_binding,
    }
    for doc in docs:
        if doc["kind"] in create_cluster_wide:
            await create_cluster_wide[doc["kind"]](doc, dry_run="All")
        else:
            await create[doc["kind"]](doc["metadata"]["namespace"], doc, dry_run="All")
    assert {d["kind"] for d in docs} == set(create) | set(create_cluster_wide)
