"""Python client of the state service, async and sync with the same methods.

from services.client import SyncCancelbusClient, Cancelling

with SyncCancelbusClient() as client:          # CANCELBUS_API_URL, CANCELBUS_API_TOKEN
    client.cancel(run_id, reason="wrong input", grace_seconds=10)
    client.set_flow_run_state(run_id, Cancelling("as Prefect's client does"))
    run = client.wait_for_state(run_id, {"CANCELLED"}, timeout=60)
    client.create_automation(AutomationCreate(...))   # and read/pause/resume/firings/preview
"""

from services.client.async_client import CancelbusClient
from services.client.calls import OrchestrationResult, criteria, flow_run_filter
from services.client.errors import (
    Aborted,
    ApiError,
    AutomationNotFound,
    CancelbusError,
    FlowRunNotFound,
    Unauthorized,
    Unavailable,
)
from services.client.settings import ClientSettings
from services.client.sse import LiveEvent
from services.client.states import (
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Pending,
    Running,
    Scheduled,
)
from services.client.sync_client import SyncCancelbusClient

__all__ = [
    "Aborted",
    "ApiError",
    "AutomationNotFound",
    "CancelbusClient",
    "CancelbusError",
    "Cancelled",
    "Cancelling",
    "ClientSettings",
    "Completed",
    "Crashed",
    "Failed",
    "FlowRunNotFound",
    "LiveEvent",
    "OrchestrationResult",
    "Pending",
    "Running",
    "Scheduled",
    "SyncCancelbusClient",
    "Unauthorized",
    "Unavailable",
    "criteria",
    "flow_run_filter",
]
