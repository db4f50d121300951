"""The clients' automation and event methods, async and sync, with the same names as Prefect's
client (`create_automation`, `read_automations_by_name`, `pause_automation`, ...)."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from schemas.automations import (
    Automation,
    AutomationCore,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationFiring,
    AutomationPreview,
)
from schemas.events import Event
from services.client import automation_calls as calls
from services.client.calls import Call

T = TypeVar("T")


class AsyncAutomations:
    """Mixed into `CancelbusClient`."""

    async def _send(self, call: Call[T]) -> T:
        raise NotImplementedError

    async def create_automation(self, automation: AutomationCore) -> Automation:
        return await self._send(calls.create(automation))

    async def read_automation(self, automation_id: UUID) -> Automation:
        """Raises `AutomationNotFound` if there is none with this id."""
        return await self._send(calls.read(automation_id))

    async def read_automations(self, query: AutomationFilter | None = None) -> list[Automation]:
        """At most 200 per call (the filter's limit and offset page through them)."""
        return await self._send(calls.read_many(query))

    async def read_automations_by_name(self, name: str) -> list[Automation]:
        return await self._send(calls.read_many(calls.by_name(name)))

    async def count_automations(self, criteria: AutomationFilterCriteria | None = None) -> int:
        return await self._send(calls.count(criteria))

    async def replace_automation(self, automation_id: UUID, automation: AutomationCore) -> None:
        await self._send(calls.replace(automation_id, automation))

    async def pause_automation(self, automation_id: UUID) -> None:
        await self._send(calls.set_enabled(automation_id, False))

    async def resume_automation(self, automation_id: UUID) -> None:
        await self._send(calls.set_enabled(automation_id, True))

    async def delete_automation(self, automation_id: UUID) -> None:
        await self._send(calls.delete(automation_id))

    async def firings(
        self, automation_id: UUID, limit: int | None = None
    ) -> list[AutomationFiring]:
        """What the automation did: one entry per action of each firing, newest first."""
        return await self._send(calls.firings(automation_id, limit))

    async def preview(self, automation: AutomationCore) -> AutomationPreview:
        """The runs the rule would act on now (a dry run: nothing is created or cancelled)."""
        return await self._send(calls.preview(automation))

    async def send_event(self, event: Event) -> None:
        """Publish an event (Prefect's shape) for automations to match."""
        await self._send(calls.send_event(event))


class SyncAutomations:
    """Mixed into `SyncCancelbusClient`: the same methods as `AsyncAutomations`."""

    def _send(self, call: Call[T]) -> T:
        raise NotImplementedError

    def create_automation(self, automation: AutomationCore) -> Automation:
        return self._send(calls.create(automation))

    def read_automation(self, automation_id: UUID) -> Automation:
        """Raises `AutomationNotFound` if there is none with this id."""
        return self._send(calls.read(automation_id))

    def read_automations(self, query: AutomationFilter | None = None) -> list[Automation]:
        """At most 200 per call (the filter's limit and offset page through them)."""
        return self._send(calls.read_many(query))

    def read_automations_by_name(self, name: str) -> list[Automation]:
        return self._send(calls.read_many(calls.by_name(name)))

    def count_automations(self, criteria: AutomationFilterCriteria | None = None) -> int:
        return self._send(calls.count(criteria))

    def replace_automation(self, automation_id: UUID, automation: AutomationCore) -> None:
        self._send(calls.replace(automation_id, automation))

    def pause_automation(self, automation_id: UUID) -> None:
        self._send(calls.set_enabled(automation_id, False))

    def resume_automation(self, automation_id: UUID) -> None:
        self._send(calls.set_enabled(automation_id, True))

    def delete_automation(self, automation_id: UUID) -> None:
        self._send(calls.delete(automation_id))

    def firings(self, automation_id: UUID, limit: int | None = None) -> list[AutomationFiring]:
        """What the automation did: one entry per action of each firing, newest first."""
        return self._send(calls.firings(automation_id, limit))

    def preview(self, automation: AutomationCore) -> AutomationPreview:
        """The runs the rule would act on now (a dry run: nothing is created or cancelled)."""
        return self._send(calls.preview(automation))

    def send_event(self, event: Event) -> None:
        """Publish an event (Prefect's shape) for automations to match."""
        self._send(calls.send_event(event))
