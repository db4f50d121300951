"""Which automations a command means (`--id`, or every one with the name given), and how to
show them (`--json`, or Prefect's `--output json`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

import typer

from schemas.automations import Automation
from services.cli.flow_run import err
from services.client import SyncCancelbusClient


def find(
    client: SyncCancelbusClient, name: str | None, automation_id: UUID | None
) -> list[Automation]:
    """The automation with this id, or every one with this name; exits if there is none."""
    if (name is None) == (automation_id is None):
        err.print("error: give an automation's name, or --id (not both)")
        raise typer.Exit(2)
    if automation_id is not None:
        return [client.read_automation(automation_id)]
    assert name is not None
    found = client.read_automations_by_name(name)
    if not found:
        err.print(f"error: no automation is named {name!r} (you can also give --id)")
        raise typer.Exit(1)
    return found


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


Output = Annotated[
    OutputFormat | None,
    typer.Option("--output", "-o", help="json: the same as --json", case_sensitive=False),
]


def json_wanted(as_json: bool, output: OutputFormat | None) -> bool:
    return as_json or output is OutputFormat.JSON
