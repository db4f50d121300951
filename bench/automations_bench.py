"""Benchmark of the automations service (`cancelbus automations` in its own process) on Kafka.

The bench stands in for the state service: it serves the rules at `POST /api/automations/
filter`, publishes events and state changes as producers and the outbox would, and reads the
commands topic. Three phases, with `--rules` enabled rules loaded throughout (each matches
state changes by name and is checked against every one, none fires):

1. latency: one event at a time that a rule cancels on; event sent -> CancelFlowRun on
   cancelbus.commands, p50/p99 (target p99 <= 20 ms);
2. load: `--rate` state changes/s for `--duration` s; the group's lag, sampled each second,
   must not grow;
3. windows: `--windows` runs enter RUNNING over `--ramp` s under a proactive rule ("done
   within `--within` s"), none finishes: all windows are open at once between the ramp's end
   and the first one's end; each window's firing lateness after its end (target max <= 100 ms).

And the service's peak RSS over all of it (target <= 150 MB).

    .venv/bin/python -m bench.automations_bench            # the full run (about 2.5 min)
    .venv/bin/python -m bench.automations_bench --quick    # a short one (about 40 s)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.automations_load import (
    Commands,
    StateApi,
    bench_rules,
    event_about,
    group_lag,
    publish_state_changes,
    running_runs,
    wait_metric,
)
from bench.stats import PeakRss, fmt, percentiles
from bench.timeout_bench import _peak_rss_kernel
from services.localinfra import KafkaBroker
from services.localinfra.processes import free_port
from services.localinfra.service_process import ServiceProcess

MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    rules: int
    samples: int
    rate: int
    duration: float
    windows: int
    within: float
    ramp: float

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(
                rules=200, samples=200, rate=500, duration=5, windows=1000, within=10, ramp=5
            )
        return cls(
            args.rules, args.samples, args.rate, args.duration, args.windows, args.within, args.ramp
        )


async def latency(commands: Commands, producer_bootstrap: str, samples: int) -> dict[str, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=producer_bootstrap, acks="all", linger_ms=0)
    await producer.start()
    took: list[float] = []
    try:
        for i in range(samples + 20):  # the first 20 warm the path up
            event = event_about()
            arrived = commands.expect(str(event.flow_run_id()))
            began = time.perf_counter()
            await producer.send_and_wait(
                "cancelbus.events", event.model_dump_json().encode(), key=event.key.encode()
            )
            await asyncio.wait_for(arrived, 30)
            if i >= 20:
                took.append((time.perf_counter() - began) * 1000)
    finally:
        await producer.stop()
    return percentiles(took)


async def load(bootstrap: str, rate: int, duration: float) -> list[int]:
    """Lag samples (records not yet committed by the group), one a second, during the load
    and for a few seconds after it."""
    lags: list[int] = []
    sender = asyncio.create_task(publish_state_changes(bootstrap, rate, duration))
    while not sender.done():
        await asyncio.sleep(1.0)
        lags.append(await group_lag(bootstrap))
    await sender
    for _ in range(5):
        await asyncio.sleep(1.0)
        lags.append(await group_lag(bootstrap))
    return lags


async def caught_up(bootstrap: str, within: float) -> float | None:
    """Seconds until the group has committed every state change (None: not within)."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if await group_lag(bootstrap) == 0:
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    return None


async def run(plan: Plan) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="cancelbus-automations-bench-"))
    broker = KafkaBroker(data_dir=workdir / "kafka")
    api = StateApi(bench_rules(plan.rules, plan.within))
    await asyncio.to_thread(broker.start)
    metrics_port = free_port()
    service = ServiceProcess(
        ["automations"],
        {
            "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CANCELBUS_API_URL": api.url,
            "CANCELBUS_METRICS_PORT": str(metrics_port),
        },
        workdir / "automations.log",
    )
    commands = Commands(broker.bootstrap_servers)
    try:
        service.start()
        assert service.proc is not None
        await wait_metric(service, metrics_port, "cancelbus_automations_rules", plan.rules + 2)
        rss = PeakRss(service.proc.pid).start()
        await commands.start()
        print(f"{plan.rules + 2} rules loaded")

        lat = await latency(commands, broker.bootstrap_servers, plan.samples)
        print(f"  event -> CancelFlowRun on the commands topic: {fmt(lat)}")

        lags = await load(broker.bootstrap_servers, plan.rate, plan.duration)
        half = len(lags) // 2
        print(f"  {plan.rate} state changes/s for {plan.duration:g} s, lag each second: {lags}")
        # not growing: the second half no higher than the first (or one second of traffic),
        # and nearly caught up once the load stops
        ceiling = max(plan.rate, max(lags[:half] or [0]))
        steady = max(lags[half:]) <= ceiling and lags[-1] < plan.rate
        behind = await caught_up(broker.bootstrap_servers, 120)
        when = "NOT within 120 s" if behind is None else f"after {behind:.1f} s"
        print(f"  the group committed every state change {when}")

        runs = await running_runs(broker.bootstrap_servers, plan.windows, plan.within, plan.ramp)
        print(
            f"  {plan.windows} proactive windows opened over {plan.ramp:g} s,"
            f" {plan.within:g} s each"
        )
        fired = await commands.wait_for(runs, within=plan.within + 60)
        late = [(fired[r] - end) * 1000 for r, end in runs.items() if r in fired]
        stats = percentiles(late)
        early = sum(1 for x in late if x < 0)
        print(f"  fired {len(fired)}/{len(runs)}; lateness after the window's end: {fmt(stats)}")
        peak = max(await rss.stop(), _peak_rss_kernel(service.proc.pid) or 0)
        print(f"  peak RSS of the automations service: {peak / MB:.1f} MB")

        ok = (
            lat.get("p99", 1e9) <= 20
            and steady
            and len(fired) == len(runs)
            and early == 0
            and stats.get("max", 1e9) <= 100
            and peak <= 150 * MB
        )
        print(
            "  targets (p99 <= 20 ms, lag not growing, every window fired, none early, "
            f"max lateness <= 100 ms, RSS <= 150 MB): {'met' if ok else 'MISSED'}"
        )
        summary = {
            "latency_ms": lat,
            "lag": lags,
            "windows_lateness_ms": stats,
            "peak_rss_mb": round(peak / MB, 1),
        }
        print(json.dumps(summary))
        print(f"  automations service stopped with SIGTERM: exit {service.terminate()}")
        return ok
    finally:
        await commands.stop()
        service.kill()
        api.close()
        await asyncio.to_thread(broker.close)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run of every phase")
    parser.add_argument("--rules", type=int, default=1000, help="enabled rules besides the two")
    parser.add_argument("--samples", type=int, default=500, help="latency samples")
    parser.add_argument("--rate", type=int, default=2000, help="state changes per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--windows", type=int, default=10_000, help="open proactive windows")
    parser.add_argument("--within", type=float, default=15.0, help="window length (>= 10 s)")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds the windows open over")
    ok = asyncio.run(run(Plan.of(parser.parse_args())))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
