"""The kubernetes kind: scope = cluster name, id = `namespace/job`, fingerprint = the Job's UID.

Identity: the Job's `io.cancelbus.flow-run-id` label must name the run. Termination is a
DELETE with `gracePeriodSeconds`, a propagation policy that removes the pods (Background by
default) and a `uid` precondition, so a Job re-created under the same name is never touched.
Confirmation reads the Job again: gone (404) or another UID under that name.

The cluster name alone could be reused by mistake, so at start the worker reads the
kube-system namespace's UID (the cluster's identity) and refuses to run unless it equals
`CANCELBUS_KUBERNETES_CLUSTER_UID`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import aiohttp
import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.infrastructure.errors import InfrastructureError
from services.infrastructure.kubernetes_cluster import load_configuration
from services.runtime.backoff import backoff
from services.worker.infrastructure import Observation, Presence, TargetReplaced
from services.worker.kubernetes_calls import call_with_retries, fault, server_message
from services.worker.kubernetes_rules import (
    Answer,
    classify,
    finished_condition,
    grace_period,
    run_id_label,
)
from services.worker.settings import KubernetesSection

log = structlog.get_logger(__name__)
T = TypeVar("T")
_PINNED_UIDS = 10_000
_GONE_POLL_SECONDS = (0.05, 1.0)  # the first pause between two reads, the longest


class ClusterIdentityError(RuntimeError):
    """The cluster reached is not the one the worker is configured for: it must not start."""


class JobReplaced(TargetReplaced):
    """The uid precondition failed: the name belongs to a newer Job, which was left alone."""


class KubernetesJobs:
    """`Infrastructure` for the Jobs of one cluster. Create it with `connect`; `close` it."""

    def __init__(self, api: client.ApiClient, *, cluster: str, settings: KubernetesSection):
        self._api = api
        self._batch = client.BatchV1Api(api)
        self._core = client.CoreV1Api(api)
        self._cluster = cluster
        self._settings = settings
        # the UID seen by `observe`, so a plain id (no fingerprint) is deleted with a precondition
        self._seen: OrderedDict[InfrastructureId, str] = OrderedDict()

    @classmethod
    async def connect(cls, cluster: str, settings: KubernetesSection) -> KubernetesJobs:
        """Reach the cluster and check its identity; ClusterIdentityError if it is not ours."""
        api = client.ApiClient(await load_configuration(settings))
        jobs = cls(api, cluster=cluster, settings=settings)
        try:
            await jobs.verify_cluster()
        except BaseException:
            await jobs.close()
            raise
        return jobs

    async def close(self) -> None:
        await self._api.close()

    @property
    def kind(self) -> InfrastructureKind:
        return InfrastructureKind.KUBERNETES

    @property
    def scope(self) -> str:
        return self._cluster

    async def cluster_uid(self) -> str:
        """The kube-system namespace's UID: what makes this cluster this one."""
        what = "get namespaces kube-system"
        try:
            namespace = await self._call(
                what,
                lambda: self._core.read_namespace("kube-system", _request_timeout=self._timeout),
            )
        except ApiException as exc:
            raise fault(what, exc) from exc
        return str(namespace.metadata.uid)

    async def verify_cluster(self) -> None:
        expected = self._settings.cluster_uid
        try:
            actual = await self.cluster_uid()
        except InfrastructureError as exc:
            raise ClusterIdentityError(
                f"cannot read the identity of cluster {self._cluster!r}: {exc}"
            ) from exc
        if expected is None:
            raise ClusterIdentityError(
                f"CANCELBUS_KUBERNETES_CLUSTER_UID is not set; the cluster reached has "
                f"kube-system UID {actual}: set it to that if this is cluster {self._cluster!r}"
            )
        if actual != expected:
            raise ClusterIdentityError(
                f"refusing to start: the cluster reached has kube-system UID {actual}, but "
                f"cluster {self._cluster!r} is configured as {expected}; "
                "check the kubeconfig/context or CANCELBUS_KUBERNETES_CLUSTER_UID"
            )
        log.info("kubernetes_cluster_verified", cluster=self._cluster, uid=actual)

    async def observe(self, target: InfrastructureId) -> Observation:
        namespace, name = _split(target)
        job = await self._read(target, namespace, name)
        if job is None:
            return Observation(Presence.GONE, detail=f"no Job {namespace}/{name}")
        uid = str(job.metadata.uid)
        run_id = run_id_label(job.metadata.labels)
        conditions = [(c.type, c.status) for c in (job.status and job.status.conditions) or []]
        finished = finished_condition(conditions)
        if finished is not None:
            return Observation(
                Presence.GONE, run_id, uid, detail=f"Job already finished ({finished})"
            )
        self._seen[target] = uid
        self._seen.move_to_end(target)
        while len(self._seen) > _PINNED_UIDS:
            self._seen.popitem(last=False)
        return Observation(Presence.RUNNING, run_id, uid)

    async def terminate(self, target: InfrastructureId, grace_seconds: float) -> None:
        """DELETE with grace, propagation and the uid precondition; wait until it is gone."""
        namespace, name = _split(target)
        uid = target.fingerprint or self._seen.get(target)
        body = client.V1DeleteOptions(
            grace_period_seconds=grace_period(grace_seconds),
            propagation_policy=self._settings.propagation.value,
            preconditions=client.V1Preconditions(uid=uid) if uid else None,
        )
        what = f"delete jobs.batch {namespace}/{name}"
        try:
            removed = await self._call(what, lambda: self._delete(namespace, name, body))
        except ApiException as exc:
            answer = classify(exc.status)
            if answer is Answer.NOT_FOUND:
                return
            if answer is Answer.CONFLICT:
                raise JobReplaced(
                    f"{target}: Job {namespace}/{name} is no longer UID {uid} "
                    f"({server_message(exc)}); nothing deleted"
                ) from exc
            raise fault(what, exc) from exc
        if not removed:
            await self._wait_gone(target, grace_seconds)

    async def _delete(self, namespace: str, name: str, body: client.V1DeleteOptions) -> bool:
        """True when the API server removed the Job at once.

        It then answers a Status "Success"; a Job that must wait (Foreground, finalizers) is
        answered with the Job itself, marked for deletion.
        """
        raw = await self._batch.delete_namespaced_job(
            name, namespace, body=body, _request_timeout=self._timeout, _preload_content=False
        )
        response = cast(aiohttp.ClientResponse, raw)  # what _preload_content=False returns
        try:
            data = await response.read()
        finally:
            response.release()
        if not 200 <= response.status < 300:
            failed = ApiException(status=response.status, reason=response.reason)
            failed.body = data
            raise failed
        answer = json.loads(data or b"{}")
        return bool(answer.get("kind") == "Status" and answer.get("status") == "Success")

    async def is_gone(self, target: InfrastructureId) -> bool:
        namespace, name = _split(target)
        job = await self._read(target, namespace, name)
        if job is None:
            return True
        uid = target.fingerprint or self._seen.get(target)
        return uid is not None and str(job.metadata.uid) != uid

    @property
    def _timeout(self) -> float:
        return self._settings.request_timeout_seconds

    async def _wait_gone(self, target: InfrastructureId, grace_seconds: float) -> None:
        """Background: gone at once. Foreground: marked for deletion until the pods are gone."""
        deadline = time.monotonic() + grace_seconds + self._settings.deletion_margin_seconds
        first, longest = _GONE_POLL_SECONDS
        reads = 0
        while not await self.is_gone(target):
            if time.monotonic() >= deadline:
                raise InfrastructureError(
                    f"{target} is still marked for deletion {grace_seconds:g} s + "
                    f"{self._settings.deletion_margin_seconds:g} s after the delete "
                    "(is the cluster's garbage collector running?)"
                )
            reads += 1
            await asyncio.sleep(backoff(reads, base=first, ceiling=longest))

    async def _read(
        self, target: InfrastructureId, namespace: str, name: str
    ) -> client.V1Job | None:
        what = f"get jobs.batch {namespace}/{name}"
        try:
            return await self._call(
                what,
                lambda: self._batch.read_namespaced_job(
                    name, namespace, _request_timeout=self._timeout
                ),
            )
        except ApiException as exc:
            if classify(exc.status) is Answer.NOT_FOUND:
                return None
            raise fault(what, exc) from exc

    async def _call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retries(
            what,
            request,
            attempts=self._settings.attempts,
            backoff_seconds=self._settings.backoff_seconds,
        )


def _split(target: InfrastructureId) -> tuple[str, str]:
    namespace, _, name = target.id.partition("/")
    return namespace, name
