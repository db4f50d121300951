"""The pure trigger engine of the automations service: no I/O, event time only.

`Evaluator` says which buckets an event falls in (`routes`, each with the partition key its
owner evaluates it under), evaluates it there (`apply`), fires proactive windows as time
passes (`due`) and says which offsets its open windows still need (`held_offset`);
`commands_for` turns a firing into the commands its automation's actions send.
"""

from services.automations.engine.commands import Command, commands_for
from services.automations.engine.evaluator import Evaluator
from services.automations.engine.firing import FIRING_NAMESPACE, Firing, Route, firing_id
from services.automations.engine.holds import Partition, Position
from services.automations.engine.max_runtime import (
    MAX_RUNTIME_AUTOMATION,
    MAX_RUNTIME_AUTOMATION_ID,
    MAX_RUNTIME_TAG,
)

__all__ = [
    "FIRING_NAMESPACE",
    "MAX_RUNTIME_AUTOMATION",
    "MAX_RUNTIME_AUTOMATION_ID",
    "MAX_RUNTIME_TAG",
    "Command",
    "Evaluator",
    "Firing",
    "Partition",
    "Position",
    "Route",
    "commands_for",
    "firing_id",
]
