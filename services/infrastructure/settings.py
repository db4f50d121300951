"""The base of a settings class with `docker` and `kubernetes` sections (a worker's, a launcher's).

A section's field is read from the environment as `<prefix><SECTION>_<FIELD>`, e.g.
CANCELBUS_KUBERNETES_CLUSTER_UID; Docker's own DOCKER_HOST is honoured below
CANCELBUS_DOCKER_HOST.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from services.infrastructure.docker_engine import DockerHostVariable


class InfrastructureSettings(BaseSettings):
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
