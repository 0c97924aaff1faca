"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the deployed
end-to-end stack (shared with tests/e2e through tests/support/stacks.py).

Playwright never downloads a browser here: it launches /usr/bin/chromium, which the project's
install step (infra/bootstrap.sh) provides. Every test leaves screenshots at 1280 and 390 px
under .local/artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from stackctl import paths
from stackctl.stack import StackOutputs
from tests.support import stacks
from tests.support.e2e import Api, FunctionSettings

CHROMIUM = Path(os.environ.get("SHEETFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = paths.project_root() / ".local" / "artifacts" / "screenshots"
WIDE: ViewportSize = {"width": 1280, "height": 900}
NARROW: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def outputs(localstack_endpoint: str) -> StackOutputs:
    return stacks.e2e_stack()


@pytest.fixture(scope="session")
def api(outputs: StackOutputs) -> Api:
    return Api.for_stack(outputs)


@pytest.fixture(scope="session")
def function_settings(aws: Any) -> FunctionSettings:
    return FunctionSettings(aws("lambda"))


@pytest.fixture(scope="session")
def dashboard_url(outputs: StackOutputs, api: Api) -> str:
    """The page as `sheetflow dashboard` prints it: the API key in the URL fragment."""
    return f"{outputs.api_base_url}/dashboard#key={api.api_key}"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium package.")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


class Dashboard:
    """The page under test, with the few steps every test takes."""

    def __init__(self, page: Page, url: str, name: str) -> None:
        self.page, self.url, self.name = page, url, name
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self) -> Dashboard:
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-refreshed]")
        return self

    def row(self, filename: str) -> Any:
        return self.page.locator("#task-rows tr", has=self.page.get_by_title(filename, exact=True))

    def screenshot(self, label: str = "") -> list[Path]:
        """The full page at 1280 and at 390 px wide; the viewport is put back afterwards."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^a-z0-9]+", "-", f"{self.name} {label}".lower()).strip("-")
        original = self.page.viewport_size
        saved = []
        for size in (WIDE, NARROW):
            self.page.set_viewport_size(size)
            path = SCREENSHOTS / f"{stem}-{size['width']}.png"
            self.page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        if original:
            self.page.set_viewport_size(original)
        return saved


@pytest.fixture
def dashboard(
    browser: Browser, dashboard_url: str, request: pytest.FixtureRequest
) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    name = request.node.name.removeprefix("test_")
    view = Dashboard(page, dashboard_url, name)
    yield view
    context.close()
    # A script error on the page fails the test that caused it.
    assert view.errors == [], view.errors
