"""A firing as the automations service sends it, published on the live stack's bus; and a
wait until the state service has kept its outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID, uuid4, uuid5

from schemas.automations import AutomationFiring
from schemas.messages import CancelFlowRun, FiringRef
from services.client import SyncCancelbusClient
from tests.clients.stack import LiveStack


def fire(stack: LiveStack, automation_id: UUID, run_id: UUID) -> FiringRef:
    """The automation's cancel-flow-run action on `run_id`, as one command on the bus."""
    ref = FiringRef(
        automation_id=automation_id, firing_id=uuid4(), action_index=0, fired_at=datetime.now(UTC)
    )
    command = CancelFlowRun(
        id=uuid5(ref.firing_id, str(ref.action_index)), flow_run_id=run_id, firing=ref
    )
    assert stack.runtime is not None
    payload = command.model_dump_json().encode()
    stack.call(stack.runtime.bus.publish(command.TOPIC, command.key, payload))
    return ref


def kept(
    client: SyncCancelbusClient, automation_id: UUID, count: int, within: float = 30.0
) -> list[AutomationFiring]:
    """The automation's firings once the state service has kept `count` of them."""
    deadline = time.monotonic() + within
    while True:
        firings = client.firings(automation_id)
        if len(firings) >= count or time.monotonic() > deadline:
            assert len(firings) == count, firings
            return firings
        time.sleep(0.05)
