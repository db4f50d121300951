"""Settings of a launcher (environment prefix CANCELBUS_), with the worker's connection
sections: CANCELBUS_DOCKER_* (and DOCKER_HOST) and CANCELBUS_KUBERNETES_*."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.infrastructure.settings import (
    DockerConnection,
    InfrastructureSettings,
    KubernetesConnection,
)


class LauncherSettings(InfrastructureSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    api_url: str = Field(
        default="http://127.0.0.1:4200/api", description="the state service's REST API"
    )
    api_token: str | None = Field(default=None, description="bearer token, when the API needs one")
    worker_scope: str | None = Field(
        default=None, min_length=1, description="this host's scope (default: its host name)"
    )
    docker: DockerConnection = Field(
        default_factory=DockerConnection, description="the engine `run docker` starts on"
    )
    kubernetes: KubernetesConnection = Field(
        default_factory=KubernetesConnection, description="the cluster `run kubernetes` uses"
    )
