"""The AsyncAPI 3.0 document of cancelbus's Kafka topics, built from the wire contract.

Channels come from `schemas.topics.Topics`, messages and their JSON Schemas from
`schemas.messages` (pydantic), so the document cannot drift from what the services accept.
Operations are written from the point of view of the cancelbus system: `receive` for what
a cancelbus service consumes, `send` for what one publishes.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.catalog import MESSAGE_TYPES
from schemas.messages import Message, WorkerHeartbeat
from schemas.topics import Topics
from services.runtime.version import VERSION

KAFKA_BINDING = "0.5.0"

# topic -> (description, who publishes, who consumes)
TOPIC_ROLES: dict[Topics, tuple[str, list[str], list[str]]] = {
    Topics.COMMANDS: (
        "Requests to cancel a run, from any producer (scripts, automation rules). "
        "Send a CancelFlowRun keyed by the flow-run id.",
        ["producers", "automations"],
        ["state"],
    ),
    Topics.CANCEL_REQUESTED: (
        "A run entered CANCELLING; the worker serving its infrastructure kind and scope stops it.",
        ["state"],
        ["worker"],
    ),
    Topics.CANCEL_RESULTS: ("What a worker did with one request.", ["worker"], ["state"]),
    Topics.TIMED_OUT: (
        "A run stayed CANCELLING past the cancelling timeout and must be forced CANCELLED.",
        ["timeout"],
        ["state"],
    ),
    Topics.STATE_CHANGES: (
        "Every state change of every run (event names like Prefect's prefect.flow-run.<State>).",
        ["state"],
        ["timeout", "automations"],
    ),
    Topics.EVENTS: (
        "Worker heartbeats (which kinds and scopes are served), and events in Prefect's shape "
        "from producers and POST /api/events, keyed by the run they are about.",
        ["worker", "producers", "state"],
        ["state", "automations"],
    ),
    Topics.AUTOMATIONS: (
        "Compacted: the latest of each automation (None when deleted), keyed by its id; "
        "automations replicas follow it to learn of rule changes.",
        ["state"],
        ["automations"],
    ),
    Topics.AUTOMATION_BUCKETS: (
        "Internal to the automations service: an event re-keyed by the bucket that counts it "
        "(a threshold over a deployment's runs), so one replica counts each bucket.",
        ["automations"],
        ["automations"],
    ),
    Topics.DEAD_LETTERS: (
        "Messages a consumer could not process, as received, with the reason in the headers "
        "cancelbus-dlq-reason, -topic, -partition and -offset.",
        ["state", "worker", "timeout", "automations"],
        ["operators"],
    ),
}


def _name(model: type[Message]) -> str:
    return model.__name__


def _key_schema(model: type[Message]) -> dict[str, Any]:
    if model is WorkerHeartbeat:
        return {"type": "string", "description": "<kind>:<scope> of the worker"}
    if model.TOPIC is Topics.AUTOMATIONS or model.__name__ == "AutomationActionFailed":
        return {"type": "string", "format": "uuid", "description": "the automation's id"}
    if model.TOPIC is Topics.EVENTS:
        return {"type": "string", "description": "the run's id, else prefect.resource.id"}
    return {"type": "string", "format": "uuid", "description": "the flow-run id"}


def asyncapi_document(partitions: int = 6) -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "validation") for model in MESSAGE_TYPES],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["DeadLetter"] = {
        "description": "the original message's bytes, whatever they were",
        "type": "string",
        "format": "binary",
    }
    messages: dict[str, Any] = {}
    for model in MESSAGE_TYPES:
        name = _name(model)
        messages[name] = {
            "name": str(model.model_fields["schema_name"].default),
            "title": name,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {"kafka": {"key": _key_schema(model), "bindingVersion": KAFKA_BINDING}},
        }
    messages["DeadLetter"] = {
        "name": "dead-letter",
        "title": "DeadLetter",
        "summary": "A message that failed validation or processing, with the reason.",
        "contentType": "application/octet-stream",
        "payload": {"$ref": "#/components/schemas/DeadLetter"},
        "headers": {
            "type": "object",
            "properties": {
                f"cancelbus-dlq-{h}": {"type": "string"}
                for h in ("reason", "topic", "partition", "offset")
            },
        },
    }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, (description, publishers, consumers) in TOPIC_ROLES.items():
        channel = topic.name.lower().replace("_", "-")
        on_topic = [_name(m) for m in MESSAGE_TYPES if topic == m.TOPIC] or ["DeadLetter"]
        channels[channel] = {
            "address": topic.value,
            "description": description,
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in on_topic},
            "bindings": {
                "kafka": {
                    "topic": topic.value,
                    "partitions": partitions,
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        refs = [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in on_topic]
        for role, action in [(p, "send") for p in publishers] + [(c, "receive") for c in consumers]:
            operations[f"{role}.{action}.{channel}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": refs,
                "summary": f"{role} {'publishes to' if action == 'send' else 'consumes'} "
                f"{topic.value}",
                "tags": [{"name": role}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "cancelbus",
            "version": VERSION,
            "description": "Cancel running flow runs through events on Apache Kafka. Every "
            "message is JSON carrying schema_name and schema_version; keys are the flow-run "
            "id so each run's messages stay in order. Producers: send CancelFlowRun to "
            f"{Topics.COMMANDS.value}.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "set by CANCELBUS_KAFKA_BOOTSTRAP_SERVERS",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
