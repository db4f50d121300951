"""The rules every replica evaluates: every automation, whole, on every replica.

On start the service reads every automation from the state service, then follows the
compacted `cancelbus.automations` topic (a broadcast subscription: every replica reads every
change, not a share of them), so a change reaches every replica within a fetch. The
subscription starts at the topic's end before the list is read; changes heard before the
list arrived are applied after it, in order, so each rule ends at its latest change whether
the list already had it or not. Events wait until the list is in (`ready`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

import structlog

from schemas.automation_messages import AutomationChanged
from schemas.automations import Automation
from schemas.messages import MessageRejected, parse_message
from services.automations.engine import Evaluator
from services.automations.metrics import AutomationsMetrics
from services.automations.sources import AutomationsSource
from services.runtime.backoff import backoff
from services.transport import InvalidMessage, Record

log = structlog.get_logger(__name__)

LOAD_RETRY_SECONDS = (0.5, 10.0)  # first and longest wait between failed loads


class RuleBook:
    def __init__(
        self,
        evaluator: Evaluator,
        source: AutomationsSource,
        metrics: AutomationsMetrics,
    ) -> None:
        self._evaluator = evaluator
        # told of each rule set: a standing bucket of it may need watching
        self.on_changed: Callable[[], None] = lambda: None
        self._source = source
        self._metrics = metrics
        self._enabled: set[UUID] = set()
        self._early: list[AutomationChanged] | None = []  # None once the list is in
        self.ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._enabled)

    async def on_change(self, record: Record) -> None:
        """A record of `cancelbus.automations` (the broadcast subscription's handler)."""
        try:
            change = parse_message(AutomationChanged, record.value)
        except MessageRejected as exc:
            raise InvalidMessage(exc.reason) from exc
        if self._early is not None:
            self._early.append(change)
            return
        self._apply(change.automation_id, change.automation)
        log.info(
            "automation_changed",
            automation_id=str(change.automation_id),
            enabled=change.automation.enabled if change.automation else None,
            deleted=change.automation is None,
        )

    async def load(self) -> None:
        """Read every automation (retrying with backoff), then the changes heard meanwhile."""
        first, longest = LOAD_RETRY_SECONDS
        failures = 0
        while True:
            try:
                automations = await self._source.automations()
                break
            except Exception as exc:
                failures += 1
                retry = backoff(failures, base=first, ceiling=longest)
                log.warning("automations_load_failed", error=repr(exc), retry_in_seconds=retry)
                await asyncio.sleep(retry)
        for automation in automations:
            self._apply(automation.id, automation)
        early, self._early = self._early or [], None
        for change in early:
            self._apply(change.automation_id, change.automation)
        self.ready.set()
        log.info(
            "automations_loaded",
            stored=len(automations),
            changes_heard_meanwhile=len(early),
            enabled=len(self._enabled),
        )

    def _apply(self, automation_id: UUID, automation: Automation | None) -> None:
        self._metrics.rule_changes.inc()
        if automation is None or not automation.enabled:
            self._enabled.discard(automation_id)
            self._evaluator.remove_automation(automation_id)
            return
        self._enabled.add(automation_id)
        self._evaluator.set_automation(automation)
        self.on_changed()
