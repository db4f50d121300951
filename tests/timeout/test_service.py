"""One round of the deadline loop, as a loop service is tested: `start(loops=1)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from schemas.messages import CancellationTimedOut
from schemas.topics import Topics
from services.timeout.deadlines import Cancelling, DeadlineSchedule
from services.timeout.metrics import TimeoutMetrics
from services.timeout.service import TimeoutService
from services.transport.memory import InMemoryBus


class NoRuns:
    async def cancelling_runs(self) -> list[Cancelling]:
        return []

    async def aclose(self) -> None:
        return None


def service_on(bus: InMemoryBus) -> TimeoutService:
    return TimeoutService(DeadlineSchedule(60.0), bus, NoRuns(), TimeoutMetrics())


async def test_one_round_forces_what_is_due_and_keeps_the_rest() -> None:
    bus = InMemoryBus()
    await bus.start()
    service = service_on(bus)
    now = datetime.now(UTC)
    overdue = Cancelling(uuid4(), uuid4(), now - timedelta(seconds=61))
    pending = Cancelling(uuid4(), uuid4(), now)
    service.schedule.set(overdue)
    service.schedule.set(pending)

    await service.start(loops=1)

    [record] = bus.messages(Topics.TIMED_OUT)
    event = CancellationTimedOut.model_validate_json(record.value)
    assert (event.flow_run_id, event.state_id) == (overdue.run_id, overdue.state_id)
    assert event.cancelling_since == overdue.since
    assert event.timeout_seconds == 60.0
    assert record.key == str(overdue.run_id).encode()
    assert list(service.schedule) == [pending]
    await bus.stop()


async def test_a_deadline_is_kept_when_the_bus_cannot_take_the_event() -> None:
    bus = InMemoryBus()  # never started: publishing fails
    service = service_on(bus)
    overdue = Cancelling(uuid4(), uuid4(), datetime.now(UTC) - timedelta(seconds=120))
    service.schedule.set(overdue)

    assert await service.run_once() == 0

    assert list(service.schedule) == [overdue], "retried on the next round"
