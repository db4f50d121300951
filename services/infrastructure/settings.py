"""The base of a settings class with `docker` and `kubernetes` sections (a worker's, a launcher's).

A section's field is read from the environment as `<prefix><SECTION>_<FIELD>`, e.g.
CANCELBUS_KUBERNETES_CLUSTER_UID; Docker's own DOCKER_HOST is honoured below
CANCELBUS_DOCKER_HOST.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


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
