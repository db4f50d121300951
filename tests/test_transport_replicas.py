"""What a service with replicas needs of both buses: every replica reads a broadcast topic
whole, a capped subscription commits no further than its cap (so the next owner replays from
there), and one group's topics are co-partitioned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from services.transport import Bus, Record
from services.transport.memory import InMemoryBus
from tests.support.buses import FAST_RETRY, BusKit, KafkaKit
from tests.support.settled import committed_offset
from tests.test_transport import Collector
from tests.test_transport_concurrent import Buses, unique

WAIT = 60.0


class Replicas(Buses):
    """In memory one bus plays every replica (as in `cancelbus dev`); on Kafka one bus each."""

    def __init__(self, bootstrap: str | None) -> None:
        super().__init__(bootstrap, client_id="test-replicas")
        self._shared: InMemoryBus | None = None

    def new(self, graceful_timeout: float = 2.0) -> Bus:
        if self.bootstrap is not None:
            return super().new(graceful_timeout)
        if self._shared is None:
            self._shared = InMemoryBus(retry=FAST_RETRY, partitions=3)
            self.made.append(self._shared)
        return self._shared

    async def start(self) -> None:
        for bus in self.made:
            await bus.start()


@pytest.fixture
async def buses(bus_kit: BusKit) -> AsyncIterator[Replicas]:
    made = Replicas(bus_kit.bootstrap if isinstance(bus_kit, KafkaKit) else None)
    yield made
    await asyncio.gather(*(bus.stop() for bus in made.made))


async def test_every_replica_reads_the_whole_broadcast_topic_in_key_order(buses: Replicas) -> None:
    topic = unique("rules")
    replicas = [Collector(), Collector()]
    for collector in replicas:
        buses.new().subscribe_broadcast([topic], "rules-reader", collector)
    await buses.start()
    publisher = buses.made[0]
    sent = [(f"rule-{i % 5}", f"v{i}") for i in range(30)]
    for key, value in sent:
        await publisher.publish(topic, key, value.encode())

    for collector in replicas:
        got = await collector.wait_for(len(sent))
        assert len(got) == len(sent)  # each replica got all of them, not a share
        for key in {k for k, _ in sent}:
            mine = [r.value.decode() for r in got if r.key == key.encode()]
            assert mine == [v for k, v in sent if k == key]


@pytest.mark.kafka  # in memory nothing is published before a bus starts
async def test_broadcast_starts_at_the_end_unless_asked_for_the_beginning(
    kafka_bootstrap: str,
) -> None:
    buses = Replicas(kafka_bootstrap)
    topic = unique("rules")
    try:
        early = buses.new()
        early.subscribe_broadcast([topic], "seed", Collector())
        await early.start()
        await early.publish(topic, "a", b"before")

        later = buses.new()
        from_end, from_start = Collector(), Collector()
        later.subscribe_broadcast([topic], "tail", from_end)
        later.subscribe_broadcast([topic], "whole", from_start, from_beginning=True)
        await later.start()
        await early.publish(topic, "a", b"after")

        assert [r.value for r in await from_start.wait_for(2)] == [b"before", b"after"]
        assert [r.value for r in await from_end.wait_for(1)] == [b"after"]
    finally:
        await asyncio.gather(*(b.stop() for b in buses.made))


class Held(Collector):
    """A batch handler and the commit cap of a subscriber that holds records back."""

    def __init__(self, hold: int | None = None) -> None:
        super().__init__()
        self.hold = hold  # the oldest offset still needed, on every partition

    async def handle(self, records: Sequence[Record]) -> None:
        for record in records:
            await self(record)

    def cap(self, topic: str, partition: int) -> int | None:
        return self.hold


async def committed(bus: Bus, group: str, topic: str, partition: int, bootstrap: str | None) -> int:
    if isinstance(bus, InMemoryBus):
        return bus.committed(group, topic, partition)
    assert bootstrap is not None
    return await committed_offset(bootstrap, group, topic, partition) or 0


async def wait_committed(
    bus: Bus, group: str, topic: str, partition: int, bootstrap: str | None, expected: int
) -> None:
    async with asyncio.timeout(WAIT):
        while await committed(bus, group, topic, partition, bootstrap) != expected:  # noqa: ASYNC110 - a broker's offsets have no event
            await asyncio.sleep(0.05)


async def test_a_capped_subscription_reads_on_but_commits_only_up_to_its_cap(
    buses: Replicas,
) -> None:
    topic, group = unique("inputs"), unique("windows")
    held = Held(hold=1)  # record 1 opens a window that stays open
    bus = buses.new()
    bus.subscribe_batch([topic], group, held.handle, commit_cap=held.cap)
    await buses.start()
    for i in range(8):
        await bus.publish(topic, "one-key", f"r{i}".encode())
    records = await held.wait_for(8)  # reading went on past the held record
    partition = records[0].partition
    await wait_committed(bus, group, topic, partition, buses.bootstrap, 1)

    held.hold = None  # the window closed: no new record is needed to commit the rest
    await wait_committed(bus, group, topic, partition, buses.bootstrap, 8)


@pytest.mark.kafka
async def test_the_next_owner_replays_from_the_held_record(kafka_bootstrap: str) -> None:
    buses = Replicas(kafka_bootstrap)
    topic, group = unique("inputs"), unique("windows")
    first, second = Held(hold=2), Held()
    try:
        bus = buses.new()
        bus.subscribe_batch([topic], group, first.handle, commit_cap=first.cap)
        await bus.start()
        for i in range(6):
            await bus.publish(topic, "one-key", f"r{i}".encode())
        await bus.publish(topic, "one-key", b"r6")
        partition = (await first.wait_for(7))[0].partition
        await wait_committed(bus, group, topic, partition, kafka_bootstrap, 2)
        await bus.stop()
        buses.made.remove(bus)

        successor = buses.new()
        successor.subscribe_batch([topic], group, second.handle, commit_cap=second.cap)
        await successor.start()
        replayed = await second.wait_for(5)
        assert [r.value for r in replayed] == [f"r{i}".encode() for i in range(2, 7)]
    finally:
        await asyncio.gather(*(b.stop() for b in buses.made))


async def test_partition_p_of_each_topic_of_a_group_goes_to_one_member(buses: Replicas) -> None:
    topics = (unique("a"), unique("b"))
    group = unique("together")
    owners: list[dict[str, set[int]]] = []
    members = [buses.new() for _ in range(2)]
    for bus in members:
        owned: dict[str, set[int]] = {}
        owners.append(owned)

        async def on_assigned(assignment: object, owned: dict[str, set[int]] = owned) -> None:
            owned[assignment.topic] = set(assignment.partitions)  # type: ignore[attr-defined]

        async def ignore(records: Sequence[Record]) -> None:
            return None

        bus.subscribe_batch(list(topics), group, ignore, on_assigned=on_assigned)
    await buses.start()

    async with asyncio.timeout(WAIT):
        while True:
            split = [o for o in owners if o]
            every = set().union(*(o.get(topics[0], set()) for o in owners))
            # each member learns its topics' partitions one topic at a time: wait for both
            together = all(o.get(topics[0]) == o.get(topics[1]) for o in owners)
            if len(split) == 2 and every == {0, 1, 2} and together:
                break
            await asyncio.sleep(0.05)
    for owned in owners:
        assert owned.get(topics[0], set()) == owned.get(topics[1], set())
