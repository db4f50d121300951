"""How to reach a Docker engine and a Kubernetes cluster: the `docker` and `kubernetes` sections
of a worker's and a launcher's settings, and the base of those settings classes.

A section's field is read from the environment as `<prefix><SECTION>_<FIELD>`, e.g.
CANCELBUS_KUBERNETES_CLUSTER_UID; Docker's own DOCKER_HOST is honoured below
CANCELBUS_DOCKER_HOST.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"


class DockerConnection(BaseModel):
    """How to reach a Docker engine: the `docker` section (CANCELBUS_DOCKER_*) of a settings."""

    host: str = Field(
        default=DEFAULT_DOCKER_URL,
        description="the Docker API URL (CANCELBUS_DOCKER_HOST, else DOCKER_HOST)",
    )
    timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="HTTP timeout of one Docker API call (a stop adds its grace)",
    )
    threads: int = Field(
        default=128, ge=1, le=4096, description="Docker API calls in flight at once"
    )


class KubernetesConnection(BaseModel):
    """The `kubernetes` section (CANCELBUS_KUBERNETES_*) of a settings: how to reach a cluster."""

    kubeconfig: Path | None = Field(
        default=None, description="a kubeconfig file; unset -> in-cluster, else $KUBECONFIG"
    )
    context: str | None = Field(default=None, description="the kubeconfig context to use")
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=64, ge=1, le=1000)


class DockerHostVariable(PydanticBaseSettingsSource):
    """Docker's own `DOCKER_HOST` as `docker.host`, for a settings class with a `docker` section.

    Place it after the environment source: CANCELBUS_DOCKER_HOST wins over it.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        host = os.environ.get("DOCKER_HOST")
        return {"docker": {"host": host}} if host else {}


class InfrastructureSettings(BaseSettings):
    """A settings class whose `docker`/`kubernetes` sections read as above (it sets the prefix)."""

    model_config = SettingsConfigDict(env_nested_delimiter="_", env_nested_max_split=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        docker_host = DockerHostVariable(settings_cls)
        return init_settings, env_settings, dotenv_settings, docker_host, file_secret_settings
