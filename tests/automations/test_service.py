"""The automations service against a real state service, on the in-process bus and on Kafka:
rules fire on producers' events and on state changes, count within windows (buckets keyed by
something other than the run counted by one replica), and an event delivered twice acts once."""

from __future__ import annotations

from uuid import UUID, uuid4

from schemas.events import RESOURCE_ID, RESOURCE_ROLE, Event
from schemas.flow_runs import FlowRun
from schemas.states import StateType
from schemas.topics import Topics
from tests.automations.conftest import cancel_on, deploy
from tests.support.buses import BusKit, KafkaKit
from tests.support.settled import wait_settled


def about(run: FlowRun, name: str, *related: dict[str, str], **fields: object) -> Event:
    return Event(
        event=name,
        resource={RESOURCE_ID: f"prefect.flow-run.{run.id}", "prefect.resource.name": run.name},
        related=list(related),
        **fields,
    )


def deployment(deployment_id: UUID) -> dict[str, str]:
    return {RESOURCE_ID: f"prefect.deployment.{deployment_id}", RESOURCE_ROLE: "deployment"}


async def test_a_producers_event_cancels_the_run_it_names(
    bus_kit: BusKit, database_url: str
) -> None:
    async with deploy(bus_kit, database_url) as live:
        automation_id = await live.automation(cancel_on("etl.batch.failed"))
        doomed, spared = await live.running_run(), await live.running_run()

        await live.publish(about(doomed, "etl.batch.failed", payload={"rows": 12}))
        await live.publish(about(spared, "etl.batch.succeeded"))

        cancelled = await live.state.wait_state(doomed.id, StateType.CANCELLED)
        assert cancelled.state is not None
        (command,) = await live.commands(doomed.id, at_least=1)
        assert command.requested_by == f"automation:{automation_id}"
        assert command.reason == f"Cancelled by Automation {automation_id}"
        assert command.firing is not None
        assert command.firing.automation_id == automation_id
        assert await live.commands(spared.id) == []
        still = await live.state.runtime.service.read_flow_run(spared.id)
        assert still.state_type is StateType.RUNNING


async def test_a_threshold_over_a_deployments_runs_fires_once_it_is_reached(
    bus_kit: BusKit, database_url: str
) -> None:
    """Three retries of one deployment's runs within a minute: the third run is cancelled.
    The runs' events land on different partitions; the bucket (the deployment) is counted
    in one place, re-keyed through cancelbus.automation-buckets."""
    async with deploy(bus_kit, database_url, replicas=2) as live:
        rule = cancel_on(
            "etl.retry",
            name="too many retries",
            for_each=["related:deployment:prefect.resource.id"],
            threshold=3,
            within=60,
        )
        await live.automation(rule)
        keys = [f"key-{i}" for i in range(30)]

        def shared() -> bool:
            """Each key counted by exactly one replica, and both replicas count some."""
            owners = [[r.service.owns(k) for r in live.replicas] for k in keys]
            return all(sum(o) == 1 for o in owners) and all(
                any(col) for col in zip(*owners, strict=True)
            )

        await live.until(shared, "the replicas share the partitions")
        # two runs whose events reach one replica, the third one's the other replica
        first: list[FlowRun] = []
        second: list[FlowRun] = []
        while len(first) < 2 or not second:
            run = await live.running_run()
            (first if live.replicas[0].service.owns(str(run.id)) else second).append(run)
        runs = [*first[:2], second[0]]
        dep = uuid4()
        for run in runs[:2]:
            await live.publish(about(run, "etl.retry", deployment(dep)))
        other = await live.running_run()
        await live.publish(about(other, "etl.retry", deployment(uuid4())))  # another bucket
        # events of different partitions reach the bucket in no set order: the third run is
        # the one that reaches the threshold only once the first two were re-keyed before it
        bootstrap = bus_kit.bootstrap if isinstance(bus_kit, KafkaKit) else None
        prefix = bus_kit.prefix if isinstance(bus_kit, KafkaKit) else ""
        for replica in live.replicas:
            await wait_settled(
                replica.bus,
                prefix + "cancelbus.automations",
                prefix + Topics.EVENTS,
                bootstrap=bootstrap,
            )
        await live.publish(about(runs[2], "etl.retry", deployment(dep)))

        await live.state.wait_state(runs[2].id, StateType.CANCELLED)
        for run in [*runs[:2], other]:
            assert await live.commands(run.id) == []
        assert [len(await live.commands(r.id)) for r in runs] == [0, 0, 1]


async def test_the_same_event_delivered_twice_sends_one_command(
    bus_kit: BusKit, database_url: str
) -> None:
    async with deploy(bus_kit, database_url) as live:
        await live.automation(cancel_on("etl.batch.failed"))
        run = await live.running_run()
        event = about(run, "etl.batch.failed")
        await live.publish(event)
        await live.publish(event)

        await live.state.wait_state(run.id, StateType.CANCELLED)
        bootstrap = bus_kit.bootstrap if isinstance(bus_kit, KafkaKit) else None
        prefix = bus_kit.prefix if isinstance(bus_kit, KafkaKit) else ""
        for replica in live.replicas:
            await wait_settled(
                replica.bus,
                prefix + "cancelbus.automations",
                prefix + Topics.EVENTS,
                bootstrap=bootstrap,
            )
        assert len(await live.commands(run.id, at_least=1)) == 1


async def test_a_state_change_is_an_event_rules_match(bus_kit: BusKit, database_url: str) -> None:
    async with deploy(bus_kit, database_url) as live:
        tag = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.forbidden"}
        rule = cancel_on("prefect.flow-run.Running", match_related=tag)
        automation_id = await live.automation(rule)
        allowed = await live.running_run(tags=["nightly"])
        forbidden = await live.running_run(tags=["nightly", "forbidden"])

        await live.state.wait_state(forbidden.id, StateType.CANCELLED)
        (command,) = await live.commands(forbidden.id, at_least=1)
        assert command.requested_by == f"automation:{automation_id}"
        assert await live.commands(allowed.id) == []
