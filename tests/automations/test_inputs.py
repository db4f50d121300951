"""What the service does with what it reads: a bad event is dead-lettered with its reason,
a worker's heartbeat is not for it, and a publish that fails is retried until it is out."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

import pytest

from schemas.automation_messages import BucketEvent
from schemas.events import RESOURCE_ID, Event
from schemas.messages import CancelFlowRun, WorkerHeartbeat
from schemas.topics import Topics
from services.automations.engine import Route
from services.automations.inputs import read_input, rekeyed
from services.automations.metrics import AutomationsMetrics
from services.automations.publishing import Outgoing
from services.transport import InvalidMessage, Record
from services.transport.dispatch import dead_letter_reason
from services.transport.memory import InMemoryBus
from tests.automations.conftest import cancel_on, deploy
from tests.support.buses import BusKit


def on(topic: str, value: bytes) -> Record:
    return Record(topic, 0, 0, b"k", value)


def test_a_bad_event_is_refused_with_its_reason_and_a_heartbeat_skipped() -> None:
    with pytest.raises(InvalidMessage, match="resource"):
        read_input(on(Topics.EVENTS, b'{"event": "x", "resource": {}}'))
    with pytest.raises(InvalidMessage):
        read_input(on(Topics.STATE_CHANGES, b"not json"))
    heartbeat = WorkerHeartbeat(
        worker="w", kind="process", scope="host", version="1", interval_seconds=5
    )
    assert read_input(on(Topics.EVENTS, heartbeat.model_dump_json().encode())) is None


def test_a_rekeyed_event_comes_back_with_its_route() -> None:
    event = Event(event="etl.retry", resource={RESOURCE_ID: "prefect.flow-run.x"})
    route = Route(event.id, event.id, ("prefect.deployment.d",), "a:b:prefect.deployment.d")
    message = rekeyed(route, event)
    assert isinstance(message, BucketEvent)
    assert message.key == route.key
    back = read_input(on(Topics.AUTOMATION_BUCKETS, message.model_dump_json().encode()))
    assert back is not None
    assert (back.route, back.event) == (route, event)


async def test_bad_events_reach_the_dead_letters_with_a_reason(
    bus_kit: BusKit, database_url: str
) -> None:
    async with deploy(bus_kit, database_url) as live:
        await live.automation(cancel_on("etl.batch.failed"))
        await live.state.bus.publish(Topics.EVENTS, "bad", b'{"event": "x", "resource": {}}')
        dead = await live.state.records(
            Topics.DEAD_LETTERS, until=lambda rs: any(r.key == b"bad" for r in rs)
        )
        (entry,) = [r for r in dead if r.key == b"bad"]
        reason = dead_letter_reason(entry.headers)
        assert reason is not None
        assert "invalid Event" in reason
        assert "prefect.resource.id" in reason


class FailingTwice(InMemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 2

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        await super().publish_many(messages)


async def test_a_failed_publish_is_retried_until_it_is_out() -> None:
    bus = FailingTwice()
    await bus.start()
    metrics = AutomationsMetrics()
    outgoing = Outgoing(bus, metrics, retry_base=0.001, retry_ceiling=0.01)
    command = CancelFlowRun(flow_run_id=uuid4())
    await outgoing.publish([command])
    assert [r.value for r in bus.messages(Topics.COMMANDS)] == [command.model_dump_json().encode()]
    assert metrics.registry.get_sample_value("cancelbus_automations_publish_failures_total") == 2
    await bus.stop()
