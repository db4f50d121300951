"""Automations from the files Prefect's CLI reads: YAML or JSON holding one automation, a list
of them, or `{"automations": [...]}`. Each is checked here, so a bad one is named before
anything is sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.automations import AutomationCreate

SUFFIXES = (".yaml", ".yml", ".json")


class FileRefused(Exception):
    """The file cannot be read as automations at all; `str()` is one line."""


@dataclass(frozen=True)
class Parsed:
    """One entry of the file: the automation, or why it is not one."""

    label: str  # its name, else its position
    automation: AutomationCreate | None
    problem: str | None = None


def read_file(path: Path) -> list[Parsed]:
    if not path.is_file():
        raise FileRefused(f"file not found: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise FileRefused(f"{path}: use a .yaml, .yml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRefused(f"cannot read {path}: {exc}") from None
    return read_text(text, json_only=path.suffix.lower() == ".json", source=str(path))


def read_text(text: str, *, json_only: bool, source: str) -> list[Parsed]:
    try:
        data = json.loads(text) if json_only else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "JSON" if json_only else "YAML"
        raise FileRefused(f"{source} is not valid {kind}: {first}") from None
    if isinstance(data, dict) and "automations" in data:
        data = data["automations"]
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise FileRefused(f"{source} holds no automation")
    return [parse(entry, index) for index, entry in enumerate(entries)]


def parse(entry: Any, index: int) -> Parsed:
    name = entry.get("name") if isinstance(entry, dict) else None
    label = repr(name) if isinstance(name, str) and name else f"automation #{index + 1}"
    if not isinstance(entry, dict):
        return Parsed(label, None, f"expected an object, got {type(entry).__name__}")
    try:
        return Parsed(label, AutomationCreate.model_validate(entry))
    except ValidationError as exc:
        return Parsed(label, None, validation_problem(exc))


def validation_problem(exc: ValidationError) -> str:
    """Pydantic's errors as `trigger.event.posture: Field required; ...`, one line."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
