"""A standing Proactive rule ("at least one heartbeat every 10 s", no `after`, no `for_each`)
is watched from when it is loaded by the one replica owning its key, and fires when a window
passes in silence: once, whichever replicas run."""

from __future__ import annotations

from collections import Counter

from schemas.automation_messages import AutomationActionFailed
from schemas.topics import Topics
from services.transport import Record
from tests.automations.conftest import WITHIN, deploy
from tests.support.buses import BusKit


async def test_a_silent_window_fires_once_on_one_replica(
    bus_kit: BusKit, database_url: str
) -> None:
    rule = {
        "name": "etl heartbeats",
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "expect": ["etl.heartbeat"],
            "threshold": 1,
            "within": 10,
        },
        "actions": [{"type": "cancel-flow-run"}],
    }
    async with deploy(bus_kit, database_url, replicas=2) as live:
        automation_id = await live.automation(rule)
        key = str(automation_id).encode()

        def failures(records: list[Record]) -> list[AutomationActionFailed]:
            return [
                AutomationActionFailed.model_validate_json(r.value) for r in records if r.key == key
            ]

        records = await live.kit.read(
            Topics.COMMANDS, until=lambda rs: bool(failures(rs)), within=WITHIN
        )
        (first, *_) = failures(records)
        # no run to cancel: the action is recorded as failed, with Prefect's reason
        assert "No flow run could be inferred" in first.reason
        per_firing = Counter(f.firing.firing_id for f in failures(records))
        assert per_firing[first.firing.firing_id] == 1
