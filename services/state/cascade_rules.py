"""Cascading cancellation's rules: when cancelling a run cancels its children, and when a
child is cancelled because of its parent. Pure: standard library and schemas only.

"Cancelled" here means CANCELLING or CANCELLED, not terminal: a COMPLETED or FAILED parent
may legitimately leave children running on their own (a detached subflow, a fire-and-forget
job), so only a cancellation cascades and only a cancelled parent stops a child starting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from schemas.flow_runs import NO_CASCADE_TAG
from schemas.states import StateType

CANCEL_TYPES = frozenset({StateType.CANCELLING, StateType.CANCELLED})
# the states a child may still leave when its parent is cancelled: cancelled with it
OPEN_TYPES = frozenset(
    {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED}
)
# proposing one of these under a cancelled parent gets the child cancelled instead
STARTING_TYPES = frozenset({StateType.PENDING, StateType.RUNNING})

CASCADE_PREFIX = "cascade:"


@dataclass(frozen=True, slots=True)
class CascadePolicy:
    """Whether a cancelled run's cancellation reaches its children (settings: on, except for
    the deployments and tags named; a run tagged `cancelbus.no-cascade` never cascades)."""

    enabled: bool = True
    no_cascade_deployments: frozenset[UUID] = frozenset()
    no_cascade_tags: frozenset[str] = frozenset()

    def cascades(self, tags: Iterable[str], deployment_id: UUID | None) -> bool:
        """Whether cancelling a run with these tags and deployment cancels its children."""
        if not self.enabled or deployment_id in self.no_cascade_deployments:
            return False
        return not any(tag == NO_CASCADE_TAG or tag in self.no_cascade_tags for tag in tags)


def enters_cancellation(previous: StateType | None, new: StateType) -> bool:
    """A change that cancels a run (once: CANCELLING -> CANCELLED has cascaded already)."""
    return new in CANCEL_TYPES and previous not in CANCEL_TYPES


def is_open(state_type: StateType | None) -> bool:
    """A run a parent's cancellation still has to cancel (a run with no state yet is too)."""
    return state_type is None or state_type in OPEN_TYPES


def stops_child(
    policy: CascadePolicy,
    parent_type: StateType | None,
    parent_tags: Iterable[str],
    parent_deployment_id: UUID | None,
) -> bool:
    """Whether a child created, linked or started under this parent is cancelled at once."""
    return parent_type in CANCEL_TYPES and policy.cascades(parent_tags, parent_deployment_id)


def requested_by(parent_id: UUID) -> str:
    """Who asked, as the child's cancellation history shows it."""
    return f"{CASCADE_PREFIX}{parent_id}"


def reason(parent_id: UUID) -> str:
    return f"Parent flow run {parent_id} was cancelled"


def state_message(parent_id: UUID, rule_message: str | None) -> str:
    """The child's new state's message: the parent first, then what the rules add (that
    the run had not started, that nothing can stop its infrastructure)."""
    because = reason(parent_id)
    return f"{because}; {rule_message}" if rule_message else because


def would_cycle(run_id: UUID, parent_id: UUID, parent_of: Callable[[UUID], UUID | None]) -> bool:
    """Whether making `parent_id` the parent of `run_id` would make the run its own ancestor:
    the run is the parent, or one of the parent's ancestors (`parent_of` names each run's
    parent). An ancestry that loops already ends the walk rather than spinning."""
    seen: set[UUID] = set()
    current: UUID | None = parent_id
    while current is not None and current not in seen:
        if current == run_id:
            return True
        seen.add(current)
        current = parent_of(current)
    return False
