"""How a worker or launcher reaches a Kubernetes cluster: a kubeconfig, else in-cluster with
the pod's service account, else $KUBECONFIG."""

from __future__ import annotations

from pathlib import Path

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException
from pydantic import BaseModel, Field


class KubernetesConnection(BaseModel):
    """The `kubernetes` section (CANCELBUS_KUBERNETES_*) of a settings: how to reach a cluster."""

    kubeconfig: Path | None = Field(
        default=None, description="a kubeconfig file; unset -> in-cluster, else $KUBECONFIG"
    )
    context: str | None = Field(default=None, description="the kubeconfig context to use")
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=64, ge=1, le=1000)


async def load_configuration(connection: KubernetesConnection) -> client.Configuration:
    """From the kubeconfig if one is set, else in-cluster (service account), else $KUBECONFIG."""
    configuration = client.Configuration()
    if connection.kubeconfig is not None:
        await config.load_kube_config(
            config_file=str(connection.kubeconfig),
            context=connection.context,
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
                context=connection.context,
                client_configuration=configuration,
                persist_config=False,
            )
    configuration.connection_pool_maxsize = connection.max_connections
    return configuration
