"""What a trigger's `match`, `match_related`, `expect` and `after` mean, as Prefect reads them.

Shared by the automations service (evaluating) and the state service (previewing a rule).
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.automations import EventTrigger, ResourceSpecification
from schemas.events import Event, Labels


def value_matches(expected: str, value: str | None) -> bool:
    """One expected label value, as Prefect's `matches`: a trailing `*` matches any suffix, a
    leading `!` negates; a label the resource lacks matches nothing, not even a negation."""
    if value is None:
        return False
    positive = not expected.startswith("!")
    expected = expected if positive else expected[1:]
    found = value.startswith(expected[:-1]) if expected.endswith("*") else value == expected
    return found if positive else not found


def labels_match(spec: ResourceSpecification, labels: Labels) -> bool:
    """Every label of `spec` matches (labels AND); of a list, any value (values OR)."""
    for label, expected in spec.items():
        values = [expected] if isinstance(expected, str) else expected
        if not any(value_matches(candidate, labels.get(label)) for candidate in values):
            return False
    return True


def includes(spec: ResourceSpecification, candidates: Iterable[Labels]) -> bool:
    """An empty spec matches anything; else some candidate resource must match it."""
    return not spec or any(labels_match(spec, labels) for labels in candidates)


def name_matches(pattern: str, event: str) -> bool:
    """An event name pattern (`prefect.flow-run.*`), read as a label value is."""
    return value_matches(pattern, event)


def covers_resources(trigger: EventTrigger, event: Event) -> bool:
    """The event's resource matches `match`, and each `match_related` some related resource."""
    if not includes(trigger.match, [event.resource]):
        return False
    return all(includes(spec, event.related) for spec in trigger.match_related_list())


def expects(trigger: EventTrigger, name: str) -> bool:
    """The event is one the trigger counts (an empty `expect` counts every event)."""
    return not trigger.expect or any(name_matches(p, name) for p in trigger.expect)


def starts_after(trigger: EventTrigger, name: str) -> bool:
    """The event opens a window (only when `after` names it)."""
    return any(name_matches(p, name) for p in trigger.after)


def covers(trigger: EventTrigger, event: Event) -> bool:
    """The trigger is interested in the event at all: its name is expected or opens a window,
    and its resources match."""
    interesting = expects(trigger, event.event) or starts_after(trigger, event.event)
    return interesting and covers_resources(trigger, event)


def bucket_key(trigger: EventTrigger, event: Event) -> tuple[str, ...]:
    """The bucket of the event: its values of the `for_each` labels, in sorted label order."""
    return tuple(event.label(label) or "" for label in sorted(trigger.for_each))
