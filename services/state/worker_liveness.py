"""When a worker counts as alive: pure arithmetic on its last heartbeat."""

from __future__ import annotations

from datetime import datetime, timedelta

MISSED_BEATS = 3  # a worker is dead after this many heartbeats did not arrive


def is_alive(last_seen: datetime, interval_seconds: float, now: datetime) -> bool:
    return now - last_seen <= timedelta(seconds=interval_seconds * MISSED_BEATS)
