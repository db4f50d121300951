"""Settings of a worker (environment prefix CANCELBUS_); the same for every kind, with a
section for the docker kind (CANCELBUS_DOCKER_*) and one for kubernetes (CANCELBUS_KUBERNETES_*)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.infrastructure.settings import (
    DockerConnection,
    InfrastructureSettings,
    KubernetesConnection,
)
from services.transport.settings import BusSettings


class Propagation(StrEnum):
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"


class KubernetesSection(KubernetesConnection):
    """How the Kubernetes worker reaches its cluster, checks it and deletes Jobs."""

    cluster_uid: str | None = Field(
        default=None,
        description="the kube-system namespace's UID of the cluster this worker serves "
        "(kubectl get ns kube-system -o jsonpath='{.metadata.uid}'); required",
    )
    propagation: Propagation = Field(
        default=Propagation.BACKGROUND,
        description="Background deletes the Job at once and its pods after; Foreground "
        "keeps the Job until its pods are gone (needs the garbage collector)",
    )
    deletion_margin_seconds: float = Field(
        default=30.0, ge=0, description="Foreground: wait this long past the grace for the Job"
    )
    attempts: int = Field(
        default=3, ge=1, le=20, description="tries of one API call on 5xx, 429 or a timeout"
    )
    backoff_seconds: float = Field(default=0.1, ge=0)


class WorkerSettings(InfrastructureSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    bus: BusSettings = Field(default_factory=BusSettings)
    worker_scope: str | None = Field(
        default=None,
        min_length=1,
        description="the scope this worker serves; default: the kind's own (host name, ...)",
    )
    worker_name: str | None = Field(
        default=None, min_length=1, max_length=256, description="default: <kind>@<host>:<pid>"
    )
    worker_grace_seconds: float | None = Field(
        default=None, gt=0, le=86400, description="use this grace instead of the request's"
    )
    worker_max_grace_seconds: float | None = Field(
        default=None, gt=0, le=86400, description="never wait longer than this before forcing"
    )
    worker_max_in_flight: int = Field(
        default=1000, ge=1, le=100000, description="cancellations run at once"
    )
    worker_attempts: int = Field(
        default=3, ge=1, le=20, description="local tries on an unexpected fault before failed"
    )
    worker_retry_backoff_seconds: float = Field(
        default=0.5, ge=0, description="delay after the first failed try; doubles each time"
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="how often the worker announces itself"
    )
    worker_shutdown_seconds: float = Field(
        default=20.0,
        ge=0,
        description="on SIGTERM, how long in-flight cancellations may finish; the rest is "
        "left uncommitted for another replica",
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve Prometheus /metrics on this port"
    )
    docker: DockerConnection = Field(
        default_factory=DockerConnection, description="the docker kind's engine"
    )
    kubernetes: KubernetesSection = Field(
        default_factory=KubernetesSection, description="the kubernetes kind's cluster"
    )
