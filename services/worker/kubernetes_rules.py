"""Pure decisions of the Kubernetes kind: what an API answer means and what a Job shows.

No I/O and no client library here, so each rule can be property-tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from uuid import UUID

from schemas.markers import FLOW_RUN_LABEL, named_run_id

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
    run_id, _ = named_run_id(labels, (FLOW_RUN_LABEL,))
    return run_id


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
