"""Every page with demo data, in Chromium: it renders, changes range, works on a phone and in
dark mode, without a console error or a failed request. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

from abacus.demo.seed import seed_demo

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

# (endpoint, path, screenshot name, text the page must show)
PAGES = [
    ("dashboard.index", "/", "overview", "Month-end projection"),
    ("team.index", "/team", "team-demo", "Team"),
    ("usage.index", "/usage", "usage-demo", "Usage"),
    ("commits.index", "/commits", "commits-demo", "Commits"),
    ("status.index", "/status", "status-demo", "Status"),
    ("admin.index", "/admin", "admin-demo", "Admin"),
]


def sign_in_as_admin(page, live_server: str) -> None:
    page.goto(live_server + "/auth/dev-login")
    page.get_by_label("E-mail").fill("admin@example.com")  # in ABACUS_ADMINS of the test app
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")


def test_every_page_with_demo_data(app, live_server, page):
    with app.app_context():
        seed_demo(people=12, days=60, seed=3)
    sign_in_as_admin(page, live_server)
    ARTIFACTS.mkdir(exist_ok=True)

    # Overview: cards, chart, a range change and the chart metric switch (an htmx swap).
    page.get_by_role("link", name="90d").click()
    page.wait_for_url(live_server + "/?days=90")
    page.get_by_text("Daily tokens by tool").wait_for()
    page.get_by_role("link", name="Cost", exact=True).click()
    page.get_by_text("Daily cost by tool").wait_for()
    assert "metric=cost" in page.url
    page.get_by_text("Data table").click()  # the chart's exact numbers are one click away
    assert page.locator("#daily-chart table tbody tr").count() == 90

    for endpoint, path, name, must_show in PAGES:
        if endpoint not in app.view_functions:
            continue  # a page another step adds
        page.goto(live_server + path + "?days=30")
        page.get_by_role("heading", name=must_show, exact=False).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    page.goto(live_server + "/?days=30")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "overview-dark.png"), full_page=True)
    assert page.problems == []
