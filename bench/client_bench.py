"""How fast a cancel goes through the Python client, and how soon a live watcher sees it.

Against a `cancelbus state` process (SQLite, in-process bus). Runs have an infrastructure id
no worker serves, so each stays CANCELLING and only the API and the event stream are timed:

    .venv/bin/python -m bench.client_bench --runs 200 --bulk 1000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from uuid import UUID

from bench.stats import fmt, percentiles
from schemas.messages import FlowRunStateChanged
from schemas.states import StateType
from services.client import CancelbusClient, Running, flow_run_filter
from services.localinfra.service_process import StateProcess


async def measure(api_url: str, runs: int, bulk: int) -> None:
    async with CancelbusClient(api_url) as client, CancelbusClient(api_url) as watcher_client:
        ids = [
            (
                await client.create_flow_run(
                    f"r{i}", state=Running(), infrastructure_pid=f"nowhere:{i}"
                )
            ).id
            for i in range(runs)
        ]
        seen: dict[UUID, float] = {}
        wanted = set(ids)
        subscribed = asyncio.Event()

        async def watch() -> None:
            async for event in watcher_client.events():
                subscribed.set()
                if (
                    isinstance(event, FlowRunStateChanged)
                    and event.state.type is StateType.CANCELLING
                    and event.flow_run_id in wanted
                ):
                    seen[event.flow_run_id] = time.perf_counter()
                    if len(seen) == runs:
                        return

        watcher = asyncio.create_task(watch())
        # the all-runs stream sends nothing until a change: prime it until the watcher hears
        for attempt in range(100):
            primer = await client.create_flow_run(
                "primer", state=Running(), infrastructure_pid=f"nowhere:{900000 + attempt}"
            )
            await client.cancel(primer.id)
            try:
                await asyncio.wait_for(subscribed.wait(), 0.1)
                break
            except TimeoutError:
                continue
        sent: dict[UUID, float] = {}
        cancel_ms: list[float] = []
        for run_id in ids:
            sent[run_id] = time.perf_counter()
            await client.cancel(run_id, reason="bench")
            cancel_ms.append((time.perf_counter() - sent[run_id]) * 1000)
        await asyncio.wait_for(watcher, 30)
        live_ms = [(seen[i] - sent[i]) * 1000 for i in ids]
        print(f"cancel() round trip        {fmt(percentiles(cancel_ms))}")
        print(f"cancel -> watcher sees it  {fmt(percentiles(live_ms))}")

        tag = "bulk"
        for i in range(bulk):
            await client.create_flow_run(
                f"b{i}", tags=[tag], state=Running(), infrastructure_pid=f"nowhere:{100000 + i}"
            )
        started = time.perf_counter()
        result = await client.bulk_cancel(flow_run_filter(tags=[tag]), reason="bench")
        took = time.perf_counter() - started
        print(
            f"bulk_cancel of {result.matched} runs     {took * 1000:.0f} ms "
            f"({result.matched / took:.0f} runs/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--bulk", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "CANCELBUS_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": "",
            "CANCELBUS_API_TOKEN": "",
        }
        state = StateProcess(env, Path(tmp) / "state.log")
        state.start()
        try:
            state.wait_healthy()
            asyncio.run(measure(state.api_url, args.runs, args.bulk))
        finally:
            state.terminate()


if __name__ == "__main__":
    main()
