"""Pick the bus for a service: Kafka when a cluster address is configured, else in-process."""

from __future__ import annotations

from services.transport.base import Bus
from services.transport.settings import BusSettings


def make_bus(
    settings: BusSettings,
    *,
    client_id: str,
    graceful_timeout: float = 10.0,
    fetch_max_wait_ms: int | None = None,
) -> Bus:
    """The bus `settings` describe, for the service that names itself `client_id`.

    `graceful_timeout`: how long `stop()` lets the handlers in flight finish.
    `fetch_max_wait_ms`: how long the broker may hold an empty fetch of an ordered
    subscription (Kafka only; shorter: less latency, more polls while idle).
    """
    if settings.kafka_bootstrap_servers:
        from services.transport.kafka import FETCH_MAX_WAIT_MS, KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap_servers,
            client_id=client_id,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            graceful_timeout=graceful_timeout,
            topic_prefix=settings.topic_prefix,
            session_timeout=settings.kafka_session_timeout_seconds,
            fetch_max_wait_ms=fetch_max_wait_ms or FETCH_MAX_WAIT_MS,
        )
    from services.transport.memory import InMemoryBus

    return InMemoryBus(partitions=settings.topic_partitions, graceful_timeout=graceful_timeout)
