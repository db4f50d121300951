"""What can go wrong talking to the state service, one exception per meaning."""

from __future__ import annotations

from uuid import UUID


class CancelbusError(Exception):
    """Root of the client's errors; `str()` is one readable line."""


class FlowRunNotFound(CancelbusError):
    def __init__(self, run_id: UUID) -> None:
        super().__init__(f"flow run {run_id} not found")
        self.run_id = run_id


class AutomationNotFound(CancelbusError):
    def __init__(self, automation_id: UUID | str) -> None:
        super().__init__(f"automation {automation_id} not found")
        self.automation_id = automation_id


class Aborted(CancelbusError):
    """The state service refused for good (e.g. the run is already in a terminal state)."""

    def __init__(self, run_id: UUID, reason: str) -> None:
        super().__init__(reason)
        self.run_id = run_id
        self.reason = reason


class Unauthorized(CancelbusError):
    """401: no token, or the wrong one (CANCELBUS_API_TOKEN / --api-token)."""


class Unavailable(CancelbusError):
    """The state service cannot be reached, did not answer in time, or answered 5xx."""


class ApiError(CancelbusError):
    """Any other refusal: the status code and the server's detail."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
