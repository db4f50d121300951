"""How `cancelbus automation` shows rules, their firings and a dry run's runs."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from schemas.automations import (
    Action,
    Automation,
    AutomationFiring,
    CancelFlowRunAction,
    CompoundTrigger,
    EventTrigger,
    FiringOutcome,
    Posture,
    ResourceSpecification,
    Trigger,
)
from services.cli.flow_run_views import when

OUTCOME_STYLES = {
    FiringOutcome.ACTED: "green",
    FiringOutcome.NOTHING_TO_DO: "grey50",
    FiringOutcome.FAILED: "red",
}


def seconds(within: timedelta | None) -> str:
    return "-" if within is None else f"{within.total_seconds():g} s"


def _spec(spec: ResourceSpecification) -> str:
    return ", ".join(
        f"{label}={'|'.join(value) if isinstance(value, list) else value}"
        for label, value in sorted(spec.items())
    )


def describe_trigger(trigger: Trigger, indent: str = "") -> str:
    """One line per trigger: what it counts, where, and when it fires."""
    if isinstance(trigger, EventTrigger):
        expect = ", ".join(sorted(trigger.expect)) or "any event"
        if trigger.posture is Posture.REACTIVE:
            text = f"{indent}Reactive: {trigger.threshold} of {expect}"
        else:
            text = f"{indent}Proactive: fewer than {trigger.threshold} of {expect}"
        if trigger.within:
            text += f" within {seconds(trigger.within)}"
        if trigger.after:
            text += f" after {', '.join(sorted(trigger.after))}"
        if trigger.match:
            text += f"\n{indent}  match {_spec(trigger.match)}"
        for related in trigger.match_related_list():
            text += f"\n{indent}  related {_spec(related)}"
        if trigger.for_each:
            text += f"\n{indent}  for each {', '.join(sorted(trigger.for_each))}"
        return text
    if isinstance(trigger, CompoundTrigger):
        head = f"{indent}Compound: {trigger.require} of {len(trigger.triggers)}"
    else:
        head = f"{indent}Sequence of {len(trigger.triggers)}"
    if trigger.within is not None:
        head += f" within {seconds(trigger.within)}"
    children = [describe_trigger(child, indent + "  ") for child in trigger.triggers]
    return "\n".join([head, *children])


def describe_action(action: Action) -> str:
    if isinstance(action, CancelFlowRunAction):
        return "Cancel the flow run"
    forced = " (forced)" if action.force else ""
    return f"Change the flow run's state to {action.state.value}{forced}"


def all_actions(automation: Automation) -> list[str]:
    lines = [describe_action(a) for a in automation.actions]
    lines += [f"(on trigger) {describe_action(a)}" for a in automation.actions_on_trigger]
    lines += [f"(on resolve) {describe_action(a)}" for a in automation.actions_on_resolve]
    return lines


def enabled_text(enabled: bool) -> Text:
    return Text("enabled", style="green") if enabled else Text("paused", style="yellow")


def automations_table(automations: list[Automation]) -> Table:
    table = Table(title="Automations", title_justify="left", show_lines=True)
    for column in ("Automation", "Enabled", "Trigger", "Actions"):
        table.add_column(column, overflow="fold")
    for automation in automations:
        who = Text(automation.name, style="bold")
        who.append(f"\n{automation.id}", style="cyan")
        if automation.description:
            who.append(f"\n{automation.description}")
        table.add_row(
            who,
            enabled_text(automation.enabled),
            describe_trigger(automation.trigger),
            "\n".join(all_actions(automation)),
        )
    return table


def automation_panel(automation: Automation) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("id", str(automation.id)),
        ("status", enabled_text(automation.enabled)),
        ("description", automation.description or "-"),
        ("tags", ", ".join(automation.tags) or "-"),
        ("trigger", describe_trigger(automation.trigger)),
        ("actions", "\n".join(all_actions(automation))),
        ("created", when(automation.created)),
        ("updated", when(automation.updated)),
    ]
    if automation.owner_resource:
        rows.append(("owner", automation.owner_resource))
    for key, value in rows:
        grid.add_row(key, value)
    return Panel(grid, title=f"Automation {automation.name}", title_align="left")


def firings_table(firings: list[AutomationFiring]) -> Table | Text:
    if not firings:
        return Text("No firings yet.")
    table = Table(title="Last firings", title_justify="left")
    for column in ("Fired", "Action", "Flow run", "Outcome", "Detail"):
        table.add_column(column, overflow="fold")
    for firing in firings:
        table.add_row(
            when(firing.fired_at),
            f"{firing.action_index}: {firing.action_type}",
            str(firing.flow_run_id) if firing.flow_run_id else "-",
            Text(firing.outcome.value, style=OUTCOME_STYLES.get(firing.outcome, "")),
            firing.detail or "",
        )
    return table


def inspect_view(automation: Automation, firings: list[AutomationFiring]) -> Group:
    return Group(automation_panel(automation), firings_table(firings))
