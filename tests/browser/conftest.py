"""Browser fixtures: the test app served on a local port, and Debian's Chromium via Playwright.

Playwright's own browser download is never used (no `playwright install`): the system
Chromium is launched instead; without it these tests fail and say what to install
(`make test` installs it on Debian/Ubuntu).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The session's app on 127.0.0.1 (a free port), threaded like a real deployment."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright import sync_api

    executable = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                       "google-chrome"))), None)
    if executable is None:
        pytest.fail("the browser tests need Chromium: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True,
                                     args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh context per test that records console errors and failed requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("console",
                lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
    new_page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    new_page.on("requestfailed",
                lambda req: problems.append(f"request failed: {req.method} {req.url} "
                                            f"({req.failure})"))
    new_page.problems = problems  # type: ignore[attr-defined]
    yield new_page
    context.close()


def settled(page) -> None:
    """Wait until htmx has finished swapping and settling (a boosted link pushes the new URL
    before the new content's hx- attributes are live; acting in between is lost)."""
    page.wait_for_function("() => window.htmx && !document.querySelector("
                           "'.htmx-request, .htmx-swapping, .htmx-settling')")
