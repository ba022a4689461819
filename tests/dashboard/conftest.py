"""Fixtures for the dashboard's browser tests: the real API on a fresh database, a real worker
process and target (tests/conftest.py), and Debian's chromium driven by Playwright.

No browser is ever downloaded (`playwright install` does not work on these machines): the tests
use /usr/bin/chromium and FAIL, never skip, when it is missing, so that a CI image without it is
noticed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from tests.support.server import make_token

CHROMIUM = Path(os.environ.get("DASHBOARD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # required when the tests run as root (containers, CI)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


# Module scope, not session: sync Playwright keeps an event loop running on the main thread
# while it is open, and later test modules (pytest-asyncio, `asyncio.run`) need that thread free.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"the dashboard tests need Chromium at {CHROMIUM} (Debian: apt-get install "
            "chromium); set DASHBOARD_TEST_CHROMIUM to use another binary. They never download "
            "a browser.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def token(database_url: str) -> str:
    """An API token of tenant `acme`. Made on another thread: `make_token` runs its own event
    loop, and sync Playwright keeps one running on this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(make_token, database_url, "acme").result(timeout=30)


@dataclass
class PageLog:
    """What a page did besides rendering: every request it made, every answer >= 400, and
    every console error (a Content-Security-Policy violation shows up as one)."""

    requests: list[str] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (status, path)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, api_url: str) -> list[str]:
        origin = urlsplit(api_url).netloc
        return [url for url in self.requests if urlsplit(url).netloc != origin]

    def assert_clean(
        self, api_url: str, expected_failures: frozenset[tuple[int, str]] = frozenset()
    ) -> None:
        """Only the API's host was called, nothing failed but what the test provoked, and no
        console errors (CSP violations, uncaught exceptions)."""
        assert self.requests, "no requests were recorded"
        assert self.foreign_requests(api_url) == [], "the page called another host"
        assert set(self.failures) <= expected_failures, f"unexpected failures: {self.failures}"
        assert self.errors == [], "the page logged errors"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport=VIEWPORT, locale="en-GB", timezone_id="Europe/Paris", service_workers="block"
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(context: BrowserContext, page_log: PageLog) -> Page:
    page = context.new_page()
    page.on("request", lambda request: page_log.requests.append(request.url))
    _trace_api_calls(page)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            page_log.failures.append((response.status, urlsplit(response.url).path))

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every answer >= 400 as "Failed to load resource"; those are checked
        # through `failures` instead, where the test can say which ones it provoked.
        if message.type == "error" and "Failed to load resource" not in message.text:
            page_log.errors.append(message.text)

    page.on("response", on_response)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_log.errors.append(f"uncaught: {error}"))
    return page


def _trace_api_calls(page: Page) -> None:
    """Print each API call's start, answer or failure with its time, for the captured output
    of a failed test: a check on what the page shows after typing (the form's live preview)
    then tells whether the last request was sent, answered late, or aborted."""
    started = time.monotonic()

    def line(event: str, request: Request, detail: object = "") -> None:
        path = urlsplit(request.url).path
        if path.startswith("/api/"):
            at = time.monotonic() - started
            # Only the preview's body (a cron expression and a zone): other bodies may carry
            # an alert channel's secret or a signing key.
            body = (request.post_data or "")[:80] if path == "/api/schedules/preview" else ""
            print(f"{at:8.3f}s {event} {request.method} {path} {body} {detail}")

    page.on("request", lambda request: line("sent", request))
    page.on("requestfinished", lambda request: line("answered", request))
    page.on("requestfailed", lambda request: line("failed", request, request.failure))


@pytest.fixture
def logged_in(page: Page, api_url: str, token: str) -> Page:
    """The page, logged in through the login form."""
    page.goto(f"{api_url}/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{api_url}/")
    return page
