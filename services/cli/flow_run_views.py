"""How `cancelbus flow-run` shows runs, states, cancellation attempts and live events.

Rich for people, `dump` and `--json` lines for scripts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from schemas.flow_runs import FlowRun
from schemas.history import CancellationAttempt
from schemas.messages import CancellationRequested, CancellationResult, FlowRunStateChanged
from schemas.states import State, StateType
from services.client.sse import LiveEvent

STATE_STYLES = {
    StateType.SCHEDULED: "yellow",
    StateType.PENDING: "grey62",
    StateType.RUNNING: "blue",
    StateType.COMPLETED: "green",
    StateType.FAILED: "red",
    StateType.CRASHED: "orange_red1",
    StateType.PAUSED: "grey62",
    StateType.CANCELLING: "magenta",
    StateType.CANCELLED: "grey50",
}


def state_text(state_type: StateType | None) -> Text:
    if state_type is None:
        return Text("-")
    return Text(state_type.value, style=STATE_STYLES.get(state_type, ""))


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def runs_table(runs: list[FlowRun]) -> Table:
    table = Table(title="Flow runs", title_justify="left", expand=False)
    table.add_column("ID", no_wrap=True)
    for column in ("Name", "State", "Tags", "Infrastructure", "Started"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(
            str(run.id),
            run.name,
            state_text(run.state_type),
            ", ".join(run.tags) or "-",
            run.infrastructure_pid or "-",
            when(run.start_time),
        )
    return table


def run_panel(run: FlowRun) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("id", str(run.id)),
        ("state", state_text(run.state_type)),
        ("message", (run.state.message if run.state else None) or "-"),
        ("tags", ", ".join(run.tags) or "-"),
        ("infrastructure", run.infrastructure_pid or "-"),
        ("parent", str(run.parent_flow_run_id or "-")),
        ("created", when(run.created)),
        ("started", when(run.start_time)),
        ("ended", when(run.end_time)),
    ]
    if run.cancellation_worker_alive is not None:
        alive = "yes" if run.cancellation_worker_alive else "no (the timeout will force it)"
        rows.append(("live worker", alive))
    for key, value in rows:
        grid.add_row(key, value)
    return Panel(grid, title=f"Flow run {run.name}", title_align="left")


def states_table(states: list[State]) -> Table:
    table = Table(title="State history", title_justify="left")
    for column in ("Time", "State", "Name", "Message"):
        table.add_column(column, overflow="fold")
    for state in sorted(states, key=lambda s: s.timestamp):
        table.add_row(
            when(state.timestamp), state_text(state.type), state.name, state.message or ""
        )
    return table


def attempts_table(attempts: list[CancellationAttempt]) -> Table:
    table = Table(title="Cancellation attempts", title_justify="left")
    for column in ("#", "Requested", "By", "Reason", "Worker", "Outcome", "Took", "Detail"):
        table.add_column(column, overflow="fold")
    for attempt in attempts:
        took = f"{attempt.duration_seconds:.1f} s" if attempt.duration_seconds is not None else "-"
        table.add_row(
            str(attempt.attempt) + (" (teardown)" if attempt.final_teardown else ""),
            when(attempt.requested_at),
            attempt.requested_by or "-",
            attempt.reason or "-",
            attempt.worker or "-",
            attempt.outcome or "pending",
            took,
            attempt.detail or "",
        )
    return table


def show_inspect(
    console: Console, run: FlowRun, states: list[State], attempts: list[CancellationAttempt]
) -> None:
    parts: list[Panel | Table | Text] = [run_panel(run), states_table(states)]
    parts.append(attempts_table(attempts) if attempts else Text("No cancellation attempts."))
    console.print(Group(*parts))


def dump(value: Any) -> None:
    """JSON on stdout, unstyled (pydantic models and lists of them)."""
    if isinstance(value, list):
        payload: Any = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    elif hasattr(value, "model_dump"):
        payload = value.model_dump(mode="json")
    else:
        payload = value
    print(json.dumps(payload, indent=2))


def is_terminal(event: LiveEvent) -> bool:
    if isinstance(event, FlowRun):
        return event.state_type is not None and event.state_type.is_terminal
    return isinstance(event, FlowRunStateChanged) and event.state.type.is_terminal


def show_event(out: Console, event: LiveEvent, as_json: bool) -> None:
    """One line per event of `cancelbus flow-run watch` (a JSON line with `--json`)."""
    if as_json:
        kind = type(event).__name__
        print(json.dumps({"event": kind, "data": event.model_dump(mode="json")}), flush=True)
        return
    if isinstance(event, FlowRun):
        message = f"  {event.state.message}" if event.state and event.state.message else ""
        out.print(
            f"{when(event.state.timestamp if event.state else None)}  ",
            state_text(event.state_type),
            f"  {event.name}{message}",
        )
    elif isinstance(event, FlowRunStateChanged):
        message = f"  {event.state.message}" if event.state.message else ""
        out.print(f"{when(event.state.timestamp)}  ", state_text(event.state.type), message)
    elif isinstance(event, CancellationRequested):
        out.print(
            f"{when(event.occurred_at)}  cancellation requested (attempt {event.attempt}, "
            f"grace {event.grace_seconds:g} s) for {event.infrastructure}"
        )
    elif isinstance(event, CancellationResult):
        detail = f": {event.detail}" if event.detail else ""
        out.print(
            f"{when(event.occurred_at)}  worker {event.worker}: {event.outcome.value}{detail}"
        )
