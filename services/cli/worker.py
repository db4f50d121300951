"""`cancelbus worker <kind>`: run the worker that stops runs of one kind in one scope."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from services.cli.startup import settings_exit, start_logging
from services.runtime.runner import run

app = typer.Typer(help="Run a worker that stops the runs of one infrastructure kind.")


@app.command("process")
def process_worker(
    scope: Annotated[
        str | None, typer.Option(help="the scope to serve (default: this host's name)")
    ] = None,
    verbose: bool = False,
) -> None:
    """Stop local processes of this host: SIGTERM the tree, wait the grace, SIGKILL the rest."""
    from services.worker.main import run_worker
    from services.worker.process import ProcessInfrastructure
    from services.worker.settings import WorkerSettings

    start_logging(verbose)
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    infrastructure = ProcessInfrastructure(scope or settings.worker_scope)
    run(run_worker(settings, infrastructure), use_uvloop=False)


@app.command("kubernetes")
def kubernetes_worker(
    scope: Annotated[
        str | None,
        typer.Option(help="the cluster name it serves (default: CANCELBUS_WORKER_SCOPE)"),
    ] = None,
    verbose: bool = False,
) -> None:
    """Delete the Jobs of cancelled runs in one cluster (checked against its kube-system UID)."""
    from services.worker.kubernetes import ClusterIdentityError, KubernetesJobs
    from services.worker.main import run_worker
    from services.worker.settings import WorkerSettings

    start_logging(verbose)
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None
    cluster = scope or settings.worker_scope
    if not cluster:
        typer.echo("error: name the cluster: --scope or CANCELBUS_WORKER_SCOPE", err=True)
        raise typer.Exit(2)

    async def main() -> None:
        jobs = await KubernetesJobs.connect(cluster, settings.kubernetes)
        try:
            await run_worker(settings, jobs)
        finally:
            await jobs.close()

    try:
        run(main(), use_uvloop=False)
    except ClusterIdentityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("docker")
def docker_worker(
    scope: Annotated[
        str | None,
        typer.Option(help="the scope it serves (default: the engine ID `docker info` shows)"),
    ] = None,
    verbose: bool = False,
) -> None:
    """Stop the containers of cancelled runs on one Docker engine (DOCKER_HOST)."""
    from services.worker.docker import DockerInfrastructure
    from services.worker.main import run_worker
    from services.worker.settings import WorkerSettings

    start_logging(verbose)
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        raise settings_exit(exc) from None

    async def main() -> None:
        infrastructure = await DockerInfrastructure.connect(
            settings.docker, scope=scope or settings.worker_scope
        )
        try:
            await run_worker(settings, infrastructure)
        finally:
            infrastructure.close()

    run(main(), use_uvloop=False)
