"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright for web UI tests.

`web_browser` is one browser per test module; `open_browser_page(url)` opens a fresh context and
page that records console errors and uncaught page errors (any fails the test) and saves a numbered
screenshot per step under test-artifacts/<test>/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.peers import require_peer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-extensions",
    "--metrics-recording-only", "--no-default-browser-check",
]
STEP_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def web_browser() -> Iterator[Any]:
    """One headless Chromium per test module (never downloads a browser).

    Module scope: Playwright's sync API owns an event loop while it runs, so it is stopped
    before the next module's tests (which may run their own loops) start.
    """
    require_peer(shutil.which(CHROMIUM) is not None, f"Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - peer
    except ImportError:
        require_peer(False, "the playwright package")
        raise
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class BrowserPage:
    """A page plus its console-error record and step screenshots."""

    page: Any
    context: Any
    artifacts: Path
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    steps: int = 0

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (a failure the test provokes on purpose)."""
        self.allowed.append(re.compile(pattern))

    def record(self, text: str) -> None:
        """Remember a console or page error unless it was expected."""
        if not any(p.search(text) for p in self.allowed):
            self.errors.append(text)

    def assert_no_errors(self) -> None:
        """Fail with every unexpected console or page error seen so far."""
        assert not self.errors, "browser reported errors:\n" + "\n".join(self.errors)

    def shot(self, name: str) -> Path:
        """Save a screenshot of this step and check that the page logged no errors."""
        self.steps += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
        path = self.artifacts / f"{self.steps:02d}-{safe}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.assert_no_errors()
        return path


def open_page(browser: Any, artifacts: Path, base_url: str) -> BrowserPage:
    """A fresh context (own cookies) and page with error recording."""
    context = browser.new_context(base_url=base_url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 860})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    wrapped = BrowserPage(page=page, context=context, artifacts=artifacts)

    def on_console(message: Any) -> None:
        if message.type in ("error", "assert"):
            location = message.location or {}
            wrapped.record(f"console {message.type}: {message.text} ({location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: wrapped.record(f"page error: {error}"))
    return wrapped


@pytest.fixture
def open_browser_page(web_browser: Any,
                      artifacts_dir: Path) -> Iterator[Callable[[str], BrowserPage]]:
    """Open pages on a server URL; each is checked for errors and closed after the test."""
    pages: list[BrowserPage] = []

    def open_one(base_url: str) -> BrowserPage:
        wrapped = open_page(web_browser, artifacts_dir, base_url)
        pages.append(wrapped)
        return wrapped

    yield open_one
    for wrapped in pages:
        wrapped.context.close()
    for wrapped in pages:
        wrapped.assert_no_errors()
