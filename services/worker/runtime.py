"""The worker runtime every kind shares: claim, verify identity, terminate, confirm, report.

One consumer group per kind and scope reads `cancelbus.cancel-requested`; the worker
claims only the requests for its own kind and scope (others are counted and left alone,
another group owns them). Requests run concurrently; each one's offset is committed once
its result is published (the bus's concurrent subscription), so a worker that dies
mid-grace leaves its claims to another replica of the group.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass

import structlog

from schemas.messages import (
    CancellationOutcome,
    CancellationRequested,
    CancellationResult,
    MessageRejected,
    parse_message,
)
from schemas.states import utcnow
from schemas.topics import Topics
from services.infrastructure.errors import InfrastructureError
from services.runtime.backoff import backoff
from services.transport import Bus, InvalidMessage, Record
from services.worker.identity import Verdict, decide_identity, effective_grace
from services.worker.infrastructure import Forbidden, Infrastructure, TargetReplaced
from services.worker.metrics import WorkerMetrics

log = structlog.get_logger(__name__)

MAX_RETRY_DELAY = 10.0  # seconds between two local attempts, at most


def consumer_group(kind: str, scope: str) -> str:
    """`cancelbus.worker.<kind>.<scope>`, the scope made safe for a group id.

    A scope that needed changing gets a short hash of the original, so two scopes that
    sanitize alike still get groups of their own.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", scope).strip("_")[:120] or "_"
    if safe != scope:
        safe += "-" + hashlib.sha256(scope.encode()).hexdigest()[:8]
    return f"cancelbus.worker.{kind}.{safe}"


@dataclass(frozen=True, slots=True)
class Policy:
    grace_override: float | None = None
    grace_cap: float | None = None
    attempts: int = 3
    backoff_seconds: float = 0.5
    max_in_flight: int = 1000


class WorkerRuntime:
    def __init__(
        self,
        infrastructure: Infrastructure,
        bus: Bus,
        *,
        worker: str,
        policy: Policy,
        metrics: WorkerMetrics,
    ) -> None:
        self.infrastructure = infrastructure
        self.worker = worker
        self.group = consumer_group(infrastructure.kind.value, infrastructure.scope)
        self._bus = bus
        self._policy = policy
        self._metrics = metrics
        self._in_flight = 0
        self.finished = 0
        self.abandoned = 0

    def subscribe(self) -> None:
        self._bus.subscribe_concurrent(
            [Topics.CANCEL_REQUESTED],
            self.group,
            self.on_request,
            max_in_flight=self._policy.max_in_flight,
        )

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def on_request(self, record: Record) -> None:
        try:
            request = parse_message(CancellationRequested, record.value)
        except MessageRejected as exc:
            raise InvalidMessage(exc.reason) from exc
        target = request.infrastructure
        infra = self.infrastructure
        if target.kind is not infra.kind or target.scope != infra.scope:
            self._metrics.requests.labels("mismatched").inc()
            return
        self._metrics.requests.labels("claimed").inc()
        self._in_flight += 1
        self._metrics.in_flight.inc()
        try:
            await self._handle(request)
            self.finished += 1
        except asyncio.CancelledError:
            self.abandoned += 1
            log.warning("cancellation_abandoned", flow_run_id=str(request.flow_run_id))
            raise
        finally:
            self._in_flight -= 1
            self._metrics.in_flight.dec()

    async def _handle(self, request: CancellationRequested) -> None:
        started_at, clock = utcnow(), time.monotonic()
        log.info(
            "cancellation_claimed",
            flow_run_id=str(request.flow_run_id),
            target=str(request.infrastructure),
            attempt=request.attempt,
        )
        outcome, detail = await self.cancel(request)
        result = CancellationResult(
            flow_run_id=request.flow_run_id,
            request_id=request.id,
            state_id=request.state_id,
            attempt=request.attempt,
            outcome=outcome,
            detail=detail[:4000],
            worker=self.worker,
            kind=self.infrastructure.kind,
            started_at=started_at,
            finished_at=utcnow(),
        )
        await self._bus.publish(result.TOPIC, result.key, result.model_dump_json().encode())
        self._metrics.results.labels(outcome.value).inc()
        self._metrics.duration.labels(outcome.value).observe(time.monotonic() - clock)
        log.info(
            "cancellation_reported",
            flow_run_id=str(request.flow_run_id),
            outcome=outcome.value,
            detail=detail,
        )

    async def cancel(self, request: CancellationRequested) -> tuple[CancellationOutcome, str]:
        """Observe, decide, terminate with grace, confirm gone; retry faults a few times."""
        infra, target, policy = self.infrastructure, request.infrastructure, self._policy
        grace = effective_grace(
            request.grace_seconds, override=policy.grace_override, cap=policy.grace_cap
        )
        signalled, failures = False, 0
        while True:
            try:
                observation = await infra.observe(target)
                decision = decide_identity(request.flow_run_id, target, observation)
                if decision.verdict is Verdict.NOT_FOUND:
                    if signalled:  # gone since our own earlier try: that was the kill
                        return CancellationOutcome.CANCELLED, f"terminated {target}; it is gone"
                    return CancellationOutcome.NOT_FOUND, decision.reason
                # Pin the instance we verified: terminate refuses a successor with the same id.
                if target.fingerprint is None and observation.fingerprint is not None:
                    target = target.model_copy(update={"fingerprint": observation.fingerprint})
                signalled = True
                await infra.terminate(target, grace)
                if not await infra.is_gone(target):
                    raise InfrastructureError(f"{target} is still running after termination")
                return (
                    CancellationOutcome.CANCELLED,
                    f"terminated {target} (grace {grace:g} s); confirmed gone",
                )
            except NotImplementedError as exc:
                reason = str(exc) or f"{infra.kind.value} cannot be cancelled here"
                return CancellationOutcome.UNSUPPORTED, reason
            except TargetReplaced as exc:
                return CancellationOutcome.NOT_FOUND, f"{exc}; nothing was touched"
            except Forbidden as exc:
                return CancellationOutcome.FAILED, f"permission denied: {exc}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                fault = f"{type(exc).__name__}: {exc}"
                if failures >= policy.attempts:
                    return CancellationOutcome.FAILED, f"{fault} (after {failures} attempts)"
                delay = backoff(failures, base=policy.backoff_seconds, ceiling=MAX_RETRY_DELAY)
                log.warning(
                    "cancellation_attempt_failed",
                    flow_run_id=str(request.flow_run_id),
                    attempt=failures,
                    retry_in=delay,
                    error=fault,
                )
                await asyncio.sleep(delay)
