"""Settings of a launcher (environment prefix CANCELBUS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LauncherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    api_url: str = Field(
        default="http://127.0.0.1:4200/api", description="the state service's REST API"
    )
    api_token: str | None = Field(default=None, description="bearer token, when the API needs one")
    worker_scope: str | None = Field(
        default=None, min_length=1, description="this host's scope (default: its host name)"
    )
