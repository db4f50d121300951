"""`cancelbus flow-run`: cancel, list, inspect and watch runs through the state service's API.

Each command takes `--api-url`/`--api-token` (or CANCELBUS_API_URL/CANCELBUS_API_TOKEN) and
`--json` for scripts. Faults talking to the service print one line and exit 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.console import Console

from schemas.orchestration import Status
from schemas.states import StateType
from services.cli.flow_run_views import dump, is_terminal, runs_table, show_event, show_inspect
from services.client import (
    Aborted,
    CancelbusError,
    ClientSettings,
    SyncCancelbusClient,
    Unavailable,
    flow_run_filter,
)

app = typer.Typer(help="Cancel, list, inspect and watch flow runs.", no_args_is_help=True)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help="the state service's API (env CANCELBUS_API_URL)"),
]
ApiToken = Annotated[
    str | None,
    typer.Option("--api-token", help="bearer token (env CANCELBUS_API_TOKEN)", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
States = Annotated[
    list[StateType] | None,
    typer.Option(
        "--state", "-s", help="only runs in this state (repeatable)", case_sensitive=False
    ),
]
Tags = Annotated[
    list[str] | None, typer.Option("--tag", "-t", help="only runs with this tag (repeatable)")
]


@contextmanager
def connect(api_url: str | None, api_token: str | None) -> Iterator[SyncCancelbusClient]:
    """A client; any client error becomes one line on stderr and exit code 1."""
    try:
        settings = ClientSettings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        err.print(f"error: CANCELBUS_{str(first['loc'][0]).upper()}: {first['msg']}")
        raise typer.Exit(2) from None
    client = SyncCancelbusClient(
        api_url, api_token=api_token, settings=settings, user_agent="cancelbus-cli"
    )
    try:
        yield client
    except CancelbusError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


@app.command()
def cancel(
    flow_run_id: Annotated[UUID | None, typer.Argument(help="the run to cancel")] = None,
    reason: Annotated[str | None, typer.Option(help="why; kept in the run's history")] = None,
    grace: Annotated[
        float | None, typer.Option(help="seconds between SIGTERM and SIGKILL", min=0.001)
    ] = None,
    state: States = None,
    tag: Tags = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="bulk: do not ask first")] = False,
    wait: Annotated[
        float, typer.Option(help="bulk: seconds to follow the runs to CANCELLED (0: don't)")
    ] = 120.0,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """Cancel one run by id, or every run matching --state/--tag (bulk)."""
    bulk = bool(state or tag)
    if bulk == (flow_run_id is not None):
        err.print("error: give a flow run id, or --state/--tag to cancel in bulk (not both)")
        raise typer.Exit(2)
    with connect(api_url, api_token) as client:
        if flow_run_id is None:
            from services.cli.flow_run_bulk import bulk_cancel

            ok = bulk_cancel(
                client,
                states=state or [],
                tags=tag or [],
                reason=reason,
                grace=grace,
                yes=yes,
                wait=wait,
                as_json=as_json,
                out=out,
                err=err,
            )
            raise typer.Exit(0 if ok else 1)
        _cancel_one(client, flow_run_id, reason, grace, as_json)


def _cancel_one(
    client: SyncCancelbusClient,
    run_id: UUID,
    reason: str | None,
    grace: float | None,
    as_json: bool,
) -> None:
    try:
        result = client.cancel(run_id, reason=reason, grace_seconds=grace, requested_by="cli")
    except Aborted as exc:
        if as_json:
            dump({"flow_run_id": str(run_id), "status": "ABORT", "reason": exc.reason})
        else:
            err.print(f"Flow run {run_id} was not cancelled: {exc.reason}")
        raise typer.Exit(1) from None
    if as_json:
        dump({"flow_run_id": str(run_id), **result.model_dump(mode="json")})
    if result.status is not Status.ACCEPT or result.state is None:
        if not as_json:
            err.print(f"Flow run {run_id} was not cancelled ({result.status}): {result.reason}")
        raise typer.Exit(1)
    if as_json:
        return
    if result.state.type is StateType.CANCELLING:
        out.print(f"Flow run {run_id} scheduled for cancellation (CANCELLING).")
    else:
        detail = f": {result.state.message}" if result.state.message else ""
        out.print(f"Flow run {run_id} is {result.state.type.value}{detail}")


@app.command("ls")
def list_runs(
    state: States = None,
    tag: Tags = None,
    limit: Annotated[int, typer.Option(help="show at most this many", min=1, max=200)] = 20,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """List runs, newest first."""
    with connect(api_url, api_token) as client:
        runs = client.read_flow_runs(
            flow_run_filter(states=state or [], tags=tag or [], limit=limit)
        )
    if as_json:
        dump(runs)
    elif not runs:
        out.print("No flow runs found.")
    else:
        out.print(runs_table(runs))


@app.command()
def inspect(
    flow_run_id: Annotated[UUID, typer.Argument(help="the run")],
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """A run, its state history and every cancellation attempt."""
    with connect(api_url, api_token) as client:
        run = client.read_flow_run(flow_run_id)
        states = client.states(flow_run_id)
        attempts = client.cancellation_history(flow_run_id)
    if as_json:
        dump(
            {
                "flow_run": run.model_dump(mode="json"),
                "states": [s.model_dump(mode="json") for s in states],
                "cancellation": [a.model_dump(mode="json") for a in attempts],
            }
        )
    else:
        show_inspect(out, run, states, attempts)


@app.command()
def watch(
    flow_run_id: Annotated[UUID, typer.Argument(help="the run")],
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """Follow a run's state live until it is terminal."""
    with connect(api_url, api_token) as client:
        connected_once = False
        while True:
            try:
                for event in client.events(flow_run_id):
                    connected_once = True
                    show_event(out, event, as_json)
                    if is_terminal(event):
                        return
            except Unavailable:
                if not connected_once:
                    raise
            time.sleep(0.5)  # the service restarted: reconnect; the first event is the run
