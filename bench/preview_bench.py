"""A rule's dry run (`POST /api/automations/preview`) over a large table of runs, in process.

N runs (a third finished, the rest RUNNING or SCHEDULED, a tenth tagged `nightly`) are written
straight to the database; then each rule is previewed and timed: one naming the state it reacts
to (filtered in SQL), one matching every open run (each judged in Python) and a max-runtime
rule (Proactive, `after` Running).

    .venv/bin/python -m bench.preview_bench [--db sqlite|postgres|both] [--runs 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from bench.databases import bench_database
from schemas.automations import AutomationCreate
from schemas.ids import uuid7
from schemas.states import StateType
from services.state.db import bulk
from services.state.db.engine import Database, migrate
from services.state.db.tables import flow_runs
from services.state.preview import preview
from services.state.rows import RunRow, names

BATCH = 5000
STATES = [StateType.RUNNING, StateType.RUNNING, StateType.SCHEDULED, StateType.COMPLETED]

RULES: dict[str, dict[str, Any]] = {
    "running nightly (SQL filter)": {
        "type": "event",
        "posture": "Reactive",
        "expect": ["prefect.flow-run.Running"],
        "match_related": {"prefect.resource.id": "prefect.tag.nightly"},
    },
    "every open run (no filter)": {"type": "event", "posture": "Reactive"},
    "max runtime 1 h (Proactive)": {
        "type": "event",
        "posture": "Proactive",
        "after": ["prefect.flow-run.Running"],
        "expect": ["prefect.flow-run.Completed"],
        "for_each": ["prefect.resource.id"],
        "within": 3600,
    },
}


def _run(i: int, now: datetime) -> RunRow:
    state_type = STATES[i % len(STATES)]
    at = now - timedelta(seconds=random.randrange(7200))
    return RunRow(
        id=uuid7(),
        tags=["nightly"] if i % 10 == 0 else ["hourly"],
        infrastructure_pid=f"benchhost:{i}",
        state_id=uuid.uuid4(),
        state_type=state_type.value,
        state_name=state_type.default_name,
        state_timestamp=at,
        state_message=None,
        state_details={},
        start_time=at,
        end_time=at if state_type.is_terminal else None,
        run_count=1,
        version=1,
        name=f"bench-{i}",
        flow_id=uuid.uuid4(),
        deployment_id=uuid.uuid4(),
        parameters={},
        work_pool_name="pool",
        work_queue_name="default",
        created=now,
        updated=now,
        expected_start_time=now,
        parent_flow_run_id=None,
    )


def _insert(rows: Sequence[RunRow], conn: Connection) -> None:
    bulk.insert(conn, flow_runs, names(RunRow), rows)


async def run_one(url: str, runs: int) -> dict[str, tuple[float, int]]:
    database = Database(url)
    await migrate(database)
    try:
        now = datetime.now(UTC)
        for first in range(0, runs, BATCH):
            rows = [_run(i, now) for i in range(first, min(runs, first + BATCH))]
            await database.write(functools.partial(_insert, rows))
        took: dict[str, tuple[float, int]] = {}
        for name, trigger in RULES.items():
            rule = AutomationCreate.model_validate(
                {"name": name, "trigger": trigger, "actions": [{"type": "cancel-flow-run"}]}
            )
            start = time.perf_counter()
            found = await preview(database, rule)
            took[name] = (time.perf_counter() - start, found.matched)
        return took
    finally:
        await database.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cancelbus-bench-") as tmp:
        for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            async with bench_database(db, Path(tmp)) as url:
                took = await run_one(url, args.runs)
            for name, (seconds, matched) in took.items():
                print(f"[{db}] {args.runs} runs, {name}: {matched} matched in {seconds:.2f}s")


if __name__ == "__main__":
    asyncio.run(main())
