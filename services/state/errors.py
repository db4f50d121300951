"""What the state service's use cases refuse."""

from __future__ import annotations

from uuid import UUID


class FlowRunNotFound(LookupError):
    def __init__(self, run_id: UUID) -> None:
        super().__init__(f"Flow run {run_id} not found")
        self.run_id = run_id


class UnknownCancellationRequest(LookupError):
    pass


class AutomationNotFound(LookupError):
    def __init__(self, automation_id: UUID) -> None:
        super().__init__(f"Automation {automation_id} not found")
        self.automation_id = automation_id
