"""`cancelbus kafka`: a real local Apache Kafka broker for development, no Docker needed."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from services.localinfra import DEFAULT_KAFKA_VERSION, InfraStartError, KafkaBroker
from services.localinfra import ensure_kafka_jars as _ensure_kafka_jars

app = typer.Typer(
    help="Run a local single-node Apache Kafka broker (KRaft) from Maven Central's jars.",
    no_args_is_help=True,
)

VersionOption = Annotated[str, typer.Option("--version", help="Apache Kafka version.")]


def _fetch(console: Console, version: str) -> Path:
    with console.status(f"Fetching Apache Kafka {version} (first time only)…"):
        return _ensure_kafka_jars(version, progress=lambda line: console.print(line))


@app.command()
def fetch(version: VersionOption = DEFAULT_KAFKA_VERSION) -> None:
    """Download the broker's jars into the cache, without starting it."""
    console = Console(stderr=True)
    libs = _fetch(console, version)
    console.print(f"Kafka {version} jars are in {libs}")


@app.command()
def start(
    port: Annotated[int, typer.Option(help="Client port; 0 picks a free one.")] = 9092,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the data here across restarts (default: a temporary dir)."),
    ] = None,
    version: VersionOption = DEFAULT_KAFKA_VERSION,
) -> None:
    """Start the broker in the foreground until Ctrl-C or SIGTERM."""
    console = Console(stderr=True)
    _fetch(console, version)
    broker = KafkaBroker(port=port or None, data_dir=data_dir, version=version)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with console.status("Starting Kafka…"):
            broker.start()
        console.print(f"[green]Kafka is ready at {broker.bootstrap_servers}[/green]")
        console.print(f"Data in {broker.data_dir}, broker log in {broker.log_file}")
        typer.echo(f"export CANCELBUS_KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
        console.print("Press Ctrl-C to stop.")
        while broker.running:
            time.sleep(0.5)
        console.print(f"[red]Kafka exited on its own; see {broker.log_file}[/red]")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("Stopping Kafka…")
    except InfraStartError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        broker.close()
        signal.signal(signal.SIGTERM, previous)
    console.print("Kafka stopped.")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
