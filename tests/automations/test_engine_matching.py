"""Which events a trigger covers and which bucket they fall in, as Prefect reads a trigger."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from schemas.automations import EventTrigger
from schemas.events import Event
from schemas.matching import covers
from services.automations.engine import MAX_RUNTIME_AUTOMATION_ID, Evaluator, Route
from tests.support.automation_events import automation, custom_event, run_event


def _routes(trigger: dict[str, object], event: Event) -> list[Route]:
    evaluator = Evaluator()
    evaluator.set_automation(automation(EventTrigger.model_validate(trigger)))
    return [r for r in evaluator.routes(event) if r.automation_id != MAX_RUNTIME_AUTOMATION_ID]


def _reactive(**fields: object) -> dict[str, object]:
    return {"posture": "Reactive", **fields}


def test_expect_and_after_take_a_trailing_star() -> None:
    failed = run_event("Failed", uuid4(), 0)

    assert _routes(_reactive(expect=["prefect.flow-run.*"]), failed)
    assert _routes(_reactive(expect=["prefect.flow-run.Fail*"]), failed)
    assert not _routes(_reactive(expect=["prefect.flow-run.Crash*"]), failed)
    assert not _routes(_reactive(expect=["prefect.flow-run"]), failed)
    opening = _reactive(after=["prefect.flow-run.F*"], expect=["other"])
    assert _routes(opening, failed)  # it opens the window, so it is evaluated


def test_an_empty_expect_counts_every_event() -> None:
    assert _routes(_reactive(), custom_event("anything.at.all", 0))


def test_match_ands_labels_ors_values_globs_and_negates() -> None:
    run = uuid4()
    failed = run_event("Failed", run, 0)
    resource = f"prefect.flow-run.{run}"

    def covers(match: dict[str, object]) -> bool:
        return bool(_routes(_reactive(match=match), failed))

    assert covers({"prefect.resource.id": "prefect.flow-run.*"})
    assert covers({"prefect.resource.id": resource, "prefect.state-name": ["Crashed", "Failed"]})
    assert not covers({"prefect.resource.id": resource, "prefect.state-name": "Crashed"})
    assert covers({"prefect.state-name": "!Completed"})
    assert not covers({"prefect.state-name": "!Fail*"})
    assert not covers({"prefect.resource.name": "!anything"})  # a missing label matches nothing


def test_match_related_one_spec_or_each_of_a_list_must_match_some_related_resource() -> None:
    event = run_event("Failed", uuid4(), 0, tags=["etl", "nightly"], deployment="d1")
    etl = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.etl"}
    d1 = {"prefect.resource.role": "deployment", "prefect.resource.id": "prefect.deployment.d*"}
    d2 = {"prefect.resource.role": "deployment", "prefect.resource.id": "prefect.deployment.d2"}

    assert _routes(_reactive(match_related=etl), event)
    assert _routes(_reactive(match_related=[etl, d1]), event)
    assert not _routes(_reactive(match_related=[etl, d2]), event)
    assert not _routes(_reactive(match_related=d2), event)
    assert _routes(_reactive(match_related=[]), event)


def test_for_each_buckets_by_resource_and_related_labels_in_sorted_order() -> None:
    run = uuid4()
    event = run_event("Failed", run, 0, tags=["etl"], deployment="d1")
    for_each = ["related:deployment:prefect.resource.id", "prefect.resource.id", "missing"]

    [route] = _routes(_reactive(for_each=for_each), event)

    assert route.bucket == ("", f"prefect.flow-run.{run}", "prefect.deployment.d1")


@given(
    tags=st.sets(st.sampled_from(["a", "b", "c"]), max_size=3),
    deployment=st.sampled_from(["d1", "d2"]),
    state=st.sampled_from(["Failed", "Running", "Completed"]),
)
def test_a_bucket_s_events_share_one_key_and_a_run_s_own_bucket_uses_the_run_s_key(
    tags: set[str], deployment: str, state: str
) -> None:
    """Then one replica sees all of a bucket; a run's own bucket needs no re-keying."""
    per_deployment = automation(_trigger(for_each=["related:deployment:prefect.resource.id"]))
    per_run = automation(_trigger(for_each=["prefect.resource.id"]))
    evaluator = Evaluator()
    evaluator.set_automation(per_deployment)
    evaluator.set_automation(per_run)
    run = uuid4()
    event = run_event(state, run, 0, tags=sorted(tags), deployment=deployment)

    routes = {r.automation_id: r for r in evaluator.routes(event)}

    assert routes[per_run.id].key == event.key == str(run)
    expected = f"{per_deployment.id}:{per_deployment.trigger.id}:prefect.deployment.{deployment}"
    assert routes[per_deployment.id].key == expected


def _trigger(**fields: object) -> EventTrigger:
    return EventTrigger.model_validate(_reactive(expect=["prefect.flow-run.*"], **fields))


_ids = st.sampled_from(["prefect.tag.a", "prefect.tag.b", "prefect.deployment.d", "x.1"])
_values = st.one_of(
    _ids,
    st.sampled_from(["prefect.tag.*", "!prefect.tag.a", "x.*"]),
    st.lists(_ids, min_size=1, max_size=2),
)
_specs = st.dictionaries(
    st.sampled_from(["prefect.resource.id", "prefect.resource.role"]), _values, max_size=2
)
_triggers = st.builds(
    lambda match, related, expect: EventTrigger.model_validate(
        {"posture": "Reactive", "match": match, "match_related": related, "expect": expect}
    ),
    _specs,
    st.one_of(_specs, st.lists(_specs, max_size=2)),
    st.sets(st.sampled_from(["a.b", "a.*", "c", "!c"]), max_size=2),
)


@given(
    triggers=st.lists(_triggers, min_size=1, max_size=6),
    name=st.sampled_from(["a.b", "a.c", "c", "d"]),
    resource=_ids,
    related=st.lists(st.tuples(_ids, st.sampled_from(["tag", "deployment"])), max_size=3),
)
def test_the_index_finds_exactly_the_triggers_that_cover_the_event(
    triggers: list[EventTrigger], name: str, resource: str, related: list[tuple[str, str]]
) -> None:
    """The index only narrows the search: it never hides a covering trigger."""
    evaluator = Evaluator()
    rules = [automation(trigger) for trigger in triggers]
    for rule in rules:
        evaluator.set_automation(rule)
    labels = [{"prefect.resource.id": i, "prefect.resource.role": r} for i, r in related]
    event = custom_event(name, 0, resource=resource, related=labels)

    found = {r.automation_id for r in evaluator.routes(event)} - {MAX_RUNTIME_AUTOMATION_ID}

    assert found == {r.id for r, t in zip(rules, triggers, strict=True) if covers(t, event)}
