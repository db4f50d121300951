"""`prefect automation …` of the unmodified prefect 3.9.1 against a `cancelbus state` process:
what a user sees, and what the API then holds."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.localinfra.service_process import StateProcess
from tests.clients.prefect_cli import prefect
from tests.state.automation_bodies import compound_rule, rule

# building the prefect environment on a cold machine takes minutes; once cached, seconds
pytestmark = pytest.mark.timeout(900)


class Cli:
    def __init__(self, bin_dir: Path, state: StateProcess, home: Path) -> None:
        self.bin_dir, self.api, self.home = bin_dir, state.api_url, home

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return prefect(self.bin_dir, self.api, self.home, "prefect", "--no-prompt", *args)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def automations(self) -> dict[str, dict[str, Any]]:
        """Every automation the API holds, by name."""
        listed = httpx.post(f"{self.api}/automations/filter", json={}).json()
        return {a["name"]: a for a in listed}


@pytest.fixture
def cli(prefect_bin: Path, state_process: StateProcess, tmp_path: Path) -> Cli:
    return Cli(prefect_bin, state_process, tmp_path)


def write(path: Path, data: Any) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data))
    return path


def test_create_from_yaml_and_json_files_in_each_shape(cli: Cli, tmp_path: Path) -> None:
    one = write(tmp_path / "one.yaml", rule("from-yaml"))
    out = cli.ok("automation", "create", "--from-file", str(one))
    made = cli.automations()
    assert out.strip() == f"Created automation 'from-yaml' with id {made['from-yaml']['id']}"

    cli.ok("automation", "create", "-f", str(write(tmp_path / "one.json", rule("from-json"))))
    listed = write(tmp_path / "list.json", [rule("list-1"), compound_rule("list-2")])
    out = cli.ok("automation", "create", "--from-file", str(listed))
    assert "Created 2 automation(s):" in out
    wrapped = write(tmp_path / "wrapped.yml", {"automations": [rule("wrapped-1")]})
    cli.ok("automation", "create", "--from-file", str(wrapped))

    made = cli.automations()
    assert set(made) == {"from-yaml", "from-json", "list-1", "list-2", "wrapped-1"}
    assert f"'list-2' with id {made['list-2']['id']}" in out
    assert made["from-yaml"]["trigger"]["expect"] == ["prefect.flow-run.Running"]
    assert made["from-yaml"]["tags"] == ["etl"]
    compound = made["list-2"]["trigger"]
    assert (compound["type"], compound["require"], compound["within"]) == ("compound", "all", 60.0)
    assert made["list-2"]["actions"] == [
        {
            "type": "change-flow-run-state",
            "state": "CANCELLED",
            "name": None,
            "message": "stop",
            "force": False,
        }
    ]


def test_create_says_which_rules_were_refused_and_why(cli: Cli, tmp_path: Path) -> None:
    notify = {"type": "send-notification", "block_document_id": str(uuid.uuid4()), "body": "b"}
    mixed = write(tmp_path / "mixed.yaml", [rule("good"), rule("notify", actions=[notify])])
    done = cli.run("automation", "create", "--from-file", str(mixed))
    assert done.returncode == 1
    assert "Failed to create 1 automation(s):" in done.stdout
    assert "- notify: Client error '422 Unprocessable Entity'" in done.stdout
    assert "unsupported action type 'send-notification'" in done.stdout
    assert "- 'good' with id" in done.stdout
    assert set(cli.automations()) == {"good"}


def test_ls_and_inspect_show_the_rules(cli: Cli, tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", [rule("cancel-etl"), compound_rule()])
    cli.ok("automation", "create", "--from-file", str(rules))
    made = cli.automations()

    listed = cli.ok("automation", "ls")
    for text in (
        "cancel-etl",
        made["cancel-etl"]["id"],
        "runs tagged etl are cancelled",
        "Reactive: expecting 1 of {'prefect.flow-run.Running'}",
        "Cancel flow run",
        "failed-then-crashed",
        "All of:",
        "Reactive: expecting 1 of {'prefect.flow-run.Crashed'}",
        "Change flow run state",
    ):
        assert text in listed

    shown = cli.ok("automation", "inspect", "cancel-etl")
    assert "name='cancel-etl'" in shown
    assert f"id='{made['cancel-etl']['id']}'" in shown
    assert "actions=[CancelFlowRun()]" in shown
    (as_json,) = json.loads(cli.ok("automation", "inspect", "cancel-etl", "-o", "json"))
    api_answer = {k: v for k, v in made["cancel-etl"].items() if k not in ("created", "updated")}
    del api_answer["trigger"]["id"]  # Prefect's client model keeps no trigger ids
    assert as_json == api_answer
    by_id = cli.ok("automation", "inspect", "--id", made["failed-then-crashed"]["id"], "--yaml")
    assert yaml.safe_load(by_id)["trigger"]["require"] == "all"

    unknown = str(uuid.uuid4())
    missing = cli.run("automation", "inspect", "--id", unknown)
    assert missing.returncode == 1
    assert f"Automation with id {unknown!r} not found." in missing.stdout
    nameless = cli.run("automation", "inspect", "no-such-rule")
    assert nameless.returncode == 1
    assert "Automation 'no-such-rule' not found." in nameless.stdout


def test_pause_resume_and_delete(cli: Cli, tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.json", [rule("nightly"), rule("hourly")])
    cli.ok("automation", "create", "--from-file", str(rules))
    ids = {name: a["id"] for name, a in cli.automations().items()}

    paused = cli.ok("automation", "pause", "nightly")
    assert paused.strip() == (
        f"Paused automation(s) with name 'nightly' and id(s) '{ids['nightly']}'."
    )
    assert {n: a["enabled"] for n, a in cli.automations().items()} == {
        "nightly": False,
        "hourly": True,
    }
    resumed = cli.ok("automation", "resume", "--id", ids["nightly"])
    assert resumed.strip() == f"Resumed automation with id '{ids['nightly']}'."
    assert cli.automations()["nightly"]["enabled"] is True
    cli.ok("automation", "disable", "--id", ids["hourly"])  # pause's other name
    assert cli.automations()["hourly"]["enabled"] is False

    deleted = cli.ok("automation", "delete", "nightly")
    assert deleted.strip() == "Deleted automation with name 'nightly'"
    assert httpx.get(f"{cli.api}/automations/{ids['nightly']}").status_code == 404
    by_id = cli.ok("automation", "delete", "--id", ids["hourly"])
    assert by_id.strip() == f"Deleted automation with id {ids['hourly']!r}"
    assert cli.automations() == {}

    again = cli.run("automation", "delete", "nightly")
    assert again.returncode == 1
    assert "Automation 'nightly' not found." in again.stdout
    # an unknown id: Prefect's own client raises on the 404 (as it does against Prefect)
    unknown = cli.run("automation", "delete", "--id", str(uuid.uuid4()))
    assert unknown.returncode == 1
    assert "404 Not Found" in unknown.stdout + unknown.stderr


def test_update_replaces_the_fields_in_the_file(cli: Cli, tmp_path: Path) -> None:
    cli.ok("automation", "create", "--from-file", str(write(tmp_path / "a.yaml", rule("etl"))))
    before = cli.automations()["etl"]
    changed = rule("etl-slow", trigger={**rule()["trigger"], "threshold": 2, "within": 300})
    del changed["description"]
    file = write(tmp_path / "changed.json", changed)
    out = cli.ok("automation", "update", "--id", before["id"], "--from-file", str(file))
    assert out.strip() == f"Updated automation 'etl-slow' ({before['id']})"
    after = cli.automations()["etl-slow"]
    assert after["id"] == before["id"]
    assert (after["trigger"]["threshold"], after["trigger"]["within"]) == (2, 300.0)
    assert after["trigger"]["id"] != before["trigger"]["id"]
    assert after["description"] == before["description"]  # not in the file: kept
