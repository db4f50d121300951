"""Exponential backoff: how long to wait after the n-th failure in a row. Pure."""

from __future__ import annotations

import math


def backoff(failures: int, *, base: float, ceiling: float) -> float:
    """`base` after the first failure, doubling with each one after it, never over `ceiling`.

    `failures` counts from 1; `base` and `ceiling` are seconds, neither negative. Any
    number of failures gives a delay (a doubling past the largest float is the ceiling).
    """
    if failures < 1:
        raise ValueError(f"failures counts from 1, got {failures}")
    if base < 0 or ceiling < 0:
        raise ValueError(f"base and ceiling must not be negative, got {base}, {ceiling}")
    try:
        return min(ceiling, math.ldexp(base, failures - 1))  # base * 2 ** (failures - 1)
    except OverflowError:
        return float(ceiling)
