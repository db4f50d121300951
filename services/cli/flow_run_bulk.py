"""Bulk cancel: list the matching runs, ask, cancel them at once, follow them to the end."""

from __future__ import annotations

import json
import time
from collections import Counter
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.flow_runs import FlowRun
from schemas.states import StateType
from services.client import SyncCancelbusClient, criteria, flow_run_filter

PAGE = 200
POLL_SECONDS = 0.5
FORCED_PREFIX = "Forced to CANCELLED"
FAILED_OUTCOMES = frozenset({"failed", "unsupported"})


def matching_ids(
    client: SyncCancelbusClient, states: list[StateType], tags: list[str]
) -> list[UUID]:
    ids: list[UUID] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter(states=states, tags=tags, limit=PAGE, offset=len(ids))
        )
        ids.extend(run.id for run in page)
        if len(page) < PAGE:
            return ids


def read_many(client: SyncCancelbusClient, ids: list[UUID]) -> list[FlowRun]:
    runs: list[FlowRun] = []
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        runs.extend(client.read_flow_runs(flow_run_filter(ids=chunk, limit=PAGE)))
    return runs


def bulk_cancel(
    client: SyncCancelbusClient,
    *,
    states: list[StateType],
    tags: list[str],
    reason: str | None,
    grace: float | None,
    yes: bool,
    wait: float,
    as_json: bool,
    out: Console,
    err: Console,
) -> bool:
    """Cancel every matching run; False if any could not be cancelled."""
    ids = matching_ids(client, states, tags)
    if not ids:
        if as_json:
            print(json.dumps({"matched": 0}))
        else:
            out.print("No flow runs match.")
        return True
    if not yes and not typer.confirm(f"Cancel {len(ids)} flow run(s)?", err=True):
        err.print("Nothing cancelled.")
        return False
    result = client.bulk_cancel(
        criteria(states=states, tags=tags, ids=ids),
        reason=reason,
        grace_seconds=grace,
        requested_by="cli",
    )
    runs = _follow(client, ids, wait, err, quiet=as_json)
    summary = _summarise(client, runs)
    summary["already_terminal"] = result.already_terminal
    if as_json:
        print(json.dumps({"matched": result.matched, **summary}))
    else:
        out.print(
            f"Cancelled {summary['cancelled']}, forced {summary['forced']}, "
            f"failed {summary['failed']}, still cancelling {summary['still_cancelling']}"
            + (
                f" (skipped {result.already_terminal} already terminal)"
                if result.already_terminal
                else ""
            )
        )
    return summary["failed"] == 0


def _follow(
    client: SyncCancelbusClient, ids: list[UUID], wait: float, err: Console, *, quiet: bool
) -> list[FlowRun]:
    """Poll until every run is terminal or `wait` seconds passed; a progress bar meanwhile."""
    deadline = time.monotonic() + wait
    with Progress(
        TextColumn("cancelling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("cancel", total=len(ids))
        while True:
            runs = read_many(client, ids)
            done = sum(1 for r in runs if r.state_type is not None and r.state_type.is_terminal)
            progress.update(task, completed=done)
            if done == len(runs) or time.monotonic() >= deadline:
                return runs
            time.sleep(POLL_SECONDS)


def _summarise(client: SyncCancelbusClient, runs: list[FlowRun]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for run in runs:
        if run.state_type is StateType.CANCELLED:
            message = run.state.message if run.state else None
            counts["forced" if (message or "").startswith(FORCED_PREFIX) else "cancelled"] += 1
        elif run.state_type is StateType.CANCELLING:
            attempts = client.cancellation_history(run.id)
            last = attempts[-1].outcome if attempts else None
            counts["failed" if last in FAILED_OUTCOMES else "still_cancelling"] += 1
        elif run.state_type is not None and run.state_type.is_terminal:
            counts["failed"] += 1  # it ended otherwise before the kill, or was terminal already
    return {k: counts[k] for k in ("cancelled", "forced", "failed", "still_cancelling")}
