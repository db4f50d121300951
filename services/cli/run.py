"""`cancelbus run <kind>`: launch a process (container, Job) as a tracked flow run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from pydantic import ValidationError

from services.cli.startup import settings_exit, start_logging

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any, TypeVar

    from services.launcher.api import Parent
    from services.launcher.settings import LauncherSettings

    T = TypeVar("T")

app = typer.Typer(help="Launch a process as a tracked flow run that cancelbus can cancel.")

ParentOption = Annotated[
    UUID | None,
    typer.Option(
        "--parent",
        help="the run's parent: cancelling it cancels this run (default: the run this "
        "command runs inside, by CANCELBUS_FLOW_RUN_ID or PREFECT__FLOW_RUN_ID)",
    ),
]
NoParentOption = Annotated[
    bool, typer.Option("--no-parent", help="do not link the run to the run this one runs inside")
]


def _parent(settings: LauncherSettings, named: UUID | None, detached: bool) -> Parent | None:
    """The parent named, else the run this command runs inside (if known to the API)."""
    from services.launcher.api import Parent

    if named is not None:
        return Parent(named)
    if detached:
        return None
    enclosing, why_not = settings.enclosing_run()
    if why_not is not None:
        typer.echo(f"warning: {why_not}; the run gets no parent", err=True)
    return Parent(enclosing, inherited=True) if enclosing is not None else None


def _launch(launch: Coroutine[Any, Any, T]) -> T:
    """Run a launch; the API refusing it (an unknown --parent, ...) is one line, exit 2."""
    import httpx

    try:
        return asyncio.run(launch)
    except httpx.HTTPStatusError as exc:
        detail = exc.response.text
        with contextlib.suppress(ValueError):
            body = exc.response.json()
            if isinstance(body, dict) and "detail" in body:
                detail = str(body["detail"])
        typer.echo(f"error: the API answered {exc.response.status_code}: {detail}", err=True)
        raise typer.Exit(2) from None


@app.command("process", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_process(
    command: Annotated[list[str], typer.Argument(help="the command and its arguments")],
    name: Annotated[str | None, typer.Option(help="the flow run's name")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="a tag (repeatable)")] = None,
    scope: Annotated[
        str | None, typer.Option(help="this host's scope (default: CANCELBUS_WORKER_SCOPE)")
    ] = None,
    parent: ParentOption = None,
    no_parent: NoParentOption = False,
    verbose: bool = False,
) -> None:
    """Run CMD ARGS... (after `--`) as a flow run; exit with its exit code (130 if cancelled)."""
    from services.launcher.process import launch_process
    from services.launcher.settings import LauncherSettings

    start_logging(verbose)
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = LauncherSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    result = _launch(
        launch_process(
            command,
            api_url=settings.api_url,
            name=name,
            tags=tag or [],
            scope=scope or settings.worker_scope,
            api_token=settings.api_token,
            parent=_parent(settings, parent, no_parent),
        )
    )
    typer.echo(
        f"flow run {result.flow_run_id}: {result.state.value if result.state else 'unknown'}",
        err=True,
    )
    raise typer.Exit(result.exit_code)


@app.command(
    "kubernetes", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def run_kubernetes(
    image: Annotated[str, typer.Option(help="the container image of the Job")],
    command: Annotated[
        list[str] | None, typer.Argument(help="the command and its arguments (after --)")
    ] = None,
    namespace: Annotated[str, typer.Option(help="where to create the Job")] = "default",
    cluster: Annotated[
        str | None, typer.Option(help="the cluster's name (default: CANCELBUS_WORKER_SCOPE)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="the flow run's name")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="a tag (repeatable)")] = None,
    parent: ParentOption = None,
    no_parent: NoParentOption = False,
    verbose: bool = False,
) -> None:
    """Create a flow run and a Job labelled with its id; leave the run RUNNING."""
    from schemas.states import StateType
    from services.launcher.kubernetes import launch_job
    from services.launcher.settings import LauncherSettings

    start_logging(verbose)
    try:
        settings = LauncherSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    cluster = cluster or settings.worker_scope
    if not cluster:
        typer.echo("error: name the cluster: --cluster or CANCELBUS_WORKER_SCOPE", err=True)
        raise typer.Exit(2)
    launch = _launch(
        launch_job(
            image,
            command or [],
            api_url=settings.api_url,
            cluster=cluster,
            namespace=namespace,
            name=name,
            tags=tag or [],
            api_token=settings.api_token,
            kubernetes=settings.kubernetes,
            parent=_parent(settings, parent, no_parent),
        )
    )
    typer.echo(f"flow run {launch.flow_run_id}: {launch.state.value} {launch.infrastructure}")
    raise typer.Exit(0 if launch.state is StateType.RUNNING else 1)


@app.command("docker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_docker(
    image: Annotated[str, typer.Argument(help="the image to run")],
    command: Annotated[
        list[str] | None, typer.Argument(help="the command and its arguments (after --)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="the flow run's name")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="a tag (repeatable)")] = None,
    network: Annotated[str, typer.Option(help="the container's network")] = "none",
    env: Annotated[list[str] | None, typer.Option(help="KEY=VALUE for the container")] = None,
    keep: Annotated[bool, typer.Option(help="keep the container after it exits")] = False,
    scope: Annotated[
        str | None, typer.Option(help="the engine's scope (default: its engine ID)")
    ] = None,
    parent: ParentOption = None,
    no_parent: NoParentOption = False,
    verbose: bool = False,
) -> None:
    """Run IMAGE [-- CMD ARGS...] as a flow run; exit with its exit code (130 if cancelled)."""
    from services.launcher.docker import launch_container
    from services.launcher.settings import LauncherSettings

    start_logging(verbose)
    try:
        settings = LauncherSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    result = _launch(
        launch_container(
            image,
            command or [],
            api_url=settings.api_url,
            name=name,
            tags=tag or [],
            docker=settings.docker,
            scope=scope,
            env=dict(item.partition("=")[::2] for item in env or []),
            network=network,
            api_token=settings.api_token,
            remove=not keep,
            parent=_parent(settings, parent, no_parent),
        )
    )
    typer.echo(
        f"flow run {result.flow_run_id}: {result.state.value if result.state else 'unknown'}",
        err=True,
    )
    raise typer.Exit(result.exit_code)
