"""The one exponential backoff every retry loop uses: base, doubling, capped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.backoff import backoff

failures = st.integers(min_value=1, max_value=10_000)
seconds = st.floats(min_value=0, max_value=1e6)


@given(failures=failures, base=seconds, ceiling=seconds)
def test_the_delay_never_shrinks_and_never_exceeds_the_ceiling(
    failures: int, base: float, ceiling: float
) -> None:
    delay = backoff(failures, base=base, ceiling=ceiling)

    assert 0 <= delay <= ceiling
    assert delay <= backoff(failures + 1, base=base, ceiling=ceiling)


@given(failures=st.integers(min_value=1, max_value=200), base=seconds, ceiling=seconds)
def test_it_starts_at_the_base_and_doubles_up_to_the_ceiling(
    failures: int, base: float, ceiling: float
) -> None:
    delay = backoff(failures, base=base, ceiling=ceiling)

    assert backoff(1, base=base, ceiling=ceiling) == min(base, ceiling)
    assert backoff(failures + 1, base=base, ceiling=ceiling) == min(ceiling, 2 * delay)


@given(failures=st.integers(min_value=1, max_value=10**100), base=seconds, ceiling=seconds)
def test_any_number_of_failures_gives_a_delay(failures: int, base: float, ceiling: float) -> None:
    delay = backoff(failures, base=base, ceiling=ceiling)

    assert delay == (ceiling if base > 0 and failures > 2100 else delay)
    assert 0 <= delay <= ceiling


def test_the_schedule_of_the_state_service_defaults() -> None:
    delays = [backoff(attempt, base=1.0, ceiling=30.0) for attempt in range(1, 8)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize(
    ("failures", "base", "ceiling"), [(0, 1.0, 1.0), (1, -1.0, 1.0), (1, 1.0, -1.0)]
)
def test_out_of_range_arguments_are_refused(failures: int, base: float, ceiling: float) -> None:
    with pytest.raises(ValueError, match=r"failures counts from 1|must not be negative"):
        backoff(failures, base=base, ceiling=ceiling)
