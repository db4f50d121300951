"""Benchmark of the state service on real Kafka, with SQLite and PostgreSQL.

1. latency: `set_state` CANCELLING over REST -> `CancellationRequested` on the topic.
2. bulk: N running runs cancelled by one `POST /api/flow_runs/cancel`, a simulated worker
   answering every request with `cancelled` -> all CANCELLED; runs/s and peak RSS.

    .venv/bin/python -m bench.state_bench [--db sqlite|postgres|both] [--runs 10000]
        [--warmup 1000] [--samples 200] [--latency-warmup 50]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.databases import bench_database
from bench.flow_runs import bulk_cancel, cancelled, wait_all_cancelled
from bench.stats import PeakRss, fmt, percentiles
from schemas.topics import Topics
from services.localinfra import KafkaBroker
from services.localinfra.service_process import StateProcess
from services.runtime.runner import settle_heap


async def _watch_requests(
    bootstrap: str, arrivals: dict[str, float], arrived: asyncio.Condition, ready: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        Topics.CANCEL_REQUESTED,
        bootstrap_servers=bootstrap,
        group_id=f"bench-watch-{time.time_ns()}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=50)
        await consumer.seek_to_end()
        ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for messages in batch.values():
                for m in messages:
                    arrivals.setdefault(m.key.decode(), now)
            if batch:
                async with arrived:
                    arrived.notify_all()
    finally:
        await consumer.stop()


async def _fake_worker(bootstrap: str) -> None:
    """Answers every request with `cancelled`, as a worker would once the process is gone."""
    consumer = AIOKafkaConsumer(
        Topics.CANCEL_REQUESTED,
        bootstrap_servers=bootstrap,
        group_id="bench-worker",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            futures = []
            for messages in batch.values():
                for m in messages:
                    result = cancelled(m.value, "bench-worker")
                    futures.append(
                        await producer.send(
                            Topics.CANCEL_RESULTS,
                            result.model_dump_json().encode(),
                            key=result.key.encode(),
                        )
                    )
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


async def _create_runs(api: httpx.AsyncClient, count: int, tag: str) -> list[str]:
    ids: list[str] = []
    semaphore = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with semaphore:
            body = {
                "name": f"bench-{i}",
                "tags": [tag],
                "infrastructure_pid": f"benchhost:{10000 + i}",
                "state": {"type": "RUNNING"},
            }
            response = await api.post("/flow_runs/", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])

    await asyncio.gather(*(one(i) for i in range(count)))
    return ids


async def latency(
    api: httpx.AsyncClient, bootstrap: str, samples: int, warmup: int
) -> dict[str, float]:
    """set_state -> CancellationRequested for `samples` runs one after another, after
    `warmup` unmeasured ones: a fresh service compiles and prepares its statements and fills
    its caches on the first requests. Those are shown apart, the first five one by one.
    """
    arrivals: dict[str, float] = {}
    ready = asyncio.Event()
    arrived = asyncio.Condition()
    watcher = asyncio.create_task(_watch_requests(bootstrap, arrivals, arrived, ready))
    await ready.wait()
    run_ids = await _create_runs(api, warmup + samples, "latency")
    took: list[float] = []
    answered: list[float] = []
    for run_id in run_ids:
        start = time.perf_counter()
        response = await api.post(
            f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}}
        )
        answered.append((time.perf_counter() - start) * 1000)
        assert response.json()["status"] == "ACCEPT", response.text
        async with arrived:
            await arrived.wait_for(functools.partial(dict.__contains__, arrivals, run_id))
        took.append((arrivals[run_id] - start) * 1000)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    if warmup:
        first = ", ".join(f"{ms:.1f}" for ms in took[:5])
        print(f"  (warm-up, unmeasured: {fmt(percentiles(took[:warmup]))}; first five: {first} ms)")
    print(f"  (the REST answer itself: {fmt(percentiles(answered[warmup:]))})", flush=True)
    return percentiles(took[warmup:])


def _cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}


async def bulk(
    api: httpx.AsyncClient, broker: KafkaBroker, state_pid: int, runs: int, warmup: int
) -> dict[str, float]:
    worker = asyncio.create_task(_fake_worker(broker.bootstrap_servers))
    if warmup:
        # the same path once, unmeasured: the broker's JIT and the service's caches warm up
        await _create_runs(api, warmup, "warmup")
        await bulk_cancel(api, "warmup")
        await wait_all_cancelled(api, "warmup", warmup, every=0.1)
    await _create_runs(api, runs, "bulk")
    # where the two cores go: the state service, the broker, and this process (the simulated
    # worker and the polling client)
    processes = {"state": psutil.Process(state_pid), "bench": psutil.Process()}
    if broker.pid is not None:
        processes["broker"] = psutil.Process(broker.pid)
    before = _cpu_seconds(processes)
    start = time.perf_counter()
    await bulk_cancel(api, "bulk")
    accepted = time.perf_counter() - start
    await wait_all_cancelled(api, "bulk", runs, every=0.1)
    total = time.perf_counter() - start
    cpu = {name: seconds - before[name] for name, seconds in _cpu_seconds(processes).items()}
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    return {
        "runs": runs,
        "bulk_call_s": accepted,
        "all_cancelled_s": total,
        "runs_per_s": runs / total,
        **{f"cpu_{name}_s": seconds for name, seconds in cpu.items()},
    }


async def run_one(db: str, args: argparse.Namespace, broker: KafkaBroker, work: Path) -> None:
    async with bench_database(db, work) as database_url:
        env = {
            "CANCELBUS_DATABASE_URL": database_url,
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        }
        state = StateProcess(env, work / f"state-{db}.log").start()
        try:
            await _measure(db, args, broker, state)
        finally:
            state.terminate()


async def _measure(
    db: str, args: argparse.Namespace, broker: KafkaBroker, state: StateProcess
) -> None:
    await asyncio.to_thread(state.wait_healthy)
    assert state.proc is not None
    rss = PeakRss(state.proc.pid).start()
    async with httpx.AsyncClient(base_url=state.api_url, timeout=30) as api:
        lat = await latency(api, broker.bootstrap_servers, args.samples, args.latency_warmup)
        print(f"[{db}] set_state -> CancellationRequested: {fmt(lat)}", flush=True)
        result = await bulk(api, broker, state.proc.pid, args.runs, args.warmup)
    peak = await rss.stop()
    print(
        f"[{db}] bulk {result['runs']:.0f} runs: bulk call {result['bulk_call_s']:.2f}s, "
        f"all CANCELLED after {result['all_cancelled_s']:.2f}s "
        f"= {result['runs_per_s']:.0f} runs/s; state service peak RSS {peak / 2**20:.0f} MB",
        flush=True,
    )
    print(
        f"[{db}]   CPU seconds meanwhile: state service {result['cpu_state_s']:.1f}, "
        f"broker {result.get('cpu_broker_s', float('nan')):.1f}, "
        f"benchmark (simulated worker, polling) {result['cpu_bench_s']:.1f}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--latency-warmup", type=int, default=50, help="set_state calls unmeasured first"
    )
    parser.add_argument(
        "--warmup", type=int, default=1000, help="runs bulk-cancelled unmeasured first"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cancelbus-bench-") as tmp:
        work = Path(tmp)
        broker = KafkaBroker(data_dir=work / "kafka")
        await asyncio.to_thread(broker.start)
        try:
            for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
                await run_one(db, args, broker, work)
        finally:
            await asyncio.to_thread(broker.close)


if __name__ == "__main__":
    settle_heap()  # the measuring process's own collector pauses would count as latency
    asyncio.run(main())
