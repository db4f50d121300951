"""`subscribe_concurrent`: records run at once, commits never pass an unfinished record."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.transport import Bus, Record
from services.transport.kafka import KafkaBus
from services.transport.memory import InMemoryBus
from services.transport.offsets import PartitionOffsets
from tests.support.buses import FAST_RETRY, BusKit, KafkaKit
from tests.support.settled import committed_offset

WAIT = 60.0


def unique(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:12]}"


class Buses:
    def __init__(self, bootstrap: str | None, client_id: str = "test-concurrent") -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.made: list[Bus] = []

    def new(self, graceful_timeout: float = 5.0) -> Bus:
        bus: Bus
        if self.bootstrap is None:
            bus = InMemoryBus(retry=FAST_RETRY, graceful_timeout=graceful_timeout)
        else:
            bus = KafkaBus(
                self.bootstrap,
                client_id=self.client_id,
                retry=FAST_RETRY,
                topics=(),
                partitions=3,
                graceful_timeout=graceful_timeout,
            )
        self.made.append(bus)
        return bus


@pytest.fixture
async def buses(bus_kit: BusKit) -> AsyncIterator[Buses]:
    made = Buses(bus_kit.bootstrap if isinstance(bus_kit, KafkaKit) else None)
    yield made
    await asyncio.gather(*(bus.stop() for bus in made.made))


class Gate:
    """A handler that holds the records named in `held` until released."""

    def __init__(self, held: set[bytes]) -> None:
        self.held = held
        self.release = asyncio.Event()
        self.started: list[bytes] = []
        self.partitions: list[int] = []
        self.finished: list[bytes] = []
        self.changed = asyncio.Event()

    async def __call__(self, record: Record) -> None:
        self.started.append(record.value)
        self.partitions.append(record.partition)
        self._signal()
        if record.value in self.held:
            await self.release.wait()
        self.finished.append(record.value)
        self._signal()

    def _signal(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait(self, finished: set[bytes]) -> None:
        async with asyncio.timeout(WAIT):
            while not finished <= set(self.finished):
                await self.changed.wait()


async def test_a_slow_record_does_not_hold_back_the_next_of_its_partition(buses: Buses) -> None:
    topic, gate = unique("slow"), Gate(held={b"slow"})
    bus = buses.new()
    bus.subscribe_concurrent([topic], unique("g"), gate, max_in_flight=10)
    await bus.start()
    await bus.publish(topic, "run-1", b"slow")
    await bus.publish(topic, "run-1", b"fast")

    await gate.wait({b"fast"})
    assert gate.finished == [b"fast"]
    gate.release.set()
    await gate.wait({b"slow", b"fast"})


async def test_commits_never_pass_an_unfinished_record(buses: Buses) -> None:
    topic, group, gate = unique("commit"), unique("g"), Gate(held={b"first"})
    bus = buses.new()
    bus.subscribe_concurrent([topic], group, gate, max_in_flight=10)
    await bus.start()
    for value in (b"first", b"second", b"third"):
        await bus.publish(topic, "run-1", value)
    await gate.wait({b"second", b"third"})
    await asyncio.sleep(0.5)  # room for a wrong commit to land

    if isinstance(bus, InMemoryBus):
        assert bus.lag() == 3
        gate.release.set()
        await bus.wait_idle()
        assert bus.lag() == 0
        return
    assert buses.bootstrap is not None
    partition = gate.partitions[0]
    # "first" is offset 0 of a new topic: nothing beyond it may be committed yet
    assert await committed_offset(buses.bootstrap, group, topic, partition) in (None, 0)
    gate.release.set()
    await gate.wait({b"first"})
    for _ in range(int(WAIT * 10)):
        if await committed_offset(buses.bootstrap, group, topic, partition) == 3:
            break
        await asyncio.sleep(0.1)
    assert await committed_offset(buses.bootstrap, group, topic, partition) == 3


@pytest.mark.kafka
async def test_a_stopped_members_unfinished_records_go_to_another_member(
    kafka_bootstrap: str,
) -> None:
    buses = Buses(kafka_bootstrap)
    topic, group = unique("handover"), unique("g")
    first = Gate(held={b"stuck"})
    bus_a = buses.new(graceful_timeout=0.5)
    bus_a.subscribe_concurrent([topic], group, first, max_in_flight=10)
    try:
        await bus_a.start()
        await bus_a.publish(topic, "run-1", b"stuck")
        await bus_a.publish(topic, "run-1", b"done")
        await first.wait({b"done"})
        await bus_a.stop()  # "stuck" is cancelled after the graceful timeout, not committed
        assert first.finished == [b"done"]

        second = Gate(held=set())
        bus_b = buses.new()
        bus_b.subscribe_concurrent([topic], group, second, max_in_flight=10)
        await bus_b.start()
        await second.wait({b"stuck"})
        assert second.started[0] == b"stuck"
    finally:
        await asyncio.gather(*(bus.stop() for bus in buses.made))


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_the_commit_point_is_the_oldest_unfinished_offset(
    finishes: list[bool], rnd: random.Random
) -> None:
    offsets, base = PartitionOffsets(), 100
    for i in range(len(finishes)):
        offsets.start(base + i)
    order = [base + i for i, done in enumerate(finishes) if done]
    rnd.shuffle(order)
    for offset in order:
        offsets.finish(offset)
    unfinished = [base + i for i, done in enumerate(finishes) if not done]
    expected = min(unfinished) if unfinished else base + len(finishes)
    assert offsets.commit_point() == expected
    assert offsets.in_flight == len(unfinished)
