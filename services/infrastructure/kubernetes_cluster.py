"""How a worker or launcher reaches a Kubernetes cluster: a kubeconfig, else in-cluster with
the pod's service account, else $KUBECONFIG."""

from __future__ import annotations

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from services.infrastructure.settings import KubernetesConnection


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
