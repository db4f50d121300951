"""What the automations benchmark sends and reads: the rules (served as the state service's
API serves them), producers' events and state changes, the commands that come back, the lag."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.events import RESOURCE_ID, Event
from schemas.messages import FlowRunStateChanged
from schemas.states import State, StateType
from schemas.topics import Topics
from services.localinfra.processes import free_port
from services.localinfra.service_process import ServiceProcess

GROUP = "cancelbus.automations"
KILL = "bench.kill"
WINDOW_TAG = "bench-window"
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rule(i: int, name: str, trigger: dict[str, Any]) -> dict[str, Any]:
    at = (_T0 + timedelta(milliseconds=i)).isoformat()
    return {
        "id": str(uuid4()),
        "created": at,
        "updated": at,
        "name": name,
        "trigger": {"type": "event", "id": str(uuid4()), **trigger},
        "actions": [{"type": "cancel-flow-run"}],
    }


def bench_rules(count: int, within: float) -> list[dict[str, Any]]:
    """`count` rules checked against every state change (none matches the bench's runs), one
    that cancels on `bench.kill`, one proactive: runs tagged bench-window done within."""
    rules = [
        _rule(
            i,
            f"team {i}",
            {
                "posture": "Reactive",
                "expect": ["prefect.flow-run.Completed" if i % 2 else "prefect.flow-run.Running"],
                "match_related": {
                    "prefect.resource.role": "tag",
                    "prefect.resource.id": f"prefect.tag.team-{i}",
                },
            },
        )
        for i in range(count)
    ]
    rules.append(_rule(count, "kill", {"posture": "Reactive", "expect": [KILL]}))
    window = {
        "posture": "Proactive",
        "after": ["prefect.flow-run.Running"],
        "expect": ["prefect.flow-run.Completed"],
        "for_each": ["prefect.resource.id"],
        "match_related": {
            "prefect.resource.role": "tag",
            "prefect.resource.id": f"prefect.tag.{WINDOW_TAG}",
        },
        "within": within,
    }
    rules.append(_rule(count + 1, "window", window))
    return rules


class StateApi:
    """`POST /api/automations/filter` over fixed rules: newest first, `created.before_`,
    `offset` and `limit`, as the state service answers."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        newest_first = sorted(rules, key=lambda r: (r["created"], r["id"]), reverse=True)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = json.loads(self.rfile.read(int(self.headers["content-length"] or 0)))
                before = ((query.get("automations") or {}).get("created") or {}).get("before_")
                found = [r for r in newest_first if before is None or r["created"] <= before]
                offset, limit = query.get("offset", 0), query.get("limit", 200)
                body = json.dumps(found[offset : offset + limit]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def event_about(run_id: UUID | None = None) -> Event:
    run = run_id or uuid4()
    return Event(event=KILL, resource={RESOURCE_ID: f"prefect.flow-run.{run}"})


def _state_change(state: StateType, tags: list[str]) -> FlowRunStateChanged:
    name = state.value.title()
    return FlowRunStateChanged(
        flow_run_id=uuid4(),
        event=f"prefect.flow-run.{name}",
        state=State(type=state, name=name),
        tags=tags,
    )


async def publish_state_changes(bootstrap: str, rate: int, duration: float) -> None:
    """`rate` state changes a second (RUNNING and COMPLETED of runs no rule is about)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started, sent, pending = time.monotonic(), 0, []
        total = int(rate * duration)
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            for _ in range(due - sent):
                state = random.choice((StateType.RUNNING, StateType.COMPLETED))
                change = _state_change(state, [f"team-{random.randrange(10**6, 2 * 10**6)}"])
                pending.append(
                    await producer.send(
                        Topics.STATE_CHANGES,
                        change.model_dump_json().encode(),
                        key=change.key.encode(),
                    )
                )
            sent = due
            if len(pending) > 5000:
                await asyncio.gather(*pending)
                pending = []
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def running_runs(bootstrap: str, count: int, within: float, ramp: float) -> dict[str, float]:
    """`count` runs entering RUNNING evenly over `ramp` seconds under the proactive rule; run
    id -> its window's end."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    ends: dict[str, float] = {}
    try:
        started, pending = time.monotonic(), []
        while len(ends) < count:
            due = min(count, int((time.monotonic() - started) / ramp * count) + 1)
            while len(ends) < due:
                change = _state_change(StateType.RUNNING, [WINDOW_TAG])
                ends[str(change.flow_run_id)] = change.state.timestamp.timestamp() + within
                value, key = change.model_dump_json().encode(), change.key.encode()
                pending.append(await producer.send(Topics.STATE_CHANGES, value, key=key))
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return ends


class Commands:
    """Reads cancelbus.commands from its end: when the command about each run arrived."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=5)
        self.arrived: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._grown = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(Topics.COMMANDS)
        while not partitions:
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(Topics.COMMANDS)
        tps = [TopicPartition(Topics.COMMANDS, p) for p in partitions]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    def expect(self, run_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[run_id] = future
        return future

    async def wait_for(self, runs: dict[str, float], *, within: float) -> dict[str, float]:
        """When each run's command arrived, once all did or `within` seconds passed."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not all(r in self.arrived for r in runs):
            self._grown.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grown.wait(), 1.0)
        return {r: self.arrived[r] for r in runs if r in self.arrived}

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for messages in batch.values():
                for message in messages:
                    run_id = (message.key or b"").decode()
                    self.arrived.setdefault(run_id, now)
                    waiting = self._waiting.pop(run_id, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(now)
            if batch:
                self._grown.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def group_lag(bootstrap: str) -> int:
    """State changes published that the automations group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = {
            tp: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(GROUP)).items()
            if tp.topic == Topics.STATE_CHANGES
        }
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(Topics.STATE_CHANGES) or set()
        tps = [TopicPartition(Topics.STATE_CHANGES, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return sum(end - max(0, committed.get(tp, 0)) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def wait_metric(proc: ServiceProcess, port: int, name: str, at_least: float) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise SystemExit(f"automations service exited:\n{proc.log()}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            text = ""
        for line in text.splitlines():
            if line.startswith(name + " ") and float(line.split()[1]) >= at_least:
                return
        await asyncio.sleep(0.1)
    raise SystemExit(f"automations service not ready:\n{proc.log()}")
