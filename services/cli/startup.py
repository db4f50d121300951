"""What a service's subcommand does before the service starts: logging, and bad settings."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console


def start_logging(verbose: bool) -> None:
    """Structured logs on stderr; debug level with `--verbose`."""
    from services.runtime.logs import LogSettings, configure_logging

    configure_logging(LogSettings(), verbose=verbose)


def settings_exit(exc: ValidationError) -> typer.Exit:
    """Print each invalid setting by its environment variable; the exit (code 2) to raise."""
    err = Console(stderr=True)
    for error in exc.errors(include_url=False):
        name = "CANCELBUS_" + "_".join(str(p) for p in error["loc"]).upper()
        err.print(f"[red]error:[/] {name}: {error['msg']}")
    return typer.Exit(2)
