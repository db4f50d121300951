"""Run by the prefect virtual environment's Python (not the project's): the unmodified
`PrefectClient` against a cancelbus state service at PREFECT_API_URL.

argv: RUNNING_RUN_ID COMPLETED_RUN_ID TAG; prints one JSON object with what it saw.
"""

import asyncio
import json
import sys
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling


async def main(running: UUID, completed: UUID, tag: str) -> dict[str, object]:
    async with get_client() as client:
        run = await client.read_flow_run(running)
        listed = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[tag]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
            )
        )
        accepted = await client.set_flow_run_state(running, Cancelling(message="from prefect"))
        aborted = await client.set_flow_run_state(completed, Cancelling())
        after = await client.read_flow_run(running)
    return {
        "read": {"name": run.name, "state": run.state.type.value if run.state else None},
        "listed": [str(r.id) for r in listed],
        "accepted": {"status": accepted.status.value, "state": accepted.state.type.value},
        "aborted": {"status": aborted.status.value, "reason": aborted.details.reason},
        "after": after.state.type.value if after.state else None,
    }


if __name__ == "__main__":
    result = asyncio.run(main(UUID(sys.argv[1]), UUID(sys.argv[2]), sys.argv[3]))
    print(json.dumps(result))
