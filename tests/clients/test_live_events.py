"""The in-process live notifications behind the event stream."""

from __future__ import annotations

from uuid import uuid4

import pytest

from schemas.messages import CancelFlowRun, FlowRunStateChanged
from schemas.states import State, StateType
from services.state.live_fanout import LiveEvents, SubscriberTooSlow


def _changed(run_id: object = None) -> FlowRunStateChanged:
    return FlowRunStateChanged(
        flow_run_id=run_id or uuid4(),
        event="prefect.flow-run.Cancelling",
        state=State(type=StateType.CANCELLING),
    )


async def test_a_run_subscription_sees_only_that_run_and_no_commands() -> None:
    live = LiveEvents()
    mine, other = _changed(), _changed()
    with live.subscribe(mine.flow_run_id) as subscription:
        live.publish([other, CancelFlowRun(flow_run_id=mine.flow_run_id), mine])
        assert await subscription.next() == mine
    assert live.subscribers == 0


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for() -> None:
    live = LiveEvents(queue_size=2)
    first, second, third = _changed(), _changed(), _changed()
    with live.subscribe() as subscription:
        live.publish([first, second, third])  # never blocks the state service
        assert [await subscription.next(), await subscription.next()] == [first, second]
        with pytest.raises(SubscriberTooSlow):
            await subscription.next()
