"""`cancelbus automation`: list, inspect, create, pause, resume, delete and dry-run rules.

The same names, files and lookups as `prefect automation` (an automation by NAME, or `--id`).
Exit codes: 0 done, 1 refused or not found (one line on stderr), 2 a wrong command line.
"""

from __future__ import annotations

import sys
from typing import Annotated
from uuid import UUID

import typer

from schemas.automations import Automation, AutomationFilter
from services.cli.automation_create import create, preview
from services.cli.automation_lookup import Output, find, json_wanted
from services.cli.automation_views import automations_table, inspect_view
from services.cli.flow_run import ApiToken, ApiUrl, Json, connect, err, out
from services.cli.flow_run_views import dump

app = typer.Typer(help="Rules that cancel runs (Prefect's automations).", no_args_is_help=True)

Name = Annotated[str | None, typer.Argument(help="the automation's name", show_default=False)]
Id = Annotated[UUID | None, typer.Option("--id", help="the automation's id (instead of a name)")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask first")]
PAGE = 200


def _ids(automations: list[Automation]) -> str:
    return ", ".join(str(a.id) for a in automations)


def _confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; scripts (no terminal) and --yes go ahead, as Prefect's CLI does."""
    if yes or not sys.stdin.isatty():
        return
    if not typer.confirm(question, default=False):
        err.print("Aborted.")
        raise typer.Exit(1)


@app.command("ls")
def list_automations(
    output: Output = None,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """List every automation, by name."""
    with connect(api_url, api_token) as client:
        automations: list[Automation] = []
        while page := client.read_automations(AutomationFilter(offset=len(automations))):
            automations += page
            if len(page) < PAGE:
                break
    if json_wanted(as_json, output):
        dump(automations)
    elif not automations:
        out.print("No automations found.")
    else:
        out.print(automations_table(automations))


@app.command()
def inspect(
    name: Name = None,
    automation_id: Id = None,
    firings: Annotated[
        int, typer.Option(help="show this many of its last firings", min=0, max=200)
    ] = 10,
    output: Output = None,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    as_json: Json = False,
) -> None:
    """An automation (or every one with this name) and what it did last."""
    with connect(api_url, api_token) as client:
        found = find(client, name, automation_id)
        shown = [(a, client.firings(a.id, firings) if firings else []) for a in found]
    if json_wanted(as_json, output):
        views = [
            {
                "automation": a.model_dump(mode="json"),
                "firings": [f.model_dump(mode="json") for f in fs],
            }
            for a, fs in shown
        ]
        dump(views[0] if automation_id is not None else views)
        return
    for automation, its_firings in shown:
        out.print(inspect_view(automation, its_firings[:firings]))


app.command("create")(create)


def _set_enabled(
    name: str | None,
    automation_id: UUID | None,
    enabled: bool,
    yes: bool,
    api_url: str | None,
    api_token: str | None,
) -> None:
    verb = "resume" if enabled else "pause"
    with connect(api_url, api_token) as client:
        found = find(client, name, automation_id)
        if len(found) > 1:
            _confirm(f"{len(found)} automations are named {name!r}: {verb} them all?", yes)
        for automation in found:
            if enabled:
                client.resume_automation(automation.id)
            else:
                client.pause_automation(automation.id)
    done = "Resumed" if enabled else "Paused"
    label = f"{name!r} " if automation_id is None else ""
    out.print(f"{done} automation {label}({_ids(found)}).")


@app.command()
def pause(
    name: Name = None,
    automation_id: Id = None,
    yes: Yes = False,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
) -> None:
    """Stop an automation from firing (it stays stored; `resume` turns it back on)."""
    _set_enabled(name, automation_id, False, yes, api_url, api_token)


@app.command()
def resume(
    name: Name = None,
    automation_id: Id = None,
    yes: Yes = False,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
) -> None:
    """Let a paused automation fire again."""
    _set_enabled(name, automation_id, True, yes, api_url, api_token)


@app.command()
def delete(
    name: Name = None,
    automation_id: Id = None,
    yes: Yes = False,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
) -> None:
    """Delete an automation (by name only if the name is unique)."""
    with connect(api_url, api_token) as client:
        found = find(client, name, automation_id)
        if len(found) > 1:
            err.print(
                f"error: {len(found)} automations are named {name!r} ({_ids(found)}): give --id"
            )
            raise typer.Exit(1)
        automation = found[0]
        _confirm(f"Delete automation {automation.name!r} ({automation.id})?", yes)
        client.delete_automation(automation.id)
    out.print(f"Deleted automation {automation.name!r} ({automation.id}).")


app.command("preview")(preview)
