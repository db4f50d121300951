"""The files `cancelbus automation create -f` reads are the ones `prefect automation create`
reads: one automation, a list, or `{"automations": [...]}`, in YAML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from services.cli.automation_files import FileRefused, read_file
from tests.state.automation_bodies import compound_rule, rule


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("one.yaml", yaml.safe_dump(rule("a"))),
        ("list.yml", yaml.safe_dump([rule("a"), compound_rule("b")])),
        ("wrapped.json", json.dumps({"automations": [rule("a"), compound_rule("b")]})),
    ],
)
def test_every_shape_prefect_reads(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    parsed = read_file(path)
    assert [p.automation.name for p in parsed if p.automation] == ["a", "b"][: len(parsed)]
    assert all(p.problem is None for p in parsed)


def test_a_bad_entry_is_named_by_its_name_or_position(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump([rule("good"), {"trigger": {}}, "text"]))
    good, nameless, text = read_file(path)
    assert good.automation is not None
    assert nameless.label == "automation #2"
    assert nameless.problem is not None
    assert "name: Field required" in nameless.problem
    assert (text.label, text.problem) == ("automation #3", "expected an object, got str")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("rules.txt", "{}", "use a .yaml, .yml or .json file"),
        ("rules.json", "{not json", "is not valid JSON"),
        ("rules.yaml", "[]", "holds no automation"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, content: str, reason: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FileRefused, match=reason):
        read_file(path)
