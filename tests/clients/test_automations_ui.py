"""The automations page and the run page's "who cancelled it" in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas.automations import AutomationCreate
from services.client import Running, SyncCancelbusClient
from tests.clients.firings import fire, kept
from tests.clients.stack import LiveStack
from tests.clients.test_web_ui import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.state.automation_bodies import rule


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_automations_page_lists_rules_and_pauses_one(stack: LiveStack, page: Page) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        guard = client.create_automation(AutomationCreate.model_validate(rule("cancel-etl")))
        client.create_automation(AutomationCreate.model_validate(rule("nightly", enabled=False)))

    page.goto(f"{stack.url}/runs")
    page.click("nav >> text=Automations")
    expect(page).to_have_url(f"{stack.url}/automations")
    rows = page.locator("#automations tr")
    expect(rows).to_have_count(2)
    row = page.locator(f"tr[data-automation-id='{guard.id}']")
    expect(row).to_contain_text("Reactive: 1 of prefect.flow-run.Running")
    expect(row).to_contain_text("Cancel the flow run")
    expect(row).to_contain_text("none yet")
    switch = row.locator("input[role=switch]")
    expect(switch).to_be_checked()
    expect(rows.nth(1).locator("input[role=switch]")).not_to_be_checked()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-automations.png"), full_page=True)

    switch.click()
    expect(row.locator(".switch-label")).to_have_text("paused")
    expect(switch).to_be_enabled()  # the PATCH has been answered
    with SyncCancelbusClient(stack.api_url) as client:
        assert not client.read_automation(guard.id).enabled
    page.reload()
    expect(
        page.locator(f"tr[data-automation-id='{guard.id}'] input[role=switch]")
    ).not_to_be_checked()

    page.click(f"tr[data-automation-id='{guard.id}'] >> text=cancel-etl")
    expect(page).to_have_url(f"{stack.url}/automations/{guard.id}")
    expect(page.locator("#automation-name")).to_have_text("cancel-etl")
    expect(page.locator("#no-firings")).to_be_visible()
    expect(page.locator("#trigger")).to_contain_text("prefect.flow-run.Running")


def test_a_firing_shows_on_the_automation_and_on_the_run_it_cancelled(
    stack: LiveStack, page: Page
) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        guard = client.create_automation(AutomationCreate.model_validate(rule("cancel-etl")))
        # no worker serves "elsewhere": the runs stay CANCELLING, their attempts pending
        parent = client.create_flow_run(
            "nightly-parent", state=Running(), infrastructure_pid="elsewhere:1"
        )
        child = client.create_flow_run(
            "nightly-child", state=Running(), infrastructure_pid="elsewhere:2"
        )
        fire(stack, guard.id, parent.id)  # the rule cancels the parent...
        kept(client, guard.id, 1)
        client.cancel(child.id, requested_by=f"cascade:{parent.id}")  # ...and the cascade its child

    page.goto(f"{stack.url}/automations")
    last = page.locator(f"tr[data-automation-id='{guard.id}'] .last-firings li")
    expect(last).to_have_count(1)
    expect(last).to_contain_text("acted")
    expect(last.locator("a")).to_have_attribute("href", f"/runs/flow-run/{parent.id}")

    page.goto(f"{stack.url}/runs/flow-run/{child.id}")
    cascade = page.locator("#attempts a.requester")
    expect(cascade).to_have_text("cascade from nightly-parent")
    expect(page.locator("#cancelled-by")).to_contain_text("cascade from nightly-parent")
    cascade.click()
    expect(page).to_have_url(f"{stack.url}/runs/flow-run/{parent.id}")

    by = page.locator("#cancelled-by a")
    expect(by).to_have_text("automation cancel-etl")
    expect(page.locator("#attempts")).to_contain_text(f"Cancelled by Automation {guard.id}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-run-by-automation.png"), full_page=True)
    by.click()
    expect(page).to_have_url(f"{stack.url}/automations/{guard.id}")
    expect(page.locator("#automation-name")).to_have_text("cancel-etl")
    firing = page.locator("#firings tr")
    expect(firing).to_have_count(1)
    expect(firing).to_contain_text("0: cancel-flow-run")
    expect(firing).to_contain_text("acted")
    expect(page.locator("#no-firings")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "ui-automation.png"), full_page=True)

    with SyncCancelbusClient(stack.api_url) as client:
        client.delete_automation(guard.id)
    page.goto(f"{stack.url}/runs/flow-run/{parent.id}")
    deleted = f"automation {str(guard.id)[:8]} (deleted)"
    expect(page.locator("#cancelled-by a")).to_have_text(deleted)


def test_a_cascaded_child_names_its_parent(stack: LiveStack, page: Page) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        parent = client.create_flow_run(
            "nightly-parent", state=Running(), infrastructure_pid="elsewhere:1"
        )
        created = httpx.post(
            f"{stack.api_url}/flow_runs/",
            json={
                "name": "nightly-child",
                "state": {"type": "RUNNING"},
                "infrastructure_pid": "elsewhere:2",
                "parent_flow_run_id": str(parent.id),
            },
        )
        assert created.status_code == 201, created.text
        child_id = created.json()["id"]
        client.cancel(parent.id, reason="stop the night")  # the cascade cancels the child

    page.goto(f"{stack.url}/runs/flow-run/{child_id}")
    expect(page.locator("#cancelled-by")).to_contain_text("cascade from nightly-parent")
    link = page.locator(f"#facts a[data-run-id='{parent.id}']")
    expect(link).to_have_text("nightly-parent")
    link.click()
    expect(page).to_have_url(f"{stack.url}/runs/flow-run/{parent.id}")
