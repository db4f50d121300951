"""Settings of the automations service (environment prefix CANCELBUS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.transport.settings import BusSettings


class AutomationsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    bus: BusSettings = Field(default_factory=BusSettings)
    api_url: str = Field(
        default="http://127.0.0.1:4200/api",
        description="the state service's API, where the rules are read on start",
    )
    api_token: str | None = Field(default=None, description="bearer token for the API")
    api_timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=4320, ge=0, le=65535, description="0: no metrics server")
    automations_batch: int = Field(
        default=500, ge=1, le=100_000, description="input records handled per batch"
    )
    automations_fetch_max_wait_ms: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="how long Kafka may hold an empty fetch: a record landing on a partition "
        "just handled waits up to this long (20 ms cost the event -> command p99 10 ms)",
    )
    automations_publish_retry_seconds: float = Field(
        default=0.1,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="first wait after a failed publish",
    )
    automations_publish_retry_max_seconds: float = Field(
        default=5.0, gt=0, le=600, allow_inf_nan=False, description="longest wait between tries"
    )
