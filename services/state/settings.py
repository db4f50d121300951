"""Settings of the state service (environment prefix CANCELBUS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    return f"sqlite:///{Path.home() / '.cancelbus' / 'cancelbus.db'}"


class OrchestrationSettings(BaseSettings):
    """How cancellations are requested and retried."""

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


class StateSettings(OrchestrationSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    database_url: str = Field(
        default_factory=default_database_url,
        description="sqlite:///path or postgresql://user:password@host/db",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]; unset -> the in-process bus"
    )
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    topic_prefix: str = Field(
        default="", description="namespaces every Kafka topic (a shared cluster, tests)"
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
