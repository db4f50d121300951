"""Topic names. Keys are the flow-run id, so each run's events stay in order (automations
are keyed by their own id)."""

from __future__ import annotations

from enum import StrEnum


class Topics(StrEnum):
    COMMANDS = "cancelbus.commands"
    CANCEL_REQUESTED = "cancelbus.cancel-requested"
    CANCEL_RESULTS = "cancelbus.cancel-results"
    TIMED_OUT = "cancelbus.timed-out"
    STATE_CHANGES = "cancelbus.state-changes"
    EVENTS = "cancelbus.events"
    DEAD_LETTERS = "cancelbus.dead-letters"
    AUTOMATIONS = "cancelbus.automations"  # compacted: the latest of each automation
    # internal to the automations service: events re-keyed by the bucket that counts them
    AUTOMATION_BUCKETS = "cancelbus.automation-buckets"
