"""Every replica knows every rule: the list read on start, then every change on the compacted
topic (each replica hears each one), in order, whatever arrived while the list was read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

from schemas.automation_messages import AutomationChanged
from schemas.automations import Automation
from schemas.states import StateType
from services.automations.engine import Evaluator
from services.automations.metrics import AutomationsMetrics
from services.automations.rules import RuleBook
from services.transport import Record
from tests.automations.conftest import cancel_on, deploy
from tests.automations.test_service import about
from tests.support.buses import BusKit


def stored(automation_id: UUID, name: str, *, enabled: bool = True) -> Automation:
    now = datetime.now(UTC)
    body = cancel_on("etl.batch.failed", name=name) | {"enabled": enabled}
    return Automation.model_validate(body | {"id": automation_id, "created": now, "updated": now})


def record(change: AutomationChanged) -> Record:
    return Record(
        "cancelbus.automations", 0, 0, change.key.encode(), change.model_dump_json().encode()
    )


class SlowList:
    """The state service's list, answered only once released (changes arrive meanwhile)."""

    def __init__(self, automations: list[Automation]) -> None:
        self.automations_ = automations
        self.released = asyncio.Event()

    async def automations(self) -> list[Automation]:
        await self.released.wait()
        return self.automations_

    async def aclose(self) -> None:
        return None


async def test_changes_heard_while_the_list_is_read_win_over_it() -> None:
    kept, renamed, deleted, created = uuid4(), uuid4(), uuid4(), uuid4()
    source = SlowList([stored(kept, "kept"), stored(renamed, "old"), stored(deleted, "gone")])
    evaluator = Evaluator()
    rules = RuleBook(evaluator, source, AutomationsMetrics())
    loading = asyncio.create_task(rules.load())
    for change in (
        AutomationChanged(automation_id=renamed, automation=stored(renamed, "new")),
        AutomationChanged(automation_id=deleted, automation=None),
        AutomationChanged(automation_id=created, automation=stored(created, "created")),
    ):
        await rules.on_change(record(change))
    assert not rules.ready.is_set()  # events wait until the list is in
    source.released.set()
    await loading

    assert rules.ready.is_set()
    names = {
        i: (a.name if (a := evaluator.automation(i)) else None)
        for i in (kept, renamed, deleted, created)
    }
    assert names == {kept: "kept", renamed: "new", deleted: None, created: "created"}
    assert len(rules) == 3


async def test_a_paused_rule_stops_firing_on_every_replica(
    bus_kit: BusKit, database_url: str
) -> None:
    async with deploy(bus_kit, database_url, replicas=2) as live:
        automation_id = await live.automation(cancel_on("etl.batch.failed"))
        answer = await live.api.patch(f"/automations/{automation_id}", json={"enabled": False})
        assert answer.status_code == 204, answer.text
        await live.until(
            lambda: all(
                r.service.evaluator.automation(automation_id) is None for r in live.replicas
            ),
            "every replica paused it",
        )
        spared = await live.running_run()
        await live.publish(about(spared, "etl.batch.failed"))

        await live.api.patch(f"/automations/{automation_id}", json={"enabled": True})
        await live.until(
            lambda: all(r.service.evaluator.automation(automation_id) for r in live.replicas),
            "every replica resumed it",
        )
        doomed = await live.running_run()
        await live.publish(about(doomed, "etl.batch.failed"))
        await live.state.wait_state(doomed.id, StateType.CANCELLED)
        assert await live.commands(spared.id) == []
