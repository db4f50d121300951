"""Settings of a launcher (environment prefix CANCELBUS_), with the worker's connection
sections: CANCELBUS_DOCKER_* (and DOCKER_HOST) and CANCELBUS_KUBERNETES_*."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.markers import FLOW_RUN_ID_ENV, PREFECT_FLOW_RUN_ID_ENV, RUN_MARKERS, named_run_id
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
    # the run this launcher itself runs in, as its launcher (or Prefect) marked it
    flow_run_id: str | None = Field(
        default=None, description="the run this command runs inside: the new run's parent"
    )
    prefect_flow_run_id: str | None = Field(
        default=None,
        validation_alias=PREFECT_FLOW_RUN_ID_ENV,
        description="Prefect's mark of the flow run this command runs inside",
    )

    def enclosing_run(self) -> tuple[UUID | None, str | None]:
        """The run this launcher runs inside (CANCELBUS_FLOW_RUN_ID, else Prefect's
        PREFECT__FLOW_RUN_ID), or (None, why a value set is not a run id)."""
        marks = {
            FLOW_RUN_ID_ENV: self.flow_run_id,
            PREFECT_FLOW_RUN_ID_ENV: self.prefect_flow_run_id,
        }
        return named_run_id({k: v for k, v in marks.items() if v}, RUN_MARKERS)
