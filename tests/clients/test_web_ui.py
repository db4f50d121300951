"""The web UI in a real headless Chromium (Debian's, driven by Playwright): log in with the
token, open a running process run, click Cancel, confirm, and watch it become CANCELLED live.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.client import Completed, SyncCancelbusClient
from tests.clients.launched import launched
from tests.clients.stack import LiveStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOKEN = "ui-s3cret"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveStack]:
    stack = LiveStack(tmp_path, api_token=TOKEN).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_nothing_is_served_to_a_browser_without_the_token(guarded: LiveStack) -> None:
    for path in ("/runs", "/runs/flow-run/" + str(uuid.uuid4()), "/ui/static/run.js"):
        answer = httpx.get(guarded.url + path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    assert httpx.get(guarded.api_url + "/flow_runs/cancelling").status_code == 401
    login = httpx.get(guarded.url + "/login")
    assert login.status_code == 200
    assert "API token" in login.text
    assert "http" not in login.text.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_cancel_button_cancels_a_running_process_live(
    guarded: LiveStack, page: Page, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    with launched(guarded, tag, tmp_path, name="nightly-etl") as launch:
        detail = f"{guarded.url}/runs/flow-run/{launch.run.id}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(detail)
        expect(page).to_have_url(f"{guarded.url}/login?next=/runs/flow-run/{launch.run.id}")
        page.fill("#token", "wrong")
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_be_visible()
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        expect(page).to_have_url(detail)

        expect(page.locator("#run-name")).to_have_text("nightly-etl")
        expect(page.locator("#run-state")).to_have_text("RUNNING")
        expect(page.locator("#live")).to_have_text("● live")
        button = page.locator("#cancel-button")
        expect(button).to_be_enabled()
        box, viewport = button.bounding_box(), page.viewport_size
        assert box is not None
        assert viewport is not None
        assert box["x"] > viewport["width"] * 0.6  # upper right
        assert box["y"] < 200

        page.screenshot(path=str(ARTIFACTS / "ui-run-running.png"))
        page.evaluate("window.notReloaded = true")
        button.click()
        expect(page.locator("#confirm-cancel")).to_be_visible()
        page.fill("#cancel-reason", "wrong input data")
        page.screenshot(path=str(ARTIFACTS / "ui-run-confirm.png"))
        page.click("#confirm-button")
        expect(page.locator("#run-state")).to_have_text("CANCELLED", timeout=60_000)
        expect(button).to_be_hidden()
        assert page.evaluate("window.notReloaded") is True  # live, not a reload
        attempts = page.locator("#attempts tr")
        expect(attempts).to_have_count(1)
        for text in ("web ui", "wrong input data", "process-worker-1", "cancelled"):
            expect(attempts.first).to_contain_text(text)
        expect(page.locator("#timeline li")).to_have_count(
            4
        )  # pending, running, cancelling, cancelled
        page.screenshot(path=str(ARTIFACTS / "ui-run-cancelled.png"), full_page=True)

        assert launch.launcher.wait(30) == 130
        assert launch.process_gone()


def test_runs_list_filters_and_updates_live(guarded: LiveStack, page: Page, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    with SyncCancelbusClient(guarded.api_url, api_token=TOKEN) as client:
        client.create_flow_run("old-report", tags=[tag], state=Completed())
    with launched(guarded, tag, tmp_path, name="nightly-etl") as launch:
        page.goto(f"{guarded.url}/login?next=/runs")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        expect(page.locator("#runs tr")).to_have_count(2)
        page.click("button.chip[data-state=RUNNING]")
        expect(page).to_have_url(f"{guarded.url}/runs?state=RUNNING")
        row = page.locator(f"tr[data-run-id='{launch.run.id}']")
        expect(page.locator("#runs tr")).to_have_count(1)
        expect(row).to_contain_text("RUNNING")
        page.click("button.chip[data-state=RUNNING]")
        page.click("button.chip[data-state=CANCELLED]")
        expect(page.locator("#empty")).to_be_visible()

        with SyncCancelbusClient(guarded.api_url, api_token=TOKEN) as client:
            client.cancel(launch.run.id, reason="from elsewhere", grace_seconds=5)
        expect(row).to_contain_text("CANCELLED", timeout=60_000)  # appears without a reload
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-runs.png"), full_page=True)
