"""Browser fixtures: the test app served on a local port, and Debian's Chromium via Playwright.

Playwright's own browser download is never used (no `playwright install`): the system
Chromium is launched instead; without it these tests fail and say what to install
(`make test` installs it on Debian/Ubuntu).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from abacus.extensions import db

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # screenshots for review
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """`app` on 127.0.0.1 (a free port), threaded like a real deployment: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def serve_other(app: Flask) -> Iterator[str]:
    """serve() for an app a test built with other settings; its database engine is closed
    afterwards (the session's app keeps its own)."""
    try:
        with serve(app) as url:
            yield url
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The session's app, served."""
    with serve(app) as url:
        yield url


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
    context = browser.new_context(viewport=DESKTOP)
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


def shoot(page, name: str) -> None:
    """A full-page screenshot, tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def shoot_views(page, name: str, dark: bool = True) -> None:
    """<name>.png, <name>-phone.png at a phone's width and, with `dark`, <name>-dark.png in
    the dark colour scheme (which stays on)."""
    shoot(page, name)
    page.set_viewport_size(PHONE)
    shoot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)
    if dark:
        page.emulate_media(color_scheme="dark")
        shoot(page, f"{name}-dark")


def dev_sign_in(page, base: str, then: str = "/", email: str = "admin@example.com") -> None:
    """Sign in with the development sign-in form, which then opens `then`."""
    page.goto(base + "/auth/dev-login" + (f"?next={then}" if then != "/" else ""))
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + then)


def sign_in_from(page, base: str, path: str, email: str = "admin@example.com") -> None:
    """Open `path` signed out, which leads to the sign-in page; its development sign-in
    comes back to `path`."""
    page.goto(base + path)
    page.get_by_role("link", name="Continue with development sign-in").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + path)
