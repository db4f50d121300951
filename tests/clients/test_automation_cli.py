"""`cancelbus automation` as a user types it, against the live state service."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import yaml

from services.client import Running, SyncCancelbusClient
from services.localinfra.service_process import CANCELBUS
from tests.clients.firings import fire, kept
from tests.clients.stack import LiveStack
from tests.state.automation_bodies import compound_rule, rule


def cli(*args: str, api_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CANCELBUS_API_URL": api_url}
    return subprocess.run(
        [CANCELBUS, "automation", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_create_from_prefect_files_then_list_inspect_pause_resume_delete(
    stack: LiveStack, tmp_path: Path
) -> None:
    bad = rule("no-posture")
    del bad["trigger"]["posture"]
    listed = tmp_path / "rules.yaml"
    listed.write_text(yaml.safe_dump({"automations": [rule("cancel-etl"), bad]}))
    created = cli("create", "-f", str(listed), api_url=stack.api_url)
    assert created.returncode == 1  # one was refused
    assert "Created automation 'cancel-etl' with id" in created.stdout
    assert "'no-posture' is not a valid automation: trigger.event.posture: Field required" in (
        created.stderr
    )
    one = tmp_path / "one.json"
    one.write_text(json.dumps(compound_rule("failed-then-crashed")))
    assert cli("create", "--from-file", str(one), api_url=stack.api_url).returncode == 0

    shown = cli("ls", api_url=stack.api_url)
    assert shown.returncode == 0, shown.stderr
    assert "cancel-etl" in shown.stdout
    assert "Reactive: 1 of prefect.flow-run.Running" in shown.stdout
    assert "Compound: all of 2" in shown.stdout
    as_json = json.loads(cli("ls", "--json", api_url=stack.api_url).stdout)
    assert [a["name"] for a in as_json] == ["cancel-etl", "failed-then-crashed"]
    automation_id = as_json[0]["id"]

    inspected = cli("inspect", "cancel-etl", api_url=stack.api_url)
    assert inspected.returncode == 0, inspected.stderr
    assert automation_id in inspected.stdout
    assert "Cancel the flow run" in inspected.stdout
    inspect_json = cli("inspect", "--id", automation_id, "-o", "json", api_url=stack.api_url)
    by_id = json.loads(inspect_json.stdout)
    assert by_id["automation"]["name"] == "cancel-etl"
    assert by_id["firings"] == []
    by_name = json.loads(cli("inspect", "cancel-etl", "--json", api_url=stack.api_url).stdout)
    assert [view["automation"]["id"] for view in by_name] == [automation_id]  # one per name

    paused = cli("pause", "cancel-etl", api_url=stack.api_url)
    assert paused.returncode == 0, paused.stderr
    assert f"Paused automation 'cancel-etl' ({automation_id})" in paused.stdout
    with SyncCancelbusClient(stack.api_url) as client:
        assert not client.read_automation(uuid.UUID(automation_id)).enabled
    assert "paused" in cli("inspect", "cancel-etl", api_url=stack.api_url).stdout
    assert cli("resume", "--id", automation_id, api_url=stack.api_url).returncode == 0
    with SyncCancelbusClient(stack.api_url) as client:
        assert client.read_automation(uuid.UUID(automation_id)).enabled

    deleted = cli("delete", "cancel-etl", api_url=stack.api_url)
    assert deleted.returncode == 0, deleted.stderr
    assert f"Deleted automation 'cancel-etl' ({automation_id})" in deleted.stdout
    names = [a["name"] for a in json.loads(cli("ls", "-o", "json", api_url=stack.api_url).stdout)]
    assert names == ["failed-then-crashed"]


def test_mistakes_get_one_readable_line_and_an_exit_code(stack: LiveStack, tmp_path: Path) -> None:
    missing = cli("inspect", "nobody", api_url=stack.api_url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "error: no automation is named 'nobody' (you can also give --id)"
    )
    unknown = uuid.uuid4()
    by_id = cli("pause", "--id", str(unknown), api_url=stack.api_url)
    assert (by_id.returncode, by_id.stderr.strip()) == (1, f"error: automation {unknown} not found")
    assert cli("delete", api_url=stack.api_url).returncode == 2  # neither a name nor --id
    assert cli("ls", "--output", "yaml", api_url=stack.api_url).returncode == 2

    absent = cli("create", "-f", str(tmp_path / "absent.yaml"), api_url=stack.api_url)
    assert (absent.returncode, absent.stderr.strip()) == (
        2,
        f"error: file not found: {tmp_path / 'absent.yaml'}",
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    not_yaml = cli("create", "-f", str(broken), api_url=stack.api_url)
    assert not_yaml.returncode == 2
    assert "is not valid YAML" in not_yaml.stderr
    extra = cli("create", "-j", json.dumps(rule("x", colour="red")), api_url=stack.api_url)
    assert extra.returncode == 1
    assert "colour: Extra inputs are not permitted" in extra.stderr

    for name in ("twin", "twin"):
        assert cli("create", "-j", json.dumps(rule(name)), api_url=stack.api_url).returncode == 0
    ambiguous = cli("delete", "twin", api_url=stack.api_url)
    assert ambiguous.returncode == 1
    assert "2 automations are named 'twin'" in ambiguous.stderr
    both = cli("pause", "twin", "--yes", api_url=stack.api_url)  # both, as asked
    assert both.returncode == 0, both.stderr
    with SyncCancelbusClient(stack.api_url) as client:
        assert [a.enabled for a in client.read_automations_by_name("twin")] == [False, False]

    down = cli("ls", api_url="http://127.0.0.1:9/api")
    assert down.returncode == 1
    assert down.stderr.startswith("error: cannot connect to http://127.0.0.1:9/api")


def test_dry_run_lists_the_runs_a_rule_would_cancel_and_inspect_shows_firings(
    stack: LiveStack, tmp_path: Path
) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        # no worker serves "elsewhere": a cancelled run stays CANCELLING
        etl = client.create_flow_run(
            "etl-nightly", tags=["etl"], state=Running(), infrastructure_pid="elsewhere:1"
        )
        client.create_flow_run("report", state=Running(), infrastructure_pid="elsewhere:2")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump([rule("cancel-etl")]))

    dry = cli("create", "-f", str(rules), "--dry-run", api_url=stack.api_url)
    assert dry.returncode == 0, dry.stderr
    assert "'cancel-etl' would act on 1 run(s) now:" in dry.stdout
    assert "etl-nightly" in dry.stdout
    assert "report" not in dry.stdout
    previewed = cli("preview", "-f", str(rules), "--json", api_url=stack.api_url)
    assert previewed.returncode == 0, previewed.stderr
    as_json = json.loads(previewed.stdout)
    assert [(p["name"], p["flow_run_ids"], p["matched"]) for p in as_json] == [
        ("cancel-etl", [str(etl.id)], 1)
    ]
    with SyncCancelbusClient(stack.api_url) as client:
        assert client.read_automations() == []  # a dry run creates nothing

    assert cli("create", "-f", str(rules), api_url=stack.api_url).returncode == 0
    stored = cli("preview", "cancel-etl", api_url=stack.api_url)
    assert stored.returncode == 0, stored.stderr
    assert "'cancel-etl' would act on 1 run(s) now:" in stored.stdout
    with SyncCancelbusClient(stack.api_url) as client:
        [guard] = client.read_automations_by_name("cancel-etl")
        fire(stack, guard.id, etl.id)
        kept(client, guard.id, 1)

    inspected = cli("inspect", "cancel-etl", api_url=stack.api_url)
    assert inspected.returncode == 0, inspected.stderr
    assert "Last firings" in inspected.stdout
    assert str(etl.id) in inspected.stdout
    assert "acted" in inspected.stdout
    after = cli("preview", "--id", str(guard.id), api_url=stack.api_url)
    assert after.stdout.strip() == "'cancel-etl' would act on no run now."
