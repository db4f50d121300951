"""Pure decisions of the Kubernetes kind: what an API answer means and what a Job shows.

No I/O and no client library here, so each rule can be property-tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from uuid import UUID

FLOW_RUN_LABEL = "io.cancelbus.flow-run-id"
_FINISHED_CONDITIONS = ("Complete", "Failed")


class Answer(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"  # 404: no object of that name
    CONFLICT = "conflict"  # 409: the uid precondition failed, the name is another Job's now
    FORBIDDEN = "forbidden"  # 401/403: the worker lacks a permission; retrying will not help
    TRANSIENT = "transient"  # 429/5xx: the server is busy or failing; retry with backoff
    REJECTED = "rejected"  # any other 4xx: our request is wrong


def classify(status: int) -> Answer:
    """What an HTTP status from the API server means for the worker."""
    if 200 <= status < 300:
        return Answer.OK
    if status == 404:
        return Answer.NOT_FOUND
    if status == 409:
        return Answer.CONFLICT
    if status in (401, 403):
        return Answer.FORBIDDEN
    if status == 429 or status >= 500:
        return Answer.TRANSIENT
    return Answer.REJECTED


def run_id_label(labels: Mapping[str, str] | None) -> UUID | None:
    """The flow-run id in the Job's label, None when absent or not a UUID."""
    value = (labels or {}).get(FLOW_RUN_LABEL)
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def finished_condition(conditions: list[tuple[str, str]]) -> str | None:
    """'Complete' or 'Failed' if the Job has that condition with status 'True', else None.

    A finished Job has no pod left running: there is nothing to cancel, and deleting it would
    only throw away what the user may want to read.
    """
    for kind, status in conditions:
        if kind in _FINISHED_CONDITIONS and status == "True":
            return kind
    return None


def grace_period(grace_seconds: float) -> int:
    """The whole seconds for `gracePeriodSeconds`: rounded up, so a grace is never shortened."""
    whole = int(grace_seconds)
    return whole if whole == grace_seconds else whole + 1


def backoff(failures: int, *, base: float, ceiling: float = 5.0) -> float:
    """Seconds to wait after `failures` (1-based) transient answers in a row."""
    return float(min(ceiling, base * 2 ** (failures - 1)))
