"""The answer to a proposed state, named as a Prefect 3 client expects it."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"
