"""Pick the bus for a service: Kafka when a cluster address is configured, else in-process."""

from __future__ import annotations

from services.transport.base import Bus


def make_bus(
    bootstrap_servers: str | None,
    *,
    client_id: str,
    partitions: int = 6,
    replication_factor: int = 1,
    graceful_timeout: float = 10.0,
    topic_prefix: str = "",
) -> Bus:
    if bootstrap_servers:
        from services.transport.kafka import KafkaBus

        return KafkaBus(
            bootstrap_servers,
            client_id=client_id,
            partitions=partitions,
            replication_factor=replication_factor,
            graceful_timeout=graceful_timeout,
            topic_prefix=topic_prefix,
        )
    from services.transport.memory import InMemoryBus

    return InMemoryBus(partitions=partitions, graceful_timeout=graceful_timeout)
