"""Compound (any/all/N within) and sequence (children in order within) triggers."""

from __future__ import annotations

from uuid import uuid4

from schemas.automations import Automation
from services.automations.engine import Evaluator, firing_id
from tests.support.automation_events import at, automation, custom_event, feed


def _child(name: str) -> dict[str, object]:
    return {"type": "event", "posture": "Reactive", "expect": [name]}


def _compound(require: object, within: float | None = 60, names: str = "abc") -> Automation:
    trigger = {
        "type": "compound",
        "require": require,
        "within": within,
        "triggers": [_child(n) for n in names],
    }
    return automation(trigger)


def _evaluator(rule: Automation) -> Evaluator:
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    return evaluator


def test_all_fires_once_every_child_fired_within_the_window() -> None:
    rule = _compound("all")
    evaluator = _evaluator(rule)

    fired = feed(evaluator, [custom_event(n, s) for n, s in [("a", 0), ("b", 10), ("a", 20)]])
    assert fired == []
    [firing] = feed(evaluator, [custom_event("c", 30)])

    assert firing.trigger_id == rule.trigger.id
    assert firing.fired_at == at(30)
    assert firing.id == firing_id(rule.id, rule.trigger.id, (), at(10))  # a's latest was 20
    assert firing.triggering_event is not None
    assert firing.triggering_event.event == "c"
    assert feed(evaluator, [custom_event("c", 31)]) == []  # the children's firings were spent


def test_children_that_fired_too_long_ago_no_longer_count() -> None:
    evaluator = _evaluator(_compound("all"))

    fired = feed(evaluator, [custom_event(n, s) for n, s in [("a", 0), ("b", 50), ("c", 61)]])

    assert fired == []
    assert len(feed(evaluator, [custom_event("a", 62)])) == 1


def test_any_fires_for_each_child_firing() -> None:
    evaluator = _evaluator(_compound("any"))

    fired = feed(evaluator, [custom_event(n, s) for n, s in [("a", 0), ("b", 1), ("x", 2)]])

    assert [f.fired_at for f in fired] == [at(0), at(1)]
    assert len(evaluator) == 0


def test_a_number_requires_that_many_distinct_children() -> None:
    evaluator = _evaluator(_compound(2, within=None))

    fired = feed(evaluator, [custom_event(n, s) for n, s in [("a", 0), ("a", 1), ("c", 900)]])

    assert [f.fired_at for f in fired] == [at(900)]


def test_all_children_of_a_composite_route_to_the_automation_s_key() -> None:
    rule = _compound("all")
    evaluator = _evaluator(rule)

    keys = {r.key for n in "abc" for r in evaluator.routes(custom_event(n, 0))}

    assert keys == {str(rule.id)}


def _sequence(within: float | None = 60) -> Automation:
    trigger = {"type": "sequence", "within": within, "triggers": [_child(n) for n in "abc"]}
    return automation(trigger)


def test_a_sequence_fires_when_its_children_fire_in_order() -> None:
    rule = _sequence()
    evaluator = _evaluator(rule)

    fired = feed(evaluator, [custom_event(n, s) for s, n in enumerate("abc")])

    assert [f.fired_at for f in fired] == [at(2)]
    assert fired[0].id == firing_id(rule.id, rule.trigger.id, (), at(0))


def test_a_sequence_out_of_order_waits_for_the_order() -> None:
    evaluator = _evaluator(_sequence())

    assert feed(evaluator, [custom_event(n, s) for s, n in enumerate("bac")]) == []
    assert [f.fired_at for f in feed(evaluator, [custom_event("b", 3), custom_event("c", 4)])] == [
        at(4)
    ]


def test_a_sequence_too_slow_for_its_window_does_not_fire() -> None:
    evaluator = _evaluator(_sequence(within=10))

    assert feed(evaluator, [custom_event(n, s) for n, s in [("a", 0), ("b", 5), ("c", 11)]]) == []


def test_a_composite_inside_a_composite_hands_its_firing_up() -> None:
    inner = {"type": "sequence", "triggers": [_child("a"), _child("b")]}
    rule = automation({"type": "compound", "require": "all", "triggers": [inner, _child("c")]})
    evaluator = _evaluator(rule)

    fired = feed(evaluator, [custom_event(n, s) for s, n in enumerate("cab")])

    assert [(f.trigger_id, f.fired_at) for f in fired] == [(rule.trigger.id, at(2))]


def test_a_proactive_child_fires_the_composite_at_its_window_s_end() -> None:
    proactive = {
        "type": "event",
        "posture": "Proactive",
        "after": ["job.started"],
        "expect": ["job.done"],
        "within": 30,
    }
    rule = automation({"type": "compound", "require": "all", "triggers": [proactive, _child("x")]})
    evaluator = _evaluator(rule)
    run = uuid4()
    related = [{"prefect.resource.id": f"prefect.flow-run.{run}", "prefect.resource.role": "run"}]

    feed(evaluator, [custom_event("job.started", 0, related=related), custom_event("x", 5)])

    assert evaluator.due(at(29)) == []
    [firing] = evaluator.due(at(30))
    assert (firing.trigger_id, firing.fired_at, firing.flow_run_id()) == (
        rule.trigger.id,
        at(30),
        run,
    )
