"""How a run's infrastructure names its flow run: a launcher writes these, a worker reads them.

A process carries the run's id in its environment, a container or Job in a label; Prefect's
own names are read as well, so runs Prefect started are recognised too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

FLOW_RUN_ID_ENV = "CANCELBUS_FLOW_RUN_ID"
PREFECT_FLOW_RUN_ID_ENV = "PREFECT__FLOW_RUN_ID"
# the environment variables a worker reads, first match wins
RUN_MARKERS = (FLOW_RUN_ID_ENV, PREFECT_FLOW_RUN_ID_ENV)

FLOW_RUN_LABEL = "io.cancelbus.flow-run-id"
PREFECT_FLOW_RUN_LABEL = "io.prefect.flow-run-id"
# the container labels a worker reads, first match wins
RUN_LABELS = (FLOW_RUN_LABEL, PREFECT_FLOW_RUN_LABEL)


def named_run_id(
    values: Mapping[str, str] | None, names: Sequence[str], *, what: str = ""
) -> tuple[UUID | None, str | None]:
    """The run id under the first of `names` set in `values`, or (None, why not).

    `what` prefixes the reason ("label " for labels), which is None when no name is set.
    """
    for name in names:
        value = (values or {}).get(name)
        if value:
            try:
                return UUID(value), None
            except ValueError:
                return None, f"{what}{name}={value[:64]!r} is not a flow-run id"
    return None, None
