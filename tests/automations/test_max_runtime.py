"""Max runtime on the service, on both buses: a run still RUNNING at its limit is cancelled at
the limit (never before, within a second after); a run that finished in time is never touched
(the false firings of Prefect #8217 / #14692)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.states import StateType
from tests.automations.conftest import Deployment, deploy
from tests.support.buses import BusKit

LATE_AT_MOST = 1.0  # the bound; the proactive loop wakes at the deadline itself
TERMINAL = [
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelling",
    "prefect.flow-run.Cancelled",
]


def max_runtime_rule(seconds: float) -> dict[str, object]:
    """Runs tagged `etl` may stay RUNNING at most `seconds` (Prefect's proactive shape)."""
    return {
        "name": "etl runs at most",
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {
                "prefect.resource.role": "tag",
                "prefect.resource.id": "prefect.tag.etl",
            },
            "after": ["prefect.flow-run.Running"],
            "expect": TERMINAL,
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": seconds,
        },
        "actions": [{"type": "cancel-flow-run"}],
    }


async def ran_for(live: Deployment, run_id: UUID) -> float:
    """Seconds from the run's RUNNING state to its CANCELLED one."""
    cancelled = await live.state.wait_state(run_id, StateType.CANCELLED, within=60)
    states = (await live.api.get(f"/flow_runs/{run_id}/states")).json()
    times = {s["type"]: datetime.fromisoformat(s["timestamp"]) for s in states}
    assert cancelled.state is not None
    return (cancelled.state.timestamp - times["RUNNING"]).total_seconds()


async def test_a_rule_cancels_a_run_at_its_limit_and_spares_one_that_finished(
    bus_kit: BusKit, database_url: str
) -> None:
    async with deploy(bus_kit, database_url) as live:
        limit = 10.0  # Prefect's shortest proactive window
        await live.automation(max_runtime_rule(limit))
        stuck = await live.running_run(tags=["etl"])
        quick = await live.running_run(tags=["etl"])
        answer = await live.api.post(
            f"/flow_runs/{quick.id}/set_state", json={"state": {"type": "COMPLETED"}}
        )
        assert answer.status_code in (200, 201), answer.text

        took = await ran_for(live, stuck.id)
        assert limit <= took <= limit + LATE_AT_MOST, took
        assert await live.commands(quick.id) == []
        done = await live.state.runtime.service.read_flow_run(quick.id)
        assert done.state_type is StateType.COMPLETED


async def test_a_runs_own_max_runtime_tag_limits_it(bus_kit: BusKit, database_url: str) -> None:
    async with deploy(bus_kit, database_url) as live:
        stuck = await live.running_run(tags=["cancelbus.max-runtime=2"])
        quick = await live.running_run(tags=["cancelbus.max-runtime=2"])
        await live.api.post(
            f"/flow_runs/{quick.id}/set_state", json={"state": {"type": "COMPLETED"}}
        )

        took = await ran_for(live, stuck.id)
        assert 2.0 <= took <= 2.0 + LATE_AT_MOST, took
        (command,) = await live.commands(stuck.id, at_least=1)
        assert command.requested_by is not None
        assert command.requested_by.startswith("automation:")
        assert await live.commands(quick.id) == []
