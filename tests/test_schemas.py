"""The wire contract: infrastructure ids and bus messages round-trip, and bad input is refused
with a ValueError (ids) or a one-line MessageRejected (messages), never anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.automation_messages import (
    AutomationActionFailed,
    AutomationChanged,
    BucketEvent,
    ChangeFlowRunState,
)
from schemas.automations import Automation, CancelFlowRunAction, EventTrigger, Posture
from schemas.catalog import MESSAGE_TYPES, json_schemas
from schemas.events import RESOURCE_ID, RESOURCE_ROLE, Event
from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import (
    FLOW_RUN_LABEL,
    PREFECT_FLOW_RUN_LABEL,
    RUN_LABELS,
    RUN_MARKERS,
    named_run_id,
)
from schemas.messages import (
    CancelFlowRun,
    CancellationOutcome,
    CancellationRequested,
    CancellationResult,
    CancellationTimedOut,
    FiringRef,
    FlowRunStateChanged,
    Message,
    MessageRejected,
    WorkerHeartbeat,
    parse_message,
)
from schemas.states import State, StateType
from schemas.topics import Topics

# --- infrastructure ids ---------------------------------------------------------------------

_name = st.text(min_size=1)
_fingerprints = st.none() | _name
_pids = st.text(st.characters(categories=["Nd"]), min_size=1)
_k8s_ids = st.builds(
    lambda ns, job: f"{ns}/{job}",
    st.text().filter(lambda s: "/" not in s),
    st.text().filter(lambda s: "/" not in s),
)

infrastructure_ids = st.one_of(
    st.builds(
        InfrastructureId,
        kind=st.just(InfrastructureKind.PROCESS),
        scope=_name,
        id=_pids,
        fingerprint=_fingerprints,
    ),
    st.builds(
        InfrastructureId,
        kind=st.just(InfrastructureKind.DOCKER),
        scope=_name,
        id=_name,
        fingerprint=_fingerprints,
    ),
    st.builds(
        InfrastructureId,
        kind=st.just(InfrastructureKind.KUBERNETES),
        scope=_name,
        id=_k8s_ids,
        fingerprint=_fingerprints,
    ),
)


@given(infrastructure_ids)
def test_canonical_form_round_trips(infra: InfrastructureId) -> None:
    text = str(infra)

    assert text.startswith(f"{infra.kind.value}://")
    assert InfrastructureId.parse(text) == infra
    assert InfrastructureId.parse(f"  {text}\n") == infra  # pasted with stray whitespace


@pytest.mark.parametrize(
    ("text", "kind", "scope", "ident"),
    [
        ("worker-1:4242", InfrastructureKind.PROCESS, "worker-1", "4242"),
        ("10.0.0.7:1", InfrastructureKind.PROCESS, "10.0.0.7", "1"),
        (
            "unix:///var/run/docker.sock:abc",
            InfrastructureKind.DOCKER,
            "unix:///var/run/docker.sock",
            "abc",
        ),
        ("tcp://10.1.2.3:2376:abc", InfrastructureKind.DOCKER, "tcp://10.1.2.3:2376", "abc"),
        ("ssh://me@build-host:9f3c2a", InfrastructureKind.DOCKER, "ssh://me@build-host", "9f3c2a"),
        ("prod-eu:flows:etl-7", InfrastructureKind.KUBERNETES, "prod-eu", "flows/etl-7"),
    ],
)
def test_plain_forms_parse_without_fingerprint(
    text: str, kind: InfrastructureKind, scope: str, ident: str
) -> None:
    infra = InfrastructureId.parse(text)

    assert (infra.kind, infra.scope, infra.id, infra.fingerprint) == (kind, scope, ident, None)
    assert InfrastructureId.parse(str(infra)) == infra


def test_canonical_form_keeps_fingerprint() -> None:
    infra = InfrastructureId(kind="kubernetes", scope="prod", id="ns/job", fingerprint="uid-1")

    assert str(infra) == "kubernetes://prod/ns%2Fjob#uid-1"
    assert InfrastructureId.parse(str(infra)).fingerprint == "uid-1"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not an infrastructure id"),
        ("just-a-host", "not an infrastructure id"),
        ("host:not-a-pid", "not an infrastructure id"),
        ("a:b:c:d", "not an infrastructure id"),
        ("cluster::job", "not an infrastructure id"),
        ("unix:///var/run/docker.sock", "docker_api_url:container_id"),
        ("unix:///var/run/docker.sock:", "docker_api_url:container_id"),
        ("process://host", r"process://<scope>/<id>"),
        ("docker:///abc", r"docker://<scope>/<id>"),
        ("process://host/abc", "a process id must be a PID"),
        ("kubernetes://prod/job-without-namespace", "namespace/job"),
        ("process://host/12#", "fingerprint"),
    ],
)
def test_bad_strings_raise_value_error_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        InfrastructureId.parse(text)


@pytest.mark.parametrize("text", ["tcp://:abc", "unix://:abc"])
def test_docker_url_without_host_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="docker_api_url:container_id"):
        InfrastructureId.parse(text)


_id_fragments = st.sampled_from(
    [
        "process://",
        "docker://",
        "kubernetes://",
        "unix://",
        ":",
        "/",
        "#",
        "%",
        "%2F",
        "%ZZ",
        "%ED%A0%80",
        "host",
        "12",
        "٣",
        " ",
        "\x00",
        "",
    ]
)
_id_like_text = st.lists(_id_fragments | st.text(max_size=3), max_size=8).map("".join)


def _parse_or_error(text: str) -> InfrastructureId | ValueError:
    try:
        return InfrastructureId.parse(text)
    except ValueError as exc:
        return exc


@given(st.text() | _id_like_text)
def test_parse_returns_a_valid_id_or_raises_value_error(text: str) -> None:
    infra = _parse_or_error(text)
    if isinstance(infra, ValueError):
        assert str(infra)
        return
    assert infra.scope
    assert infra.id
    assert InfrastructureId.parse(str(infra)) == infra


# --- messages -------------------------------------------------------------------------------

_minute_offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_times = st.datetimes(timezones=st.none() | st.just(UTC) | _minute_offsets)
_text = st.text(max_size=40)
_json_scalars: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json: st.SearchStrategy[object] = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_seconds = st.floats(min_value=0, max_value=86400, exclude_min=True)
_common: dict[str, Any] = {"id": st.uuids(), "occurred_at": _times, "flow_run_id": st.uuids()}

_states = st.builds(
    State,
    id=st.uuids(),
    type=st.sampled_from(StateType),
    name=_text,
    timestamp=_times,
    message=st.none() | _text,
    state_details=st.dictionaries(_text, _json, max_size=3),
    data=_json,
)

_firings = st.builds(
    FiringRef,
    automation_id=st.uuids(),
    firing_id=st.uuids(),
    action_index=st.integers(min_value=0, max_value=100),
    fired_at=_times,
)
_AUTOMATION = Automation(
    id=UUID("3c7f1d2e-8a9b-4c5d-8e6f-7a8b9c0d1e2f"),
    name="cancel long runs",
    trigger=EventTrigger(posture=Posture.PROACTIVE, after={"prefect.flow-run.Running"}),
    actions=[CancelFlowRunAction()],
    created=datetime(2025, 5, 1, 12, 0, tzinfo=UTC),
    updated=datetime(2025, 5, 1, 12, 0, tzinfo=UTC),
)

_events = st.builds(
    Event,
    id=st.uuids(),
    occurred_at=_times,
    event=st.text(min_size=1, max_size=1024),
    resource=st.dictionaries(_text, _text, max_size=3).map(
        lambda labels: (
            labels | {RESOURCE_ID: "prefect.flow-run.6f1c9a52-3a5e-4d4b-9a43-2b8e0c1d7e11"}
        )
    ),
    related=st.lists(
        st.builds(
            lambda role, rid: {RESOURCE_ID: rid, RESOURCE_ROLE: role},
            st.text(min_size=1),
            st.text(min_size=1),
        ),
        max_size=3,
    ),
    payload=st.dictionaries(_text, _json, max_size=3),
    follows=st.none() | st.uuids(),
)

MESSAGE_STRATEGIES: dict[type[Message], st.SearchStrategy[Message]] = {
    CancelFlowRun: st.builds(
        CancelFlowRun,
        **_common,
        reason=st.none() | st.text(max_size=2000),
        requested_by=st.none() | st.text(max_size=256),
        grace_seconds=st.none() | _seconds,
        force=st.booleans(),
        firing=st.none() | _firings,
    ),
    CancellationRequested: st.builds(
        CancellationRequested,
        **_common,
        state_id=st.uuids(),
        infrastructure=infrastructure_ids,
        grace_seconds=_seconds,
        attempt=st.integers(min_value=1),
        reason=st.none() | _text,
        requested_by=st.none() | _text,
        final_teardown=st.booleans(),
    ),
    CancellationResult: st.builds(
        CancellationResult,
        **_common,
        request_id=st.uuids(),
        state_id=st.uuids(),
        attempt=st.integers(min_value=1),
        outcome=st.sampled_from(CancellationOutcome),
        detail=st.none() | st.text(max_size=4000),
        worker=st.text(min_size=1, max_size=256),
        kind=st.sampled_from(InfrastructureKind),
        started_at=_times,
        finished_at=_times,
    ),
    CancellationTimedOut: st.builds(
        CancellationTimedOut,
        **_common,
        state_id=st.uuids(),
        cancelling_since=_times,
        timeout_seconds=st.floats(min_value=0, exclude_min=True, allow_infinity=False),
    ),
    FlowRunStateChanged: st.builds(
        FlowRunStateChanged,
        **_common,
        event=_text,
        state=_states,
        previous_state_type=st.none() | st.sampled_from(StateType),
        infrastructure=st.none() | infrastructure_ids,
        tags=st.lists(_text, max_size=4),
        flow_run_name=st.none() | _text,
        flow_id=st.none() | st.uuids(),
        deployment_id=st.none() | st.uuids(),
        work_pool_name=st.none() | _text,
        parent_flow_run_id=st.none() | st.uuids(),
        run_count=st.none() | st.integers(min_value=0),
    ),
    WorkerHeartbeat: st.builds(
        WorkerHeartbeat,
        id=st.uuids(),
        occurred_at=_times,
        worker=st.text(min_size=1, max_size=256),
        kind=st.sampled_from(InfrastructureKind),
        scope=st.text(min_size=1),
        version=_text,
        interval_seconds=st.floats(min_value=0, exclude_min=True, allow_infinity=False),
    ),
    Event: _events,
    ChangeFlowRunState: st.builds(
        ChangeFlowRunState,
        **_common,
        state=st.sampled_from(StateType),
        name=st.none() | st.text(max_size=64),
        message=st.none() | st.text(max_size=2000),
        force=st.booleans(),
        requested_by=st.none() | st.text(max_size=256),
        firing=st.none() | _firings,
    ),
    AutomationActionFailed: st.builds(
        AutomationActionFailed,
        id=st.uuids(),
        occurred_at=_times,
        firing=_firings,
        action_type=st.text(max_size=64),
        reason=st.text(max_size=2000),
    ),
    AutomationChanged: st.builds(
        AutomationChanged,
        id=st.uuids(),
        occurred_at=_times,
        automation_id=st.uuids(),
        automation=st.none() | st.builds(lambda: _AUTOMATION),
    ),
    BucketEvent: st.builds(
        BucketEvent,
        id=st.uuids(),
        occurred_at=_times,
        automation_id=st.uuids(),
        trigger_id=st.uuids(),
        bucket=st.lists(_text, max_size=3),
        bucket_key=st.text(min_size=1, max_size=80),
        event=_events,
    ),
}
any_message = st.one_of(*MESSAGE_STRATEGIES.values())

_RUN = UUID("6f1c9a52-3a5e-4d4b-9a43-2b8e0c1d7e11")
_STATE = UUID("0b7d3e4f-1c2a-4e5b-8f6a-9d0c1b2a3e4f")
_AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
_INFRA = InfrastructureId(kind="process", scope="worker-1", id="4242", fingerprint="1714564800.5")
EXAMPLES: dict[type[Message], Message] = {
    CancelFlowRun: CancelFlowRun(flow_run_id=_RUN, reason="stuck", requested_by="ops"),
    CancellationRequested: CancellationRequested(
        flow_run_id=_RUN, state_id=_STATE, infrastructure=_INFRA
    ),
    CancellationResult: CancellationResult(
        flow_run_id=_RUN,
        request_id=_STATE,
        state_id=_STATE,
        outcome="cancelled",
        worker="process@worker-1",
        kind="process",
        started_at=_AT,
        finished_at=_AT,
    ),
    CancellationTimedOut: CancellationTimedOut(
        flow_run_id=_RUN, state_id=_STATE, cancelling_since=_AT, timeout_seconds=300
    ),
    FlowRunStateChanged: FlowRunStateChanged(
        flow_run_id=_RUN,
        event="prefect.flow-run.Cancelling",
        state=State(type=StateType.CANCELLING),
        infrastructure=_INFRA,
    ),
    WorkerHeartbeat: WorkerHeartbeat(
        worker="process@worker-1",
        kind="process",
        scope="worker-1",
        version="0.1.0",
        interval_seconds=10,
    ),
    Event: Event(
        event="etl.batch.failed",
        resource={RESOURCE_ID: f"prefect.flow-run.{_RUN}"},
        related=[{RESOURCE_ID: "prefect.tag.etl", RESOURCE_ROLE: "tag"}],
        payload={"rows": 12},
    ),
    ChangeFlowRunState: ChangeFlowRunState(flow_run_id=_RUN, state=StateType.FAILED),
    AutomationActionFailed: AutomationActionFailed(
        firing=FiringRef(automation_id=_RUN, firing_id=_STATE, action_index=0, fired_at=_AT),
        action_type="cancel-flow-run",
        reason="No flow run could be inferred",
    ),
    AutomationChanged: AutomationChanged(automation_id=_AUTOMATION.id, automation=_AUTOMATION),
    BucketEvent: BucketEvent(
        automation_id=_AUTOMATION.id,
        trigger_id=_AUTOMATION.trigger.id,
        bucket=["prefect.deployment.4b1f0e7a-9c2d-4e3f-8a5b-6c7d8e9f0a1b"],
        bucket_key="prefect.deployment.4b1f0e7a-9c2d-4e3f-8a5b-6c7d8e9f0a1b",
        event=Event(
            event="prefect.flow-run.Failed", resource={RESOURCE_ID: f"prefect.flow-run.{_RUN}"}
        ),
    ),
}


def _example(model: type[Message]) -> Message:
    return EXAMPLES[model]


def test_every_message_type_is_covered() -> None:
    assert set(MESSAGE_STRATEGIES) == set(EXAMPLES) == set(MESSAGE_TYPES)


@given(any_message)
def test_messages_round_trip_through_json(message: Message) -> None:
    assert parse_message(type(message), message.model_dump_json().encode()) == message


@given(any_message)
def test_messages_are_keyed_by_flow_run_or_by_worker_scope(message: Message) -> None:
    if isinstance(message, WorkerHeartbeat):
        assert message.key == f"{message.kind.value}:{message.scope}"
    elif isinstance(message, AutomationChanged):
        assert message.key == str(message.automation_id)
    elif isinstance(message, AutomationActionFailed):
        assert message.key == str(message.firing.automation_id)
    elif isinstance(message, BucketEvent):
        assert message.key == message.bucket_key
    elif isinstance(message, Event):
        assert message.key == str(message.flow_run_id())
    else:
        assert message.key == str(message.flow_run_id)  # type: ignore[attr-defined]


def _document(message: Message) -> dict[str, Any]:
    return dict(json.loads(message.model_dump_json()))


@pytest.mark.parametrize(
    ("model", "field"),
    [(CancellationTimedOut, "timeout_seconds"), (WorkerHeartbeat, "interval_seconds")],
)
def test_a_value_json_cannot_carry_is_refused_when_the_message_is_built(
    model: type[Message], field: str
) -> None:
    # infinity would be written as null and then rejected by the consumer
    with pytest.raises(ValidationError, match=field):
        model.model_validate(_document(_example(model)) | {field: float("inf")})


def _rejected(model: type[Message], document: object) -> str:
    with pytest.raises(MessageRejected) as caught:
        parse_message(model, json.dumps(document).encode())
    reason = caught.value.reason
    assert "\n" not in reason
    return reason


_ALL_MODELS = pytest.mark.parametrize("model", MESSAGE_TYPES, ids=lambda m: m.__name__)


@pytest.mark.parametrize("payload", [b"", b"{", b"not json", b"[1, 2]", b"null", b"\xff\xfe"])
def test_malformed_json_is_rejected(payload: bytes) -> None:
    with pytest.raises(MessageRejected, match="invalid CancelFlowRun") as caught:
        parse_message(CancelFlowRun, payload)
    assert "\n" not in caught.value.reason


@_ALL_MODELS
def test_another_schema_version_is_rejected(model: type[Message]) -> None:
    document = _document(_example(model)) | {"schema_version": 2}

    assert "schema_version" in _rejected(model, document)


@_ALL_MODELS
def test_another_schema_name_is_rejected(model: type[Message]) -> None:
    document = _document(_example(model)) | {"schema_name": "cancelbus.Something"}

    assert "schema_name" in _rejected(model, document)


def test_a_message_read_from_the_wrong_topic_is_rejected() -> None:
    document = _document(_example(CancelFlowRun))

    assert "schema_name" in _rejected(CancellationResult, document)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (model, name)
        for model in MESSAGE_TYPES
        for name, info in model.model_fields.items()
        if info.is_required()
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_a_missing_required_field_is_rejected_by_name(model: type[Message], field: str) -> None:
    document = _document(_example(model))
    del document[field]

    reason = _rejected(model, document)
    assert f"{field}: Field required" in reason
    assert reason.startswith(f"invalid {model.__name__}")


@_ALL_MODELS
def test_an_unknown_field_is_rejected_by_name(model: type[Message]) -> None:
    document = _document(_example(model)) | {"priority": "high"}

    assert "priority: Extra inputs are not permitted" in _rejected(model, document)


def test_a_payload_over_the_limit_is_rejected_before_parsing() -> None:
    payload = _example(CancelFlowRun).model_dump_json().encode()

    assert parse_message(CancelFlowRun, payload, max_bytes=len(payload)).model_dump_json()
    with pytest.raises(MessageRejected, match="too large") as caught:
        parse_message(CancelFlowRun, payload, max_bytes=len(payload) - 1)
    assert str(len(payload)) in caught.value.reason


def test_a_sender_chosen_key_cannot_break_the_reason_line() -> None:
    document = _document(_example(CancelFlowRun)) | {"extra\nkey\x1b[2J": 1}

    with pytest.raises(MessageRejected) as caught:
        parse_message(CancelFlowRun, json.dumps(document).encode())

    assert "\n" not in caught.value.reason
    assert "\x1b" not in caught.value.reason
    assert "extra\\nkey" in caught.value.reason


def _parse_or_reason(model: type[Message], payload: bytes) -> Message | str:
    """The parsed message, or the reason it was rejected; any other exception escapes."""
    try:
        return parse_message(model, payload)
    except MessageRejected as exc:
        return exc.reason


@_ALL_MODELS
@given(payload=st.binary(max_size=200))
def test_arbitrary_bytes_are_parsed_or_rejected(model: type[Message], payload: bytes) -> None:
    result = _parse_or_reason(model, payload)
    if isinstance(result, str):
        assert result
        assert "\n" not in result


@given(
    message=any_message,
    changes=st.dictionaries(
        st.sampled_from(
            [
                "flow_run_id",
                "state_id",
                "attempt",
                "grace_seconds",
                "outcome",
                "infrastructure",
                "state",
                "kind",
                "worker",
                "scope",
                "occurred_at",
            ]
        ),
        _json,
        min_size=1,
    ),
)
def test_corrupted_fields_are_parsed_or_rejected(message: Message, changes: dict[str, Any]) -> None:
    payload = json.dumps(_document(message) | changes).encode()
    result = _parse_or_reason(type(message), payload)
    if isinstance(result, str):
        assert "\n" not in result


def test_json_schemas_describe_every_message() -> None:
    schemas = json_schemas()

    assert set(schemas) == {f"cancelbus.{m.__name__}" for m in MESSAGE_TYPES}
    json.dumps(schemas)
    for model in MESSAGE_TYPES:
        schema = schemas[f"cancelbus.{model.__name__}"]
        assert schema["additionalProperties"] is False
        properties = schema["properties"]
        assert isinstance(properties, dict)
        assert properties["schema_version"]["const"] == 1
        required = {n for n, info in model.model_fields.items() if info.is_required()}
        assert set(schema.get("required", [])) == required  # type: ignore[call-overload]


def test_default_occurred_at_is_timezone_aware() -> None:
    message = CancelFlowRun(flow_run_id=_RUN)

    assert message.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - message.occurred_at) < timedelta(minutes=1)


# --- topics and run markers ------------------------------------------------------------------


@pytest.mark.parametrize("model", MESSAGE_TYPES)
def test_each_message_names_its_topic_from_the_one_list_of_topics(model: type[Message]) -> None:
    assert isinstance(model.TOPIC, Topics)


def test_every_topic_but_dead_letters_carries_a_message() -> None:
    assert {m.TOPIC for m in MESSAGE_TYPES} == set(Topics) - {Topics.DEAD_LETTERS}


@given(st.uuids(), st.sampled_from(RUN_MARKERS))
def test_a_run_marker_names_the_run(run_id: UUID, name: str) -> None:
    assert named_run_id({name: str(run_id), "OTHER": "x"}, RUN_MARKERS) == (run_id, None)


def test_the_first_run_label_set_wins_and_a_bad_one_says_why() -> None:
    run_id = uuid7()
    labels = {FLOW_RUN_LABEL: str(run_id), PREFECT_FLOW_RUN_LABEL: str(uuid7())}

    assert named_run_id(labels, RUN_LABELS) == (run_id, None)
    assert named_run_id({PREFECT_FLOW_RUN_LABEL: "nope"}, RUN_LABELS, what="label ") == (
        None,
        f"label {PREFECT_FLOW_RUN_LABEL}='nope' is not a flow-run id",
    )
    assert named_run_id(None, RUN_LABELS) == (None, None)
    assert named_run_id({FLOW_RUN_LABEL: ""}, RUN_LABELS) == (None, None)
