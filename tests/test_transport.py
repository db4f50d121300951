"""The transport contract, written once and run on the in-memory bus and on a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from services.transport import Bus, InvalidMessage, Record
from services.transport.dispatch import (
    MAX_DEAD_LETTER_VALUE,
    Dispatcher,
    RawPublish,
    RetryPolicy,
    dead_letter_reason,
    parse_dead_letter,
)
from services.transport.factory import make_bus
from services.transport.kafka import KafkaBus
from services.transport.memory import InMemoryBus
from services.transport.partitioner import kafka_partition, partition_for
from services.transport.settings import BusSettings
from tests.support.buses import FAST_RETRY, BusKit, KafkaKit
from tests.support.settled import wait_settled

WAIT_SECONDS = 60.0


def unique_topic() -> str:
    return f"t.{uuid.uuid4().hex}"


class Collector:
    """A handler that keeps what it got and lets a test wait for a count."""

    def __init__(self, group: str = "") -> None:
        self.group = group  # the consumer group it reads in, when it matters
        self.records: list[Record] = []
        self._changed = asyncio.Event()

    async def __call__(self, record: Record) -> None:
        self.records.append(record)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Record]:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.records) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.records


@dataclass
class Harness:
    """Makes buses of one kind that share a dead-letter topic, and stops them after the test."""

    kind: str
    bootstrap: str | None
    dead_letters: str = field(default_factory=unique_topic)
    buses: list[Bus] = field(default_factory=list)

    def new_bus(self, *, retry: RetryPolicy = FAST_RETRY, graceful_timeout: float = 5.0) -> Bus:
        bus: Bus
        if self.bootstrap is None:
            bus = InMemoryBus(
                dead_letter_topic=self.dead_letters, retry=retry, graceful_timeout=graceful_timeout
            )
        else:
            bus = KafkaBus(
                self.bootstrap,
                client_id=f"test-{self.kind}",
                dead_letter_topic=self.dead_letters,
                retry=retry,
                topics=(),
                graceful_timeout=graceful_timeout,
            )
        self.buses.append(bus)
        return bus

    async def settled(self, bus: Bus, group: str, topic: str) -> None:
        """`group` handled and committed everything on `topic`: nothing of it comes again."""
        await wait_settled(bus, group, topic, bootstrap=self.bootstrap)

    def dead_letter_collector(self, bus: Bus) -> Collector:
        collector = Collector(group=f"dlq-reader-{uuid.uuid4().hex[:8]}")
        bus.subscribe([self.dead_letters], collector.group, collector)
        return collector


@pytest.fixture
async def harness(bus_kit: BusKit) -> AsyncIterator[Harness]:
    bootstrap = bus_kit.bootstrap if isinstance(bus_kit, KafkaKit) else None
    made = Harness(kind=bus_kit.name, bootstrap=bootstrap)
    yield made
    await asyncio.gather(*(bus.stop() for bus in made.buses))


@pytest.fixture
def bus(harness: Harness) -> Bus:
    return harness.new_bus()


async def test_per_key_order_holds_and_partitions_run_concurrently(bus: Bus) -> None:
    topic, keys, per_key = unique_topic(), [f"run-{i}" for i in range(12)], 20
    seen: dict[str, list[int]] = {key: [] for key in keys}
    partitions: dict[str, set[int]] = {key: set() for key in keys}
    other_partition_ran = asyncio.Event()
    first_partition: list[int] = []
    done = Collector()

    async def handler(record: Record) -> None:
        if not first_partition:
            first_partition.append(record.partition)
            # Blocks this partition; only another partition's handler can release it.
            try:
                await asyncio.wait_for(other_partition_ran.wait(), timeout=10)
            except TimeoutError:
                first_partition.append(-1)  # partitions ran one after another
        elif record.partition != first_partition[0]:
            other_partition_ran.set()
        key = (record.key or b"").decode()
        seen[key].append(int(record.value))
        partitions[key].add(record.partition)
        await done(record)

    bus.subscribe([topic], "ordered", handler)
    await bus.start()
    for n in range(per_key):
        for key in keys:
            await bus.publish(topic, key, str(n).encode())

    await done.wait_for(len(keys) * per_key)
    assert len(first_partition) == 1, "other partitions waited for the blocked one"
    assert all(order == list(range(per_key)) for order in seen.values()), seen
    assert all(len(p) == 1 for p in partitions.values()), partitions


async def test_each_group_sees_each_message_once(harness: Harness, bus: Bus) -> None:
    topic, count = unique_topic(), 30
    shared, other = Collector(), Collector()
    bus.subscribe([topic], "group-a", shared)
    bus.subscribe([topic], "group-a", shared)
    bus.subscribe([topic], "group-b", other)
    await bus.start()
    await bus.publish_many([(topic, f"run-{i}", f"{i}".encode(), ()) for i in range(count)])

    await other.wait_for(count)
    await shared.wait_for(count)
    await harness.settled(bus, "group-a", topic)
    await harness.settled(bus, "group-b", topic)

    group_a = Counter(r.value for r in shared.records)
    group_b = Counter(r.value for r in other.records)
    expected = Counter(f"{i}".encode() for i in range(count))
    assert group_a == expected
    assert group_b == expected


async def test_shared_group_splits_partitions_in_memory() -> None:
    bus = InMemoryBus(partitions=6)
    topic, first, second = unique_topic(), Collector(), Collector()
    bus.subscribe([topic], "g", first)
    bus.subscribe([topic], "g", second)
    await bus.start()
    try:
        for i in range(60):
            await bus.publish(topic, f"run-{i}", b"x")
        await bus.wait_idle()
        assert len(first.records) + len(second.records) == 60
        assert {r.partition for r in first.records}.isdisjoint(r.partition for r in second.records)
        assert first.records
        assert second.records
        assert len(bus.messages(topic)) == 60
    finally:
        await bus.stop()


async def test_invalid_message_is_dead_lettered_and_the_next_one_handled(
    harness: Harness, bus: Bus
) -> None:
    topic, calls, handled = unique_topic(), Counter[bytes](), Collector()

    async def handler(record: Record) -> None:
        calls[record.value] += 1
        if record.value == b"not json":
            raise InvalidMessage("bad JSON:\nexpected value at line 1")
        await handled(record)

    bus.subscribe([topic], "validating", handler)
    dead = harness.dead_letter_collector(bus)
    await bus.start()
    await bus.publish(topic, "run-1", b"not json", headers=[("trace", b"abc")])
    await bus.publish(topic, "run-1", b'{"ok": true}')

    [good] = await handled.wait_for(1)
    [entry] = await dead.wait_for(1)
    assert good.value == b'{"ok": true}'
    assert calls[b"not json"] == 1  # never retried
    assert entry.key == b"run-1"
    assert entry.value == b"not json"
    letter = parse_dead_letter(entry)
    assert letter.reason == "invalid message: bad JSON: expected value at line 1"
    assert dead_letter_reason(entry.headers) == letter.reason
    assert (letter.topic, letter.partition, letter.group) == (topic, good.partition, "validating")
    assert letter.offset == good.offset - 1
    assert letter.original_size == len(b"not json")
    assert ("trace", b"abc") in entry.headers


async def test_transient_error_is_retried_and_the_effect_happens_once(
    harness: Harness, bus: Bus
) -> None:
    topic, attempts, effects = unique_topic(), Counter[bytes](), Collector()

    async def flaky(record: Record) -> None:
        attempts[record.value] += 1
        if attempts[record.value] < 3:
            raise ConnectionError("database unavailable")
        await effects(record)

    bus.subscribe([topic], "flaky", flaky)
    dead = harness.dead_letter_collector(bus)
    await bus.start()
    await bus.publish(topic, "run-1", b"cancel")

    await effects.wait_for(1)
    await harness.settled(bus, "flaky", topic)
    await harness.settled(bus, dead.group, harness.dead_letters)
    assert [r.value for r in effects.records] == [b"cancel"]
    assert attempts[b"cancel"] == 3
    assert dead.records == []


async def test_permanent_failure_is_dead_lettered_after_the_attempts(
    harness: Harness, bus: Bus
) -> None:
    topic, attempts, handled = unique_topic(), Counter[bytes](), Collector()

    async def handler(record: Record) -> None:
        attempts[record.value] += 1
        if record.value == b"poison":
            raise RuntimeError("boom")
        await handled(record)

    bus.subscribe([topic], "failing", handler)
    dead = harness.dead_letter_collector(bus)
    await bus.start()
    await bus.publish(topic, "run-1", b"poison")
    await bus.publish(topic, "run-1", b"fine")

    [entry] = await dead.wait_for(1)
    await handled.wait_for(1)
    assert attempts[b"poison"] == FAST_RETRY.attempts
    assert dead_letter_reason(entry.headers) == "failed after 3 attempts: RuntimeError: boom"


async def test_ten_megabyte_message_reaches_the_handler_and_is_dead_lettered(
    harness: Harness, bus: Bus
) -> None:
    topic, size, sizes = unique_topic(), 10_000_000, Collector()

    async def handler(record: Record) -> None:
        await sizes(record)
        if len(record.value) > 1_000_000:
            raise InvalidMessage(f"message of {len(record.value)} bytes is too large")

    bus.subscribe([topic], "sizing", handler)
    dead = harness.dead_letter_collector(bus)
    await bus.start()
    await bus.publish(topic, "run-big", b"x" * size)

    [received] = await sizes.wait_for(1)
    [entry] = await dead.wait_for(1)
    assert len(received.value) == size
    assert len(entry.value) == MAX_DEAD_LETTER_VALUE
    assert parse_dead_letter(entry).original_size == size
    assert (
        dead_letter_reason(entry.headers)
        == f"invalid message: message of {size} bytes is too large"
    )


async def test_stop_lets_the_in_flight_handler_finish(harness: Harness) -> None:
    bus = harness.new_bus(graceful_timeout=5.0)
    topic, started, finished = unique_topic(), asyncio.Event(), Collector()

    async def slow(record: Record) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await finished(record)

    bus.subscribe([topic], "slow", slow)
    await bus.start()
    await bus.publish(topic, "run-1", b"work")
    await asyncio.wait_for(started.wait(), timeout=30)
    await bus.stop()
    assert len(finished.records) == 1


async def test_publish_before_start_is_refused(bus: Bus) -> None:
    with pytest.raises(RuntimeError):
        await bus.publish(unique_topic(), "run-1", b"early")


@pytest.mark.kafka
async def test_uncommitted_record_is_redelivered_to_the_next_consumer(
    kafka_bootstrap: str,
) -> None:
    harness = Harness(kind="kafka", bootstrap=kafka_bootstrap)
    topic, group, started = unique_topic(), f"g-{uuid.uuid4().hex[:8]}", asyncio.Event()
    try:
        first = harness.new_bus(graceful_timeout=0.2)

        async def never_finishes(record: Record) -> None:
            started.set()
            await asyncio.Event().wait()

        first.subscribe([topic], group, never_finishes)
        await first.start()
        await first.publish(topic, "run-1", b"kill it")
        await asyncio.wait_for(started.wait(), timeout=30)
        async with asyncio.timeout(10):
            await first.stop()  # the handler is cancelled: nothing is committed

        second, redelivered = harness.new_bus(), Collector()
        second.subscribe([topic], group, redelivered)
        await second.start()
        [record] = await redelivered.wait_for(1)
        assert (record.value, record.offset) == (b"kill it", 0)
    finally:
        await asyncio.gather(*(b.stop() for b in harness.buses))


@pytest.mark.kafka
async def test_committed_record_is_not_redelivered(kafka_bootstrap: str) -> None:
    harness = Harness(kind="kafka", bootstrap=kafka_bootstrap)
    topic, group = unique_topic(), f"g-{uuid.uuid4().hex[:8]}"
    try:
        first, got = harness.new_bus(), Collector()
        first.subscribe([topic], group, got)
        await first.start()
        await first.publish(topic, "run-1", b"one")
        await got.wait_for(1)
        await first.stop()

        second, later = harness.new_bus(), Collector()
        second.subscribe([topic], group, later)
        await second.start()
        await second.publish(topic, "run-1", b"two")
        [record] = await later.wait_for(1)
        assert record.value == b"two"
    finally:
        await asyncio.gather(*(b.stop() for b in harness.buses))


@pytest.mark.kafka
async def test_rebalance_lets_the_in_flight_record_finish_and_commit(kafka_bootstrap: str) -> None:
    harness = Harness(kind="kafka", bootstrap=kafka_bootstrap)
    topic, group, count = unique_topic(), f"g-{uuid.uuid4().hex[:8]}", 24
    started, handled = asyncio.Event(), Collector()

    async def slow(record: Record) -> None:
        await handled(record)
        if not started.is_set():
            started.set()
            # Effect done, handler still running when the group rebalances (heartbeats are 3 s).
            await asyncio.sleep(5.0)

    try:
        first = harness.new_bus(graceful_timeout=15.0)
        first.subscribe([topic], group, slow)
        await first.start()
        await first.publish_many([(topic, f"run-{i}", f"{i}".encode(), ()) for i in range(count)])
        await asyncio.wait_for(started.wait(), timeout=WAIT_SECONDS)

        second = harness.new_bus()
        second.subscribe([topic], group, handled)
        await second.start()
        await handled.wait_for(count)
        await harness.settled(second, group, topic)
        assert Counter(r.value for r in handled.records) == Counter(
            f"{i}".encode() for i in range(count)
        )
    finally:
        await asyncio.gather(*(b.stop() for b in harness.buses))


async def test_unreachable_broker_fails_fast() -> None:
    bus = KafkaBus("127.0.0.1:9", client_id="nowhere", request_timeout=1.0)
    async with asyncio.timeout(30):
        with pytest.raises(KafkaConnectionError):
            await bus.start()
    with pytest.raises(RuntimeError):
        await bus.publish("t", "k", b"v")


def test_make_bus_picks_the_transport() -> None:
    in_process = BusSettings(kafka_bootstrap_servers=None)
    assert isinstance(make_bus(in_process, client_id="dev"), InMemoryBus)
    kafka = BusSettings(kafka_bootstrap_servers="127.0.0.1:9092")
    assert isinstance(make_bus(kafka, client_id="prod"), KafkaBus)


# -- the error policy on its own ----------------------------------------------------------


def record(value: bytes = b"v") -> Record:
    return Record(topic="t", partition=2, offset=7, key=b"k", value=value)


def recording_publisher() -> tuple[list[tuple[str, bytes | None, bytes]], RawPublish]:
    published: list[tuple[str, bytes | None, bytes]] = []

    async def publish(
        topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        published.append((topic, key, value))

    return published, publish


async def test_cancellation_propagates_and_nothing_is_dead_lettered() -> None:
    published, publish = recording_publisher()
    dispatcher = Dispatcher(group="g", publish=publish, dead_letter_topic="dlq", retry=FAST_RETRY)

    async def cancelled(_: Record) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await dispatcher.run(record(), cancelled)
    assert published == []


async def test_dead_letter_publish_is_retried_until_it_succeeds() -> None:
    failures = [ConnectionError("broker down")] * 2
    published: list[bytes] = []

    async def publish(
        topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        if failures:
            raise failures.pop()
        published.append(value)

    async def invalid(_: Record) -> None:
        raise InvalidMessage("nope")

    dispatcher = Dispatcher(group="g", publish=publish, dead_letter_topic="dlq", retry=FAST_RETRY)
    await dispatcher.run(record(b"payload"), invalid)
    assert published == [b"payload"]


@given(
    attempts=st.integers(1, 10),
    base=st.floats(0, 5, allow_nan=False),
    cap=st.floats(0, 30, allow_nan=False),
)
def test_backoff_grows_and_is_capped(attempts: int, base: float, cap: float) -> None:
    policy = RetryPolicy(attempts=attempts, base_delay=base, max_delay=cap)
    delays = [policy.delay(n) for n in range(1, 40)]
    assert delays == sorted(delays)
    assert all(0 <= d <= cap for d in delays)
    assert delays[0] == min(base, cap)


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
def test_partitioner_matches_kafkas_default(key: bytes, partitions: int) -> None:
    expected = (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions
    assert kafka_partition(key, partitions) == expected
    assert partition_for(key, list(range(partitions)), []) == expected


async def test_publish_many_keeps_each_keys_order_and_partition(bus: Bus) -> None:
    """Several record batches per partition: order per key and key -> partition hold."""
    topic, keys, per_key = unique_topic(), [f"run-{k}" for k in range(7)], 300
    collector = Collector()
    bus.subscribe([topic], "ordered", collector)
    await bus.start()
    padding = b"." * 1000  # ~2 MB in all: more than one batch per partition
    await bus.publish_many(
        [(topic, key, f"{n}:".encode() + padding, ()) for n in range(per_key) for key in keys]
    )
    await bus.publish(topic, keys[0], f"{per_key}:".encode())  # the one-message path too

    await collector.wait_for(len(keys) * per_key + 1)
    order: dict[str, list[int]] = {key: [] for key in keys}
    partitions: dict[str, set[int]] = {key: set() for key in keys}
    for record in collector.records:
        key = (record.key or b"").decode()
        order[key].append(int(record.value.split(b":")[0]))
        partitions[key].add(record.partition)
    assert order[keys[0]] == list(range(per_key + 1))
    assert all(order[key] == list(range(per_key)) for key in keys[1:])
    assert all(len(p) == 1 for p in partitions.values()), partitions
