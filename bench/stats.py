"""Small helpers shared by the benchmarks: percentiles and a peak-RSS sampler."""

from __future__ import annotations

import asyncio
import statistics

import psutil


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def fmt(stats: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.0f}" if k == "n" else f"{k}={v:.1f}ms" for k, v in stats.items())


class PeakRss:
    """Samples a process's resident memory every 50 ms while running."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            await asyncio.sleep(0.05)

    def start(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.peak
