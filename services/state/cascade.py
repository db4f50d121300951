"""Cascading cancellation, in the transaction of the change that causes it: a run that is
cancelled cancels its open descendants at once (children, grandchildren, ..., a level per
query), and a child created, linked or started under a cancelled parent is cancelled too.
The rules are in cascade_rules.py; each cancellation goes through orchestration as any other.

Locks: a cascade locks the parent, then its children, level by level. A child starting reads
its parent unlocked: the child's own lock orders it against the parent's cascade (which waits
for it, then sees it started). A child created or linked locks its parent, since the
cascade cannot see, and so cannot wait for, a row not yet committed.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from sqlalchemy.engine import Connection

from services.state import store
from services.state.cascade_rules import OPEN_TYPES, CascadePolicy, stops_child
from services.state.changes import Changes
from services.state.rows import LockedRun
from services.state.settings import OrchestrationSettings

_OPEN = tuple(state_type.value for state_type in OPEN_TYPES)

# cancels a child because of its parent (child, parent id, the parent's grace seconds)
CancelChild = Callable[[LockedRun, UUID, float | None], object]


def policy_of(settings: OrchestrationSettings) -> CascadePolicy:
    return CascadePolicy(
        enabled=settings.cascade_cancel,
        no_cascade_deployments=frozenset(settings.no_cascade_deployments),
        no_cascade_tags=frozenset(settings.no_cascade_tags),
    )


class Cascade:
    def __init__(self, policy: CascadePolicy) -> None:
        self.policy = policy

    def cancelled(self, run: LockedRun, grace_seconds: float | None, changes: Changes) -> None:
        """`run` has just been cancelled: its children are to be, unless it does not cascade."""
        if self.policy.cascades(run.tags, run.deployment_id):
            changes.cascading[run.id] = grace_seconds

    def cancel_descendants(self, conn: Connection, changes: Changes, cancel: CancelChild) -> None:
        """Cancel the open children of every run cancelled in this transaction, then theirs,
        until a level has none."""
        if not changes.cascading:
            return
        # runs this transaction changed already: the database does not show it yet
        done = {run.id for run in changes.runs}
        while changes.cascading:
            parents = dict(changes.cascading)
            changes.cascading.clear()
            for child in store.lock_children(conn, list(parents), _OPEN):
                parent_id = child.parent_flow_run_id
                if child.id in done or parent_id is None:
                    continue
                done.add(child.id)
                cancel(child, parent_id, parents[parent_id])

    def stops(self, parent: LockedRun) -> bool:
        """Whether a child created, linked or started under `parent` is cancelled at once."""
        return stops_child(self.policy, parent.current_type(), parent.tags, parent.deployment_id)
