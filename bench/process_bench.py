"""Benchmark of the process worker on real Kafka: state service and worker as OS processes.

1. latency: one `sleep` process per run (it exits on SIGTERM); for each, from the
   `set_state` CANCELLING call to the process being gone, and to the run's CANCELLED state
   (its server timestamp), over --samples sequential cancellations.
2. burst: --burst live processes cancelled at once by `POST /api/flow_runs/cancel`
   -> all gone and all CANCELLED; wall time and the worker's peak RSS.

    .venv/bin/python -m bench.process_bench [--samples 200] [--burst 1000] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.databases import bench_database
from bench.flow_runs import bulk_cancel, wait_all_cancelled
from bench.stats import PeakRss, fmt, percentiles
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.infrastructure.process_tree import PinnedProcess
from services.infrastructure.processes import fingerprint_of
from services.localinfra import KafkaBroker
from services.localinfra.service_process import ServiceProcess, StateProcess
from services.runtime.runner import settle_heap


class Runs:
    def __init__(self, api: httpx.AsyncClient, scope: str) -> None:
        self.api = api
        self.scope = scope
        self.children: list[subprocess.Popen[bytes]] = []

    async def running(self, tag: str) -> tuple[str, PinnedProcess]:
        """A RUNNING run whose `sleep` process carries its marker; the process pinned."""
        created = await self.api.post("/flow_runs/", json={"name": tag, "tags": [tag]})
        run_id = created.json()["id"]
        proc = self._spawn(run_id)
        ps = psutil.Process(proc.pid)
        target = InfrastructureId(
            kind=InfrastructureKind.PROCESS,
            scope=self.scope,
            id=str(proc.pid),
            fingerprint=fingerprint_of(ps),
        )
        await self.api.patch(f"/flow_runs/{run_id}", json={"infrastructure_pid": str(target)})
        await self.api.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}})
        pinned = PinnedProcess.pin(ps)
        assert pinned is not None
        return run_id, pinned

    def _spawn(self, run_id: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["sleep", "3600"],
            env={**os.environ, "CANCELBUS_FLOW_RUN_ID": run_id},
            start_new_session=True,
        )
        self.children.append(proc)
        return proc

    async def cancelled_at(self, run_id: str) -> float:
        while True:
            run: dict[str, Any] = (await self.api.get(f"/flow_runs/{run_id}")).json()
            if run["state_type"] == "CANCELLED":
                return datetime.fromisoformat(run["state"]["timestamp"]).timestamp()
            await asyncio.sleep(0.005)

    def reap(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.children.clear()


async def until(check: Callable[[], Awaitable[bool]], within: float = 300) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        await asyncio.sleep(0.05)


async def _worker_alive(api: httpx.AsyncClient) -> bool:
    return any(w["alive"] for w in (await api.get("/workers")).json())


async def latency(runs: Runs, samples: int) -> tuple[dict[str, float], dict[str, float]]:
    to_gone: list[float] = []
    to_cancelled: list[float] = []
    for _ in range(samples):
        run_id, pinned = await runs.running("latency")
        await asyncio.sleep(0.02)  # let the RUNNING change settle: measure the cancel alone
        start = time.time()
        await runs.api.post(
            f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}}
        )
        await asyncio.wait_for(pinned.wait_exit(), 30)
        to_gone.append((time.time() - start) * 1000)
        pinned.close()
        to_cancelled.append((await runs.cancelled_at(run_id) - start) * 1000)
    runs.reap()
    return percentiles(to_gone), percentiles(to_cancelled)


async def burst(runs: Runs, count: int, worker_pid: int) -> dict[str, float]:
    pinned: list[PinnedProcess] = []
    for start in range(0, count, 50):
        made = await asyncio.gather(
            *(runs.running("burst") for _ in range(start, min(count, start + 50)))
        )
        pinned.extend(p for _, p in made)
    rss = PeakRss(worker_pid).start()
    began = time.perf_counter()
    counts = await bulk_cancel(runs.api, "burst")
    assert counts["cancelling"] == count, counts
    await asyncio.wait_for(asyncio.gather(*(p.wait_exit() for p in pinned)), 120)
    all_gone = time.perf_counter() - began
    await wait_all_cancelled(runs.api, "burst", count)
    all_cancelled = time.perf_counter() - began
    peak = await rss.stop()
    for p in pinned:
        p.close()
    runs.reap()
    return {"gone_s": all_gone, "cancelled_s": all_cancelled, "worker_peak_rss_mb": peak / 2**20}


async def run(args: argparse.Namespace, work: Path) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    broker = KafkaBroker(data_dir=work / "kafka")
    await asyncio.to_thread(broker.start)
    state: StateProcess | None = None
    worker: ServiceProcess | None = None
    try:
        async with bench_database(args.db, work) as database_url:
            scope = f"bench-{uuid.uuid4().hex[:6]}"
            env = {
                "CANCELBUS_DATABASE_URL": database_url,
                "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "CANCELBUS_WORKER_SCOPE": scope,
            }
            try:
                state = StateProcess(env, work / "state.log")
                state.start()
                await asyncio.to_thread(state.wait_healthy)
                worker = ServiceProcess(["worker", "process"], env, work / "worker.log").start()
                await _measure(args, state.api_url, worker, scope)
            finally:
                for service in (worker, state):
                    if service is not None:
                        service.terminate()
    finally:
        await asyncio.to_thread(broker.close)


async def _measure(
    args: argparse.Namespace, api_url: str, worker: ServiceProcess, scope: str
) -> None:
    assert worker.proc is not None
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        await until(lambda: _worker_alive(api))
        await asyncio.sleep(2)  # the worker's consumer joins its group
        runs = Runs(api, scope)
        gone, cancelled = await latency(runs, args.samples)
        print(f"[{args.db}] set_state -> process gone: {fmt(gone)}", flush=True)
        print(f"[{args.db}] set_state -> CANCELLED:    {fmt(cancelled)}", flush=True)
        result = await burst(runs, args.burst, worker.proc.pid)
        print(
            f"[{args.db}] burst of {args.burst}: all gone after {result['gone_s']:.2f}s, "
            f"all CANCELLED after {result['cancelled_s']:.2f}s; "
            f"worker peak RSS {result['worker_peak_rss_mb']:.0f} MB",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cancelbus-bench-") as tmp:
        await run(args, Path(tmp))


if __name__ == "__main__":
    settle_heap()  # the measuring process's own collector pauses would count as latency
    asyncio.run(main())
