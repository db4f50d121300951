"""How a service reaches the bus (environment prefix CANCELBUS_).

Every service's settings nest this one class, so the same variables configure the bus of
every service of a deployment.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """The Kafka cluster and the topics a service creates on it; no cluster: the in-process bus."""

    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]; unset -> the in-process bus"
    )
    topic_prefix: str = Field(
        default="", description="namespaces every Kafka topic (a shared cluster, tests)"
    )
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    kafka_session_timeout_seconds: float = Field(
        default=10.0,
        ge=6,  # the broker's group.min.session.timeout.ms by default
        le=300,
        description="how long a silent consumer keeps its partitions before the group moves "
        "them (a crashed replica's work waits this long)",
    )

    def describe(self) -> str:
        """Where the bus is, for a service's start-up line."""
        return self.kafka_bootstrap_servers or "in-process"
