"""Settings of the state service (environment prefix CANCELBUS_)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.transport.settings import BusSettings


def default_database_url() -> str:
    return f"sqlite:///{Path.home() / '.cancelbus' / 'cancelbus.db'}"


class OrchestrationSettings(BaseSettings):
    """How cancellations are requested and retried: the part the state service's rules read."""

    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    default_grace_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="grace before SIGKILL when a request names none"
    )
    max_cancel_attempts: int = Field(
        default=3, ge=1, le=100, description="requests per CANCELLING state before giving up"
    )
    retry_backoff_seconds: float = Field(
        default=1.0, gt=0, description="delay before the second attempt; doubles each time"
    )
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)
    cascade_cancel: bool = Field(
        default=True, description="cancelling a run cancels its children, grandchildren, ..."
    )
    no_cascade_deployments: Annotated[list[UUID], NoDecode] = Field(
        default_factory=list,
        description="deployments whose runs do not cascade: ids, comma-separated or JSON",
    )
    no_cascade_tags: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="tags whose runs do not cascade (as cancelbus.no-cascade does)",
    )

    @field_validator("no_cascade_deployments", "no_cascade_tags", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        """`a,b` or `["a", "b"]` from the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value


class StateSettings(BaseSettings):
    """Every setting of the state service; its sections read the same CANCELBUS_ names."""

    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    bus: BusSettings = Field(default_factory=BusSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    database_url: str = Field(
        default_factory=default_database_url,
        description="sqlite:///path or postgresql://user:password@host/db",
    )
    api_token: str | None = Field(
        default=None, description="when set, every API call but health needs this bearer token"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=4200, ge=0, le=65535)
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often the relay looks for due messages unprompted"
    )
    outbox_batch: int = Field(
        default=2000,
        ge=1,
        le=10000,
        description="rows the relay reads at once; smaller batches fall behind a bulk cancel",
    )
    max_message_bytes: int = Field(
        default=1024 * 1024, gt=0, description="larger consumed messages are dead-lettered"
    )
