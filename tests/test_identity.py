"""The identity decision and grace arithmetic: pure rules, property-tested."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.worker.identity import Verdict, decide_identity, effective_grace
from services.worker.infrastructure import Observation, Presence
from services.worker.runtime import consumer_group

fingerprints = st.none() | st.sampled_from(["1700000000.00", "1700000000.01", "uid-1"])
targets = st.builds(
    InfrastructureId,
    kind=st.just(InfrastructureKind.PROCESS),
    scope=st.just("host"),
    id=st.integers(1, 99999).map(str),
    fingerprint=fingerprints,
)
observations = st.builds(
    Observation,
    presence=st.sampled_from(Presence),
    flow_run_id=st.none() | st.uuids(),
    fingerprint=fingerprints,
)


@given(st.uuids(), targets, observations)
def test_kill_only_a_running_target_carrying_the_run_and_its_recorded_fingerprint(
    run_id: UUID, target: InfrastructureId, observation: Observation
) -> None:
    decision = decide_identity(run_id, target, observation)
    should_kill = (
        observation.presence is Presence.RUNNING
        and observation.flow_run_id == run_id
        and (target.fingerprint is None or target.fingerprint == observation.fingerprint)
    )
    assert (decision.verdict is Verdict.KILL) == should_kill
    assert decision.reason


@given(
    st.floats(0.01, 86400),
    st.none() | st.floats(0.01, 86400),
    st.none() | st.floats(0.01, 86400),
)
def test_grace_is_the_override_or_the_request_never_above_the_cap(
    requested: float, override: float | None, cap: float | None
) -> None:
    grace = effective_grace(requested, override=override, cap=cap)
    assert grace == min(override if override is not None else requested, cap or float("inf"))


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_distinct_scopes_get_distinct_safe_group_ids(scope_a: str, scope_b: str) -> None:
    group_a, group_b = consumer_group("docker", scope_a), consumer_group("docker", scope_b)
    assert all(c.isalnum() or c in "._-" for c in group_a)
    assert len(group_a) <= 180
    assert (group_a == group_b) == (scope_a == scope_b)
