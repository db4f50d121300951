"""The Kubernetes kind's pure rules: answers, labels, conditions and grace."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.markers import FLOW_RUN_LABEL
from services.worker.kubernetes_rules import (
    Answer,
    classify,
    finished_condition,
    grace_period,
    run_id_label,
)


@given(st.integers(min_value=100, max_value=599))
def test_every_status_has_exactly_one_meaning(status: int) -> None:
    answer = classify(status)
    assert (answer is Answer.OK) == (200 <= status < 300)
    assert (answer is Answer.TRANSIENT) == (status == 429 or status >= 500)
    assert (answer is Answer.FORBIDDEN) == (status in (401, 403))
    assert (answer is Answer.CONFLICT) == (status == 409)
    assert (answer is Answer.NOT_FOUND) == (status == 404)


@given(st.uuids())
def test_the_label_names_the_run(run_id: uuid.UUID) -> None:
    assert run_id_label({FLOW_RUN_LABEL: str(run_id), "app": "etl"}) == run_id


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40)))
def test_a_missing_or_malformed_label_names_no_run(labels: dict[str, str]) -> None:
    labels.pop(FLOW_RUN_LABEL, None)
    assert run_id_label(labels) is None
    assert run_id_label({**labels, FLOW_RUN_LABEL: "not-a-uuid"}) is None
    assert run_id_label(None) is None


conditions = st.lists(
    st.tuples(
        st.sampled_from(["Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet"]),
        st.sampled_from(["True", "False", "Unknown"]),
    )
)


@given(conditions)
def test_a_job_is_finished_only_by_a_true_complete_or_failed_condition(
    given_conditions: list[tuple[str, str]],
) -> None:
    finished = finished_condition(given_conditions)
    expected = [k for k, s in given_conditions if k in ("Complete", "Failed") and s == "True"]
    assert finished == (expected[0] if expected else None)


@given(st.floats(min_value=0.001, max_value=86400, allow_nan=False))
def test_the_grace_period_is_never_shortened_and_at_most_a_second_longer(grace: float) -> None:
    whole = grace_period(grace)
    assert grace <= whole < grace + 1
