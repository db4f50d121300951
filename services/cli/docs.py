"""`cancelbus docs`: machine-readable descriptions of cancelbus's interfaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Documents generated from the code.", no_args_is_help=True)


@app.command("asyncapi")
def asyncapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    partitions: Annotated[int, typer.Option(help="partitions per topic to state", min=1)] = 6,
) -> None:
    """The AsyncAPI 3.0 document of the Kafka topics and every message's JSON Schema."""
    from services.cli.asyncapi import asyncapi_document

    text = json.dumps(asyncapi_document(partitions), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)
