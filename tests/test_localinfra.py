"""The real local servers: Kafka carries a message (also across a restart), PostgreSQL answers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.localinfra import KafkaBroker


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume_one(bootstrap: str, topic: str) -> tuple[bytes | None, bytes | None]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        return record.key, record.value
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_a_message_goes_through_the_broker(kafka_bootstrap: str) -> None:
    topic = f"test.localinfra.{uuid.uuid4().hex}"
    await _create_topic(kafka_bootstrap, topic)

    await _produce(kafka_bootstrap, topic, b"run-1", b"hello")

    assert await _consume_one(kafka_bootstrap, topic) == (b"run-1", b"hello")


@pytest.mark.kafka
async def test_a_message_survives_a_broker_restart(tmp_path: Path) -> None:
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    try:
        await asyncio.to_thread(broker.start)
        bootstrap = broker.bootstrap_servers
        await _create_topic(bootstrap, "test.restart")
        await _produce(bootstrap, "test.restart", b"run-2", b"kept")

        await asyncio.to_thread(broker.stop)
        assert not broker.running
        await asyncio.to_thread(broker.start)

        assert broker.bootstrap_servers == bootstrap
        assert await _consume_one(bootstrap, "test.restart") == (b"run-2", b"kept")
    finally:
        await asyncio.to_thread(broker.close)
    assert (tmp_path / "kafka" / "server.properties").is_file(), "a given data dir is kept"


@pytest.mark.kafka
async def test_a_cluster_id_starting_with_a_dash_still_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one fresh data dir in 64 got such an id, and the storage tool read it as an option
    dashed = uuid.UUID(bytes=b"\xf8" + uuid.uuid4().bytes[1:])
    monkeypatch.setattr(uuid, "uuid4", lambda: dashed)  # the module the broker's start uses
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    try:
        meta = (tmp_path / "kafka" / "kraft" / "meta.properties").read_text()
        assert "cluster.id=-" in meta
        topic = f"test.localinfra.{uuid.uuid4().hex}"
        await _create_topic(broker.bootstrap_servers, topic)
        await _produce(broker.bootstrap_servers, topic, b"run-1", b"formatted")
        assert await _consume_one(broker.bootstrap_servers, topic) == (b"run-1", b"formatted")
    finally:
        await asyncio.to_thread(broker.close)


@pytest.mark.postgres
async def test_postgres_answers_in_a_fresh_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("select 1") == 1
        tables = await connection.fetchval(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        )
        assert tables == 0
    finally:
        await connection.close()
