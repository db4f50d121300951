"""One request to the Kubernetes API server: retried on 429/5xx and timeouts, its faults named."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from services.infrastructure.errors import InfrastructureError
from services.runtime.backoff import backoff
from services.worker.infrastructure import Forbidden
from services.worker.kubernetes_rules import Answer, classify

log = structlog.get_logger(__name__)
T = TypeVar("T")
MAX_RETRY_DELAY = 5.0  # seconds between two tries of one request, at most


class PermissionDenied(Forbidden):
    """The API server said 401/403: the worker's identity lacks a permission."""


def server_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or b"")["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.reason)


def fault(what: str, exc: ApiException) -> InfrastructureError:
    """The error to raise for an API answer the caller does not handle itself."""
    message = server_message(exc)
    if classify(exc.status) is Answer.FORBIDDEN:
        return PermissionDenied(
            f"forbidden ({exc.status}): the worker may not {what}: {message}; "
            "grant the verbs in compose/kubernetes/worker-kubernetes.yaml"
        )
    return InfrastructureError(f"{what}: {exc.status} {message}")


async def call_with_retries(
    what: str, request: Callable[[], Awaitable[T]], *, attempts: int, backoff_seconds: float
) -> T:
    """Run one API request, retrying 429/5xx and timeouts with backoff.

    Other API answers (404, 403, 409, ...) are raised as ApiException for the caller;
    a transient fault that persists becomes InfrastructureError.
    """
    failures = 0
    while True:
        try:
            return await request()
        except ApiException as exc:
            if classify(exc.status) is not Answer.TRANSIENT:
                raise
            error = f"{exc.status} {server_message(exc)}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        failures += 1
        if failures >= attempts:
            raise InfrastructureError(f"{what}: {error} (after {failures} attempts)")
        delay = backoff(failures, base=backoff_seconds, ceiling=MAX_RETRY_DELAY)
        log.warning("kubernetes_call_retry", call=what, error=error, retry_in=delay)
        await asyncio.sleep(delay)
