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
