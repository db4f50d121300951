"""Benchmark of the timeout service (`cancelbus timeout` in its own process) on real Kafka.

N runs enter CANCELLING evenly over a ramp (default 10,000 over 10 s) and no worker ever
answers. The bench stands in for the state service: it publishes the synthetic
`FlowRunStateChanged` (CANCELLING) events, serves an empty `GET /api/flow_runs/cancelling`,
and records when each `CancellationTimedOut` arrives on `cancelbus.timed-out`.

Reports the lateness of each forced transition after its deadline (p50/p99/max; target
max <= 1 s) and the timeout service's peak RSS (target <= 150 MB).

    .venv/bin/python -m bench.timeout_bench [--runs 10000] [--ramp 10] [--timeout 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from uuid import uuid4

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.stats import PeakRss, fmt, percentiles
from schemas.messages import CancellationTimedOut, FlowRunStateChanged
from schemas.states import State, StateType
from schemas.topics import Topics
from services.localinfra import KafkaBroker
from services.localinfra.processes import free_port
from services.localinfra.service_process import ServiceProcess

MB = 1024 * 1024


class _EmptyStateApi(http.server.BaseHTTPRequestHandler):
    """The state service's answer for a fresh system: no run is CANCELLING yet."""

    def do_GET(self) -> None:
        body = b"[]" if self.path == "/api/flow_runs/cancelling" else b"true"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _metric(port: int, name: str) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def _wait_metric(proc: ServiceProcess, port: int, name: str, at_least: float) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise SystemExit(f"timeout service exited:\n{proc.log()}")
        value = await asyncio.to_thread(_metric, port, name)
        if value is not None and value >= at_least:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"timeout service not ready:\n{proc.log()}")


async def _record_timeouts(
    bootstrap: str,
    arrivals: dict[str, tuple[float, float]],
    ready: asyncio.Event,
    complete: asyncio.Event,
    expected: int,
) -> None:
    """Arrival time and deadline of every CancellationTimedOut, first one per run."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(Topics.TIMED_OUT)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(Topics.TIMED_OUT)
        tps = [TopicPartition(Topics.TIMED_OUT, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            now = time.time()
            for messages in batch.values():
                for m in messages:
                    event = CancellationTimedOut.model_validate_json(m.value)
                    deadline = event.cancelling_since.timestamp() + event.timeout_seconds
                    arrivals.setdefault(str(event.flow_run_id), (now, deadline))
            if len(arrivals) >= expected:
                complete.set()
    finally:
        await consumer.stop()


async def _enter_cancelling(bootstrap: str, runs: int, ramp: float) -> None:
    """Publish `runs` CANCELLING state changes evenly over `ramp` seconds, as the outbox would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        started = time.monotonic()
        tick = 0.02
        sent = 0
        pending = []
        while sent < runs:
            due = min(runs, int((time.monotonic() - started) / ramp * runs) + 1)
            while sent < due:
                run_id = uuid4()
                event = FlowRunStateChanged(
                    flow_run_id=run_id,
                    event="prefect.flow-run.Cancelling",
                    state=State(type=StateType.CANCELLING),
                    previous_state_type=StateType.RUNNING,
                )
                pending.append(
                    await producer.send(
                        Topics.STATE_CHANGES,
                        event.model_dump_json().encode(),
                        key=event.key.encode(),
                    )
                )
                sent += 1
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _peak_rss_kernel(pid: int) -> int | None:
    """VmHWM: the kernel's own record of the process's peak resident set."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def run(runs: int, ramp: float, timeout_seconds: float) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="cancelbus-timeout-bench-"))
    broker = KafkaBroker(data_dir=workdir / "kafka")
    api = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _EmptyStateApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    await asyncio.to_thread(broker.start)
    metrics_port = free_port()
    service = ServiceProcess(
        ["timeout"],
        {
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CANCELBUS_CANCELLING_TIMEOUT_SECONDS": str(timeout_seconds),
            "CANCELBUS_API_URL": f"http://127.0.0.1:{api.server_address[1]}/api",
            "CANCELBUS_METRICS_PORT": str(metrics_port),
        },
        workdir / "timeout.log",
    )
    recorder: asyncio.Task[None] | None = None
    try:
        service.start()
        assert service.proc is not None
        # ready once it rebuilt twice: on start, and after the group assigned its partitions
        await _wait_metric(service, metrics_port, "cancelbus_timeout_rebuilds_total", 2)
        rss = PeakRss(service.proc.pid).start()
        arrivals: dict[str, tuple[float, float]] = {}
        ready, complete = asyncio.Event(), asyncio.Event()
        recorder = asyncio.create_task(
            _record_timeouts(broker.bootstrap_servers, arrivals, ready, complete, runs)
        )
        await ready.wait()

        print(f"{runs} runs entering CANCELLING over {ramp:g} s, timeout {timeout_seconds:g} s")
        began = time.time()
        await _enter_cancelling(broker.bootstrap_servers, runs, ramp)
        print(f"  published in {time.time() - began:.1f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), timeout_seconds + 60)
        peak_sampled = await rss.stop()
        peak_kernel = _peak_rss_kernel(service.proc.pid)
        forced = _metric(metrics_port, "cancelbus_timeout_forced_total")

        lateness_ms = [(arrived - deadline) * 1000 for arrived, deadline in arrivals.values()]
        stats = percentiles(lateness_ms)
        peak = max(peak_sampled, peak_kernel or 0)
        early = sum(1 for late in lateness_ms if late < 0)
        print(f"  timeouts received: {len(arrivals)}/{runs} (service published {forced or 0:.0f})")
        print(f"  lateness after deadline: {fmt(stats)}")
        print(f"  early (before the deadline): {early}")
        print(f"  peak RSS of the timeout service: {peak / MB:.1f} MB")
        ok = len(arrivals) == runs and early == 0 and stats["max"] <= 1000 and peak <= 150 * MB
        verdict = "met" if ok else "MISSED"
        print(f"  targets (all forced, max lateness <= 1 s, RSS <= 150 MB): {verdict}")
        summary = {"runs": runs, "lateness_ms": stats, "peak_rss_mb": round(peak / MB, 1)}
        print(json.dumps(summary))
        exit_code = service.terminate()
        print(f"  timeout service stopped with SIGTERM: exit {exit_code}")
        return ok
    finally:
        if recorder is not None:
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
        service.kill()
        api.shutdown()
        api.server_close()
        await asyncio.to_thread(broker.close)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which runs enter")
    parser.add_argument("--timeout", type=float, default=5.0, help="cancelling timeout, seconds")
    args = parser.parse_args()
    ok = asyncio.run(run(args.runs, args.ramp, args.timeout))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
