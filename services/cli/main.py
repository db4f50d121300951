"""The `cancelbus` command: one subcommand per service, plus dev tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from services.cli.automation import app as automation_app
from services.cli.docs import app as docs_app
from services.cli.flow_run import app as flow_run_app
from services.cli.kafka import app as kafka_app
from services.cli.run import app as run_app
from services.cli.startup import settings_exit, start_logging
from services.cli.worker import app as worker_app
from services.runtime.runner import run

app = typer.Typer(
    name="cancelbus",
    help="Cancel running workflow runs wherever they run, through events on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kafka_app, name="kafka", help="A local Apache Kafka broker for development.")
app.add_typer(worker_app, name="worker")
app.add_typer(run_app, name="run")
app.add_typer(flow_run_app, name="flow-run")
app.add_typer(automation_app, name="automation")
app.add_typer(docs_app, name="docs")
schemas_app = typer.Typer(help="The wire contract.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

console = Console()


@app.command()
def state(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
    verbose: bool = False,
) -> None:
    """Run the state service: REST API, consumers and the outbox relay."""
    from services.state.main import run_state_service
    from services.state.settings import StateSettings

    start_logging(verbose)
    try:
        settings = StateSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    run(run_state_service(settings))


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 4300,
    verbose: bool = False,
) -> None:
    """Run every service in one process (SQLite, in-process bus unless Kafka is configured)."""
    from services.dev.main import run_dev
    from services.state.settings import StateSettings
    from services.timeout.settings import TimeoutSettings, settings_error

    start_logging(verbose)
    try:
        settings = StateSettings(host=host, port=port)
    except ValidationError as exc:
        raise settings_exit(exc) from None
    try:
        timeout_settings = TimeoutSettings()
    except ValidationError as exc:
        typer.echo(f"error: {settings_error(exc)}", err=True)
        raise typer.Exit(2) from None
    run(run_dev(settings, console, timeout_settings))


@app.command()
def timeout(verbose: bool = False) -> None:
    """Run the timeout service: force runs still CANCELLING after the cancelling timeout."""
    from services.timeout.main import run_timeout_service
    from services.timeout.settings import TimeoutSettings, settings_error

    start_logging(verbose)
    try:
        settings = TimeoutSettings()
    except ValidationError as exc:
        typer.echo(f"error: {settings_error(exc)}", err=True)
        raise typer.Exit(2) from None
    run(run_timeout_service(settings), use_uvloop=False)


@app.command()
def automations(verbose: bool = False) -> None:
    """Run the automations service: rules over events that cancel runs (scale by replicas)."""
    from services.automations.main import run_automations_service
    from services.automations.settings import AutomationsSettings

    start_logging(verbose)
    try:
        settings = AutomationsSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    run(run_automations_service(settings))


@schemas_app.command("export")
def export_schemas(
    directory: Annotated[Path, typer.Argument(help="where to write <schema>.json")] = Path(
        "schemas-json"
    ),
) -> None:
    """Write the JSON Schema of every message."""
    from schemas.catalog import json_schemas

    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        console.print(f"wrote {path}")
