"""`cancelbus docs asyncapi`: the topics' AsyncAPI document, generated from the wire contract."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from schemas.catalog import MESSAGE_TYPES
from schemas.topics import Topics
from services.localinfra.service_process import CANCELBUS


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_asyncapi_document_describes_every_topic_and_message(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    done = subprocess.run(
        [CANCELBUS, "docs", "asyncapi", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())

    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == {t.value for t in Topics}
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref  # every reference resolves

    messages = document["components"]["messages"]
    for model in MESSAGE_TYPES:
        payload = _resolve(document, messages[model.__name__]["payload"]["$ref"])
        assert set(payload["properties"]) == set(model.model_fields)
        channel = next(c for c in document["channels"].values() if c["address"] == model.TOPIC)
        assert model.__name__ in channel["messages"]

    # what a producer needs to send a cancel command
    command = _resolve(document, "#/components/schemas/CancelFlowRun")
    assert command["required"] == ["flow_run_id"]
    assert command["properties"]["schema_name"]["const"] == "cancelbus.CancelFlowRun"
    assert "state.receive.commands" in document["operations"]
