"""The state service's own work per run, without Kafka or HTTP: where `state_bench` spends it.

In one process: N running runs; one bulk cancellation; the outbox relay publishes to a bus
that only keeps what it is given; every request is answered `cancelled` (in batches of 500,
as the results consumer applies them); the relay publishes the CANCELLED events. Prints the
seconds of each step and the total per run.

    .venv/bin/python -m bench.state_db_bench [--db sqlite|postgres|both] [--runs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.databases import bench_database
from bench.flow_runs import cancelled
from schemas.flow_runs import BulkCancel, FlowRunCreate, FlowRunFilterCriteria, StateCreate
from schemas.messages import CancellationResult
from schemas.states import StateType
from schemas.topics import Topics
from services.state.db.engine import Database, migrate
from services.state.metrics import StateMetrics
from services.state.outbox import OutboxRelay
from services.state.service import StateService
from services.state.settings import OrchestrationSettings

RESULTS_BATCH = 500


class KeepingBus:
    """Stands in for the bus: keeps what the relay publishes."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, bytes]] = []

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        self.published.extend((topic, key, value) for topic, key, value, _ in messages)


async def _relay_all(relay: OutboxRelay) -> None:
    while await relay.publish_due():
        pass


def _answers(published: list[tuple[str, str, bytes]]) -> list[CancellationResult]:
    return [
        cancelled(value, "bench")
        for topic, _, value in published
        if topic == Topics.CANCEL_REQUESTED
    ]


async def run_one(url: str, runs: int) -> dict[str, float]:
    database = Database(url)
    await migrate(database)
    bus = KeepingBus()
    service = StateService(database, OrchestrationSettings(), StateMetrics())
    relay = OutboxRelay(database, bus, StateMetrics())  # type: ignore[arg-type]
    try:
        for i in range(runs):
            await service.create_flow_run(
                FlowRunCreate(
                    name=f"bench-{i}",
                    tags=["bulk"],
                    infrastructure_pid=f"benchhost:{10000 + i}",
                    state=StateCreate(type=StateType.RUNNING),
                )
            )
        await _relay_all(relay)
        bus.published.clear()

        took: dict[str, float] = {}
        start = time.perf_counter()
        criteria = FlowRunFilterCriteria.model_validate({"tags": {"all_": ["bulk"]}})
        await service.bulk_cancel(BulkCancel(flow_runs=criteria))
        took["bulk_cancel"] = time.perf_counter() - start
        start = time.perf_counter()
        await _relay_all(relay)
        took["relay (CANCELLING events, requests)"] = time.perf_counter() - start
        answers = _answers(bus.published)
        start = time.perf_counter()
        for first in range(0, len(answers), RESULTS_BATCH):
            await service.apply_results(answers[first : first + RESULTS_BATCH])
        took["apply_results"] = time.perf_counter() - start
        start = time.perf_counter()
        await _relay_all(relay)
        took["relay (CANCELLED events)"] = time.perf_counter() - start
        assert (
            await service.count_flow_runs(
                FlowRunFilterCriteria.model_validate({"state": {"type": {"any_": ["CANCELLED"]}}})
            )
            == runs
        )
        return took
    finally:
        await database.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cancelbus-bench-") as tmp:
        for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            async with bench_database(db, Path(tmp)) as url:
                took = await run_one(url, args.runs)
            total = sum(took.values())
            steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in took.items())
            print(f"[{db}] {args.runs} runs: {steps}", flush=True)
            print(
                f"[{db}]   total {total:.2f}s = {total / args.runs * 1000:.3f} ms per run "
                f"= {args.runs / total:.0f} runs/s without Kafka or HTTP",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
