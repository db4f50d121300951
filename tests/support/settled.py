"""When a consumer group has handled everything published on a topic, on either bus: the
event that shows nothing of it is handled again (no retry, no redelivery)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.transport import Bus
from services.transport.memory import InMemoryBus


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The offset `group` committed on one partition of `topic` (None: nothing committed)."""
    return (await committed_offsets(bootstrap, group, topic)).get(partition)


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {
        tp.partition: int(meta.offset)
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset >= 0
    }


async def wait_settled(
    bus: Bus, group: str, topic: str, *, bootstrap: str | None, within: float = 60.0
) -> None:
    """Wait until `group` has handled and committed everything published on `topic` so far:
    from then on nothing of it is handled again (no retry, no redelivery). In memory: until
    every group of the bus is idle. On Kafka, `group` covers the Kafka groups the bus makes
    of it (one per subscription when it subscribes several times under one name)."""
    if isinstance(bus, InMemoryBus):
        async with asyncio.timeout(within):
            await bus.wait_idle()
        return
    assert bootstrap is not None, "a Kafka bus needs its broker's address"
    ends = await _end_offsets(bootstrap, topic)
    if not any(ends.values()):
        return  # nothing published: nothing to handle
    deadline = asyncio.get_running_loop().time() + within
    while True:
        committed = await _group_offsets(bootstrap, group, topic)
        if committed and all(
            all(offsets.get(p, 0) >= end for p, end in ends.items()) for offsets in committed
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{group} committed {committed} on {topic}, not {ends}")
        await asyncio.sleep(0.05)


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def _group_offsets(bootstrap: str, group: str, topic: str) -> list[dict[int, int]]:
    """The committed offsets on `topic` of each Kafka group named `group` or `group.<...>`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [
            name
            for name, *_ in await admin.list_consumer_groups()
            if name == group or name.startswith(group + ".")
        ]
        found = [await admin.list_consumer_group_offsets(name) for name in names]
    finally:
        await admin.close()
    return [
        {tp.partition: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topic}
        for offsets in found
    ]
