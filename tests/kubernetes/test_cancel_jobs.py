"""Cancelling runs that are Kubernetes Jobs, through the REST API, on a real API server."""

from __future__ import annotations

import uuid

from schemas.messages import CancellationRequested
from schemas.topics import Topics
from tests.fixtures.kubernetes import KubeKit
from tests.kubernetes.conftest import PlaneFactory

WORKER = "cancelbus-worker"  # bound to the least-privilege roles of compose/kubernetes/
NO_DELETE = "cancelbus-no-delete"  # bound to get/list only


async def test_a_labelled_job_is_deleted_with_least_privilege_and_the_run_cancelled(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    await kube.grant(WORKER, namespace)
    async with cancel_plane(kube.settings(WORKER)) as plane:
        run_id = await plane.new_run()
        job = await kube.create_job(namespace, f"run-{run_id}", run_id)
        await plane.start(run_id, plane.target(namespace, job.metadata.name, job.metadata.uid))

        await plane.set_state(run_id, "CANCELLING")

        await plane.wait_state(run_id, "CANCELLED")
        assert await kube.read_job(namespace, job.metadata.name) is None
        [attempt] = await plane.history(run_id)
        assert attempt["outcome"] == "cancelled", attempt


async def test_an_unlabelled_job_is_left_alone_and_the_run_cancelled_as_not_found(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    foreign = await kube.create_job(namespace, "someone-elses-job")
    async with cancel_plane() as plane:
        # the plain form users already have: cluster:namespace:job, no UID
        run_id = await plane.running_run(f"{plane.cluster}:{namespace}:someone-elses-job")

        await plane.set_state(run_id, "CANCELLING")

        await plane.wait_state(run_id, "CANCELLED")
        [attempt] = await plane.history(run_id)
        assert attempt["outcome"] == "not_found"
        assert "no marker" in attempt["detail"], attempt
    still = await kube.read_job(namespace, "someone-elses-job")
    assert still is not None
    assert still.metadata.uid == foreign.metadata.uid
    assert still.metadata.deletion_timestamp is None


async def test_a_job_recreated_under_the_same_name_is_not_touched(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    async with cancel_plane() as plane:
        run_id = await plane.new_run()
        first = await kube.create_job(namespace, "nightly", run_id)
        await plane.start(run_id, plane.target(namespace, "nightly", first.metadata.uid))
        # someone deletes it and starts another Job of the same name, even the same label
        await kube.delete_job(namespace, "nightly")
        second = await kube.create_job(namespace, "nightly", run_id)

        await plane.set_state(run_id, "CANCELLING")

        await plane.wait_state(run_id, "CANCELLED")
        [attempt] = await plane.history(run_id)
        assert attempt["outcome"] == "not_found", attempt
    still = await kube.read_job(namespace, "nightly")
    assert still is not None
    assert still.metadata.uid == second.metadata.uid
    assert still.metadata.deletion_timestamp is None


async def test_a_missing_job_is_reported_not_found(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    async with cancel_plane() as plane:
        run_id = await plane.running_run(plane.target(namespace, "never-existed"))

        await plane.set_state(run_id, "CANCELLING")

        await plane.wait_state(run_id, "CANCELLED")
        [attempt] = await plane.history(run_id)
        assert attempt["outcome"] == "not_found"
        assert "already gone" in attempt["detail"], attempt


async def test_without_delete_permission_the_worker_reports_failed_and_the_run_stays_cancelling(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    await kube.grant(NO_DELETE, namespace, verbs=["get", "list"])
    async with cancel_plane(kube.settings(NO_DELETE)) as plane:
        run_id = await plane.new_run()
        job = await kube.create_job(namespace, "guarded", run_id)
        await plane.start(run_id, plane.target(namespace, "guarded", job.metadata.uid))

        await plane.set_state(run_id, "CANCELLING")

        attempt = (await plane.history(run_id))[0]  # the state service asks again later
        assert attempt["outcome"] == "failed"
        assert "forbidden" in attempt["detail"], attempt
        assert "may not delete jobs.batch" in attempt["detail"], attempt
        run = (await plane.api.get(f"/api/flow_runs/{run_id}")).json()
        assert run["state_type"] == "CANCELLING"
    assert await kube.read_job(namespace, "guarded") is not None


async def test_a_request_for_another_cluster_is_not_claimed(
    kube: KubeKit, cancel_plane: PlaneFactory
) -> None:
    namespace = await kube.namespace()
    run_id = uuid.uuid4()
    job = await kube.create_job(namespace, "elsewhere", run_id)
    async with cancel_plane(cluster="eu-west") as plane:
        target = plane.target(namespace, "elsewhere", job.metadata.uid)
        request = CancellationRequested(
            flow_run_id=run_id,
            state_id=uuid.uuid4(),
            infrastructure=target.model_copy(update={"scope": "us-east"}),
        )
        await plane.bus.publish(request.TOPIC, request.key, request.model_dump_json().encode())

        await plane.requests_seen("mismatched", 1)

        assert await plane.kit.published(Topics.CANCEL_RESULTS) == []
    assert await kube.read_job(namespace, "elsewhere") is not None
