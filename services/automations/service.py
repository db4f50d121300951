"""The automations service: evaluate every rule against every event, publish what fires.

Replicas share the consumer group `cancelbus.automations` over the state changes, the
producers' events and the internal `cancelbus.automation-buckets` topic (co-partitioned:
partition p of the three goes to one replica). Every replica knows every rule (rules.py).

A bucket is counted by exactly one replica: the owner of its key's partition. A route whose
key is the record's own key is applied where the record is; any other is re-keyed through
`cancelbus.automation-buckets` and applied by the replica that owns that key, the way Kafka
Streams repartitions. Commands (and re-keyed events) are published before the input is
committed, and each partition commits no further than the oldest record an open window
needs (`commit_cap`), so a replica taking a partition over (after a crash, a rebalance)
replays those records and rebuilds the windows; firings have deterministic ids, so what
fires again is applied once by the state service.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import structlog

from schemas.messages import Message
from schemas.topics import Topics
from services.automations.engine import Evaluator, Firing, Partition, Route, commands_for
from services.automations.inputs import INPUT_TOPICS, read_input, rekeyed
from services.automations.metrics import AutomationsMetrics
from services.automations.proactive import DueWindows, utcnow
from services.automations.publishing import Outgoing
from services.automations.rules import RuleBook
from services.transport import Bus, Record
from services.transport.base import Assignment

log = structlog.get_logger(__name__)

GROUP = "cancelbus.automations"
RULES_GROUP = "cancelbus.automations.rules"
SEEN_PER_PARTITION = 4096  # recent event ids per partition: a redelivered event counts once
LOG_EACH_UP_TO = 10


def slot(topic: str, partition: int) -> Partition:
    """The evaluator's name for one partition of one input topic."""
    return (topic, partition)


class AutomationsService:
    def __init__(
        self,
        evaluator: Evaluator,
        rules: RuleBook,
        bus: Bus,
        outgoing: Outgoing,
        metrics: AutomationsMetrics,
        *,
        max_batch: int = 500,
    ) -> None:
        self.evaluator = evaluator
        self.rules = rules
        self._bus = bus
        self._outgoing = outgoing
        self._metrics = metrics
        self._max_batch = max_batch
        self._owned: dict[str, frozenset[int]] = {}
        self._buckets: Assignment | None = None  # who owns which key of the buckets topic
        self._seen: dict[Partition, OrderedDict[tuple[UUID, ...], None]] = {}
        # slot -> end offset: read again after an assignment, up to there, before a window of
        # it may fire (a record still to come may be the event that prevents the firing)
        self._replaying: dict[Partition, int] = {}
        self.due = DueWindows(
            evaluator,
            outgoing,
            metrics,
            commands=self.commands,
            slots=self.owned_slots,
            arm=self.arm_standing,
            paused=lambda: self._replaying.keys(),
        )
        rules.on_changed = self.due.wake
        metrics.watch(lambda: len(rules), lambda: len(evaluator))

    def subscribe(self) -> None:
        self._bus.subscribe_broadcast([Topics.AUTOMATIONS], RULES_GROUP, self.rules.on_change)
        self._bus.subscribe_batch(
            list(INPUT_TOPICS),
            GROUP,
            self.on_inputs,
            max_batch=self._max_batch,
            on_assigned=self.on_assigned,
            commit_cap=self.commit_cap,
        )

    # -- entry points on the bus ------------------------------------------------------------

    async def on_inputs(self, records: Sequence[Record]) -> None:
        await self.rules.ready.wait()  # no event is counted against a partial rule set
        inputs = [read_input(record) for record in records]  # refuses before any effect
        now = utcnow()  # no window closes early on a producer's clock ahead of ours
        outgoing: list[Message] = []
        firings: list[Firing] = []
        for record, item in zip(records, inputs, strict=True):
            where = slot(record.topic, record.partition)
            if self._replaying.get(where, 0) <= record.offset + 1:
                self._replaying.pop(where, None)
            if item is None:
                continue
            self._metrics.events.labels(record.topic).inc()
            if self._seen_before(where, item.event.id, item.route):
                continue
            position = (where, record.offset)
            if item.route is not None:  # re-keyed to this replica: its bucket is counted here
                firings += self.evaluator.apply(item.route, item.event, position=position, now=now)
                continue
            own_key = record.key.decode() if record.key is not None else None
            for route in self.evaluator.routes(item.event):
                if route.key == own_key:
                    firings += self.evaluator.apply(route, item.event, position=position, now=now)
                else:
                    outgoing.append(rekeyed(route, item.event))
                    self._metrics.rekeyed.inc()
        outgoing.extend(self.commands(firings, "reactive"))
        await self._outgoing.publish(outgoing)
        self.due.wake()

    def commit_cap(self, topic: str, partition: int) -> int | None:
        """The oldest offset of the partition an open window (or an unsent firing) needs."""
        where = slot(topic, partition)
        held = [self.evaluator.held_offset(where), self.due.held(where)]
        return min((offset for offset in held if offset is not None), default=None)

    async def on_assigned(self, assignment: Assignment) -> None:
        """After a rebalance every partition is read again from its commit point (Kafka
        resets the positions of kept partitions too), so every window of the old
        assignment is dropped and rebuilt from the records replayed."""
        previous = self._owned.get(assignment.topic, frozenset())
        for partition in previous:
            where = slot(assignment.topic, partition)
            self.evaluator.drop_partition(where)
            self._seen.pop(where, None)
            self._replaying.pop(where, None)
        self._owned[assignment.topic] = assignment.partitions
        if assignment.topic == Topics.AUTOMATION_BUCKETS:
            self._buckets = assignment
            self.due.wake()  # arm the standing buckets this replica now owns
        for partition, end in assignment.replaying.items():
            self._replaying[slot(assignment.topic, partition)] = end
        log.info(
            "partitions_owned",
            topic=assignment.topic,
            partitions=sorted(assignment.partitions),
            dropped=sorted(previous),
            replaying=dict(assignment.replaying),
            open_windows=len(self.evaluator),
        )

    def arm_standing(self, now: datetime) -> None:
        """Watch the standing buckets (Proactive rules with neither `after` nor `for_each`)
        whose key this replica owns: events for them come re-keyed through the buckets
        topic, so its owner of the key watches them; arming twice changes nothing."""
        owner = self._buckets
        if owner is None:
            return
        for route in self.evaluator.standing_routes():
            if self.owns(route.key):
                partition = owner.partitioner(route.key.encode(), owner.partition_count)
                where = slot(Topics.AUTOMATION_BUCKETS, partition)
                self.evaluator.arm(route, now, partition=where)

    def owns(self, key: str) -> bool:
        """Whether this replica counts the buckets evaluated under `key` (now)."""
        return self._buckets is not None and self._buckets.owns(key)

    def owned_slots(self) -> list[Partition]:
        return [slot(topic, p) for topic, parts in self._owned.items() for p in parts]

    # -- firings -------------------------------------------------------------------------------

    def commands(self, firings: Sequence[Firing], posture: str) -> list[Message]:
        """The commands of each firing's actions (its automation's, as now known)."""
        commands: list[Message] = []
        for firing in firings:
            automation = self.evaluator.automation(firing.automation_id)
            if automation is None:
                log.warning("firing_of_unknown_automation", automation_id=str(firing.automation_id))
                continue
            commands.extend(commands_for(firing, automation))
            self._metrics.firings.labels(posture).inc()
            run_id = firing.flow_run_id()
            # one line per firing unless many fire at once (the proactive loop logs a summary)
            (log.info if len(firings) <= LOG_EACH_UP_TO else log.debug)(
                "automation_fired",
                automation_id=str(firing.automation_id),
                firing_id=str(firing.id),
                flow_run_id=str(run_id) if run_id else None,
                posture=posture,
            )
        return commands

    def _seen_before(self, where: Partition, event_id: UUID, route: Route | None) -> bool:
        """True for an event this partition already had (the same event delivered twice);
        a re-keyed one counts per route, as one event may be re-keyed for several."""
        if route is None:
            key: tuple[UUID, ...] = (event_id,)
        else:
            key = (event_id, route.automation_id, route.trigger_id)
        seen = self._seen.setdefault(where, OrderedDict())
        if key in seen:
            return True
        seen[key] = None
        if len(seen) > SEEN_PER_PARTITION:
            seen.popitem(last=False)
        return False
