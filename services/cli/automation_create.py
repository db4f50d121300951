"""`cancelbus automation create` and `preview`: rules from a file, and the runs a rule would act
on now (a dry run, so a too-broad rule is seen before it cancels anything)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Group
from rich.text import Text

from schemas.automations import AutomationCore, AutomationPreview
from services.cli.automation_files import FileRefused, Parsed, read_file, read_text
from services.cli.automation_lookup import Output, find, json_wanted
from services.cli.flow_run import ApiToken, ApiUrl, Json, connect, err, out
from services.cli.flow_run_views import dump, runs_table
from services.client import ApiError, SyncCancelbusClient, flow_run_filter

FromFile = Annotated[
    Path | None,
    typer.Option(
        "--from-file",
        "-f",
        help='a YAML or JSON file: one automation, a list, or {"automations": [...]}',
        show_default=False,
    ),
]
FromJson = Annotated[
    str | None,
    typer.Option("--from-json", "-j", help="the same as JSON text", show_default=False),
]


def _load(from_file: Path | None, from_json: str | None) -> list[Parsed]:
    if (from_file is None) == (from_json is None):
        err.print("error: give --from-file or --from-json (one of them)")
        raise typer.Exit(2)
    try:
        if from_file is not None:
            return read_file(from_file)
        assert from_json is not None
        return read_text(from_json, json_only=True, source="--from-json")
    except FileRefused as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


def _refused(parsed: list[Parsed]) -> list[Parsed]:
    bad = [p for p in parsed if p.automation is None]
    for entry in bad:
        err.print(f"error: {entry.label} is not a valid automation: {entry.problem}")
    return bad


def create(
    from_file: FromFile = None,
    from_json: FromJson = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="create nothing: list the runs each would act on now")
    ] = False,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    output: Output = None,
    as_json: Json = False,
) -> None:
    """Create automations from a file (Prefect's format); exits 1 if any was refused."""
    as_json = json_wanted(as_json, output)
    parsed = _load(from_file, from_json)
    bad = _refused(parsed)
    good = [p for p in parsed if p.automation is not None]
    if dry_run:
        with connect(api_url, api_token) as client:
            _show_previews(client, [(p.label, p.automation) for p in good if p.automation], as_json)
        raise typer.Exit(1 if bad else 0)
    created: list[dict[str, Any]] = []
    with connect(api_url, api_token) as client:
        for entry in good:
            assert entry.automation is not None
            try:
                automation = client.create_automation(entry.automation)
            except ApiError as exc:  # refused by the service: say which, go on with the rest
                err.print(f"error: {entry.label} was refused: {exc}")
                bad.append(entry)
                continue
            created.append(automation.model_dump(mode="json"))
            if not as_json:
                state = "" if automation.enabled else " (paused)"
                out.print(f"Created automation {automation.name!r} with id {automation.id}{state}")
    if as_json:
        dump(created)
    if bad:
        err.print(f"{len(bad)} of {len(parsed)} automation(s) not created.")
    raise typer.Exit(1 if bad else 0)


def preview(
    name: Annotated[str | None, typer.Argument(help="a stored automation's name")] = None,
    automation_id: Annotated[UUID | None, typer.Option("--id", help="a stored automation")] = None,
    from_file: FromFile = None,
    from_json: FromJson = None,
    api_url: ApiUrl = None,
    api_token: ApiToken = None,
    output: Output = None,
    as_json: Json = False,
) -> None:
    """The runs a rule would act on now: from a file (not created), or a stored one."""
    as_json = json_wanted(as_json, output)
    given = [v for v in (name, automation_id, from_file, from_json) if v is not None]
    if len(given) != 1:
        err.print("error: give one of NAME, --id, --from-file or --from-json")
        raise typer.Exit(2)
    if from_file is not None or from_json is not None:
        parsed = _load(from_file, from_json)
        bad = _refused(parsed)
        rules = [(p.label, p.automation) for p in parsed if p.automation is not None]
        with connect(api_url, api_token) as client:
            _show_previews(client, rules, as_json)
        raise typer.Exit(1 if bad else 0)
    with connect(api_url, api_token) as client:
        stored = find(client, name, automation_id)
        _show_previews(client, [(repr(a.name), a) for a in stored], as_json)


def _show_previews(
    client: SyncCancelbusClient,
    rules: Sequence[tuple[str, AutomationCore]],
    as_json: bool,
) -> None:
    answers = [(label, rule, client.preview(rule)) for label, rule in rules]
    if as_json:
        dump([{"name": rule.name, **answer.model_dump(mode="json")} for _, rule, answer in answers])
        return
    for label, _rule, answer in answers:
        out.print(_preview_view(client, label, answer))


def _preview_view(
    client: SyncCancelbusClient, label: str, answer: AutomationPreview
) -> Group | Text:
    if not answer.flow_run_ids:
        return Text(f"{label} would act on no run now.")
    shown = len(answer.flow_run_ids)
    more = f" (showing {shown})" if answer.truncated or answer.matched > shown else ""
    runs = client.read_flow_runs(flow_run_filter(ids=answer.flow_run_ids, limit=200))
    head = Text(f"{label} would act on {answer.matched} run(s) now{more}:")
    return Group(head, runs_table(runs))
