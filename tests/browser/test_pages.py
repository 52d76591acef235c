"""Every page with demo data, in Chromium: it renders, changes range, works on a phone and in
dark mode, without a console error or a failed request. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from abacus.demo.seed import seed_demo
from tests.browser.conftest import dev_sign_in, shoot, shoot_views

# (endpoint, path, screenshot name, text the page must show)
PAGES = [
    ("dashboard.index", "/", "overview", "Month-end projection"),
    ("team.index", "/team", "team-demo", "Team"),
    ("usage.index", "/usage", "usage-demo", "Usage"),
    ("commits.index", "/commits", "commits-demo", "Commits"),
    ("status.index", "/status", "status-demo", "Status"),
    ("admin.index", "/admin", "admin-demo", "Admin"),
]


def test_every_page_with_demo_data(app, live_server, page):
    with app.app_context():
        seed_demo(people=12, days=60, seed=3)
    dev_sign_in(page, live_server)  # admin@example.com: in ABACUS_ADMINS of the test app

    # Overview: cards, chart, a range change and the chart metric switch (an htmx swap).
    page.get_by_role("link", name="90d").click()
    page.wait_for_url(live_server + "/?days=90")
    page.get_by_text("Daily tokens by tool").wait_for()
    page.get_by_role("link", name="Cost", exact=True).click()
    page.get_by_text("Daily cost by tool").wait_for()
    assert "metric=cost" in page.url
    page.get_by_text("Data table").click()  # the chart's exact numbers are one click away
    assert page.locator("#daily-chart table tbody tr").count() == 90

    # A year draws a column per week (Monday to Sunday), the data table too, on a phone as well.
    page.get_by_role("link", name="1y").click()
    page.wait_for_url(live_server + "/?days=365")
    page.get_by_text("Weekly tokens by tool").wait_for()
    assert 52 <= page.locator("#daily-chart svg.chart-svg g.col").count() <= 54
    page.get_by_text("Data table").click()
    assert page.locator("#daily-chart table thead th").first.text_content() == "Week of"
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, "overview-year-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    for endpoint, path, name, must_show in PAGES:
        if endpoint not in app.view_functions:
            continue  # a page another step adds
        page.goto(live_server + path + "?days=30")
        page.get_by_role("heading", name=must_show, exact=False).first.wait_for()
        shoot(page, name)

    page.goto(live_server + "/?days=30")
    shoot_views(page, "overview")
    assert page.problems == []
