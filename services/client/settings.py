"""Where the client finds the state service (environment prefix CANCELBUS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "http://127.0.0.1:4300/api"


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    api_url: str = Field(default=DEFAULT_API_URL, description="the state service's REST API")
    api_token: str | None = Field(default=None, description="bearer token, when the API needs one")
    api_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="seconds to wait for an answer to one call"
    )
