"""Local processes: the scope a host's processes share and what tells two starts apart.

Fingerprint format: psutil's `create_time()` (seconds since the epoch, 10 ms resolution
on Linux) as `f"{create_time:.2f}"`, e.g. "1764086400.37". Linux derives it from the boot
time, whose estimate can move by a second when the clock is adjusted, so two readings
within `FINGERPRINT_TOLERANCE` seconds are the same start.
"""

from __future__ import annotations

import socket

import psutil

FINGERPRINT_TOLERANCE = 1.0


def fingerprint_of(proc: psutil.Process) -> str:
    return f"{proc.create_time():.2f}"


def same_start(recorded: str, observed: str) -> bool:
    try:
        return abs(float(recorded) - float(observed)) <= FINGERPRINT_TOLERANCE
    except ValueError:
        return recorded == observed


def default_scope() -> str:
    """The scope of this host's processes: its host name."""
    return socket.gethostname()
