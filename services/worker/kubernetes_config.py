"""How the Kubernetes worker and launcher reach a cluster (environment prefix
CANCELBUS_KUBERNETES_): a kubeconfig, else in-cluster with the pod's service account."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Propagation(StrEnum):
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"


class KubernetesSettings(BaseSettings):
    """How the worker reaches its cluster (environment prefix CANCELBUS_KUBERNETES_)."""

    model_config = SettingsConfigDict(env_prefix="CANCELBUS_KUBERNETES_", extra="ignore")

    cluster_uid: str | None = Field(
        default=None,
        description="the kube-system namespace's UID of the cluster this worker serves "
        "(kubectl get ns kube-system -o jsonpath='{.metadata.uid}'); required",
    )
    kubeconfig: Path | None = Field(
        default=None, description="a kubeconfig file; unset -> in-cluster, else $KUBECONFIG"
    )
    context: str | None = Field(default=None, description="the kubeconfig context to use")
    propagation: Propagation = Field(
        default=Propagation.BACKGROUND,
        description="Background deletes the Job at once and its pods after; Foreground "
        "keeps the Job until its pods are gone (needs the garbage collector)",
    )
    deletion_margin_seconds: float = Field(
        default=30.0, ge=0, description="Foreground: wait this long past the grace for the Job"
    )
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    attempts: int = Field(
        default=3, ge=1, le=20, description="tries of one API call on 5xx, 429 or a timeout"
    )
    backoff_seconds: float = Field(default=0.1, ge=0)
    max_connections: int = Field(default=64, ge=1, le=1000)


async def load_configuration(settings: KubernetesSettings) -> client.Configuration:
    """From the kubeconfig if one is set, else in-cluster (service account), else $KUBECONFIG."""
    configuration = client.Configuration()
    if settings.kubeconfig is not None:
        await config.load_kube_config(
            config_file=str(settings.kubeconfig),
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    else:
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except ConfigException:
            await config.load_kube_config(
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
    configuration.connection_pool_maxsize = settings.max_connections
    return configuration
